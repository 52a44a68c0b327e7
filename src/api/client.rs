//! A typed client of the facade, on the same contract types the server uses: a change
//! to a request or response type changes both ends at once.
//!
//! [`ApiClient::call`] calls any route of the route table by its operation id, so a new
//! route is callable as soon as it is in the table; the typed methods are that call with
//! each route's request and response types.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::contract::*;
use super::routes::{Method, ROUTES, Route};

/// The body of a call that sends none.
const NO_BODY: Option<&()> = None;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The facade answered with an error: its status and `{"error"}` message.
    #[error("{status}: {error}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error message.
        error: String,
    },
    /// The facade could not be reached.
    #[error("cannot reach the facade: {0}")]
    Transport(String),
    /// The facade answered 2xx with a body this client cannot read.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// The call names no route of the table, or not the path parameters of its route.
    #[error("no such call: {0}")]
    Route(String),
}

impl ClientError {
    /// The HTTP status, for an error the facade answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of the facade at one base URL, signed in or not. `Debug` shows whether it
/// is signed in, never the token.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("signed_in", &self.token.is_some())
            .finish()
    }
}

impl ApiClient {
    /// The bearer token this client sends, if signed in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A client of the facade at `base` (`http://localhost:3001`).
    pub fn new(base: &str) -> Self {
        crate::tls::install_crypto_provider();
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// The same client, sending `token` as its bearer token.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// Calls the route of the table whose operation id is `operation_id`
    /// (`getInstancesById`), with `path_params` filling its path's parameters in order
    /// (as given, unescaped) and `body`, if any, sent as JSON (`None::<&()>` for none).
    /// Returns the answer decoded as `T`; `serde_json::Value` reads any JSON answer.
    pub async fn call<B, T>(
        &self,
        operation_id: &str,
        path_params: &[&str],
        body: Option<&B>,
    ) -> Result<T, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let route = ROUTES
            .iter()
            .find(|route| route.operation_id() == operation_id)
            .ok_or_else(|| {
                ClientError::Route(format!("no route has operation id {operation_id}"))
            })?;
        let path = fill_path(route, path_params)?;
        let method = match route.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            let error = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Api {
                status: status.as_u16(),
                error,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /health`
    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        self.call("getHealth", &[], NO_BODY).await
    }

    /// `GET /ready`
    pub async fn ready(&self) -> Result<ReadyResponse, ClientError> {
        self.call("getReady", &[], NO_BODY).await
    }

    /// `POST /auth/register`
    pub async fn register(&self, body: &RegisterRequest) -> Result<TokenResponse, ClientError> {
        self.call("postAuthRegister", &[], Some(body)).await
    }

    /// `POST /auth/login`
    pub async fn login(&self, body: &LoginRequest) -> Result<TokenResponse, ClientError> {
        self.call("postAuthLogin", &[], Some(body)).await
    }

    /// `GET /auth/me`
    pub async fn me(&self) -> Result<User, ClientError> {
        self.call("getAuthMe", &[], NO_BODY).await
    }

    /// `PATCH /auth/profile`
    pub async fn update_profile(&self, body: &UpdateProfileRequest) -> Result<User, ClientError> {
        self.call("patchAuthProfile", &[], Some(body)).await
    }

    /// `PATCH /auth/password`
    pub async fn update_password(
        &self,
        body: &UpdatePasswordRequest,
    ) -> Result<MessageResponse, ClientError> {
        self.call("patchAuthPassword", &[], Some(body)).await
    }

    /// `POST /auth/logout-all`
    pub async fn logout_all(&self) -> Result<MessageResponse, ClientError> {
        self.call("postAuthLogoutAll", &[], NO_BODY).await
    }

    /// `DELETE /auth/account`, with the password of an account that has one.
    pub async fn delete_account(
        &self,
        body: &DeleteAccountRequest,
    ) -> Result<MessageResponse, ClientError> {
        self.call("deleteAuthAccount", &[], Some(body)).await
    }

    /// `POST /instances/validate-telegram-token`
    pub async fn validate_telegram_token(
        &self,
        body: &ValidateTelegramTokenRequest,
    ) -> Result<ValidateTelegramTokenResponse, ClientError> {
        self.call("postInstancesValidateTelegramToken", &[], Some(body))
            .await
    }

    /// `POST /instances`
    pub async fn create_instance(
        &self,
        body: &CreateInstanceRequest,
    ) -> Result<InstanceResponse, ClientError> {
        self.call("postInstances", &[], Some(body)).await
    }

    /// `GET /instances`
    pub async fn list_instances(&self) -> Result<InstanceList, ClientError> {
        self.call("getInstances", &[], NO_BODY).await
    }

    /// `GET /instances/{id}` (any text as the id, as old links may carry).
    pub async fn get_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.call("getInstancesById", &[id], NO_BODY).await
    }

    /// `PATCH /instances/{id}`
    pub async fn update_instance(
        &self,
        id: &str,
        body: &UpdateInstanceRequest,
    ) -> Result<InstanceResponse, ClientError> {
        self.call("patchInstancesById", &[id], Some(body)).await
    }

    /// `DELETE /instances/{id}`
    pub async fn delete_instance(&self, id: &str) -> Result<SuccessResponse, ClientError> {
        self.call("deleteInstancesById", &[id], NO_BODY).await
    }

    /// `POST /instances/{id}/start`, with no body, as the web app sends it.
    pub async fn start_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.call("postInstancesByIdStart", &[id], NO_BODY).await
    }

    /// `POST /instances/{id}/stop`
    pub async fn stop_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.call("postInstancesByIdStop", &[id], NO_BODY).await
    }

    /// `POST /instances/{id}/retry`
    pub async fn retry_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.call("postInstancesByIdRetry", &[id], NO_BODY).await
    }

    /// `POST /instances/{id}/sync`
    pub async fn sync_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.call("postInstancesByIdSync", &[id], NO_BODY).await
    }

    /// `GET /instances/{id}/provisioning-status`
    pub async fn provisioning_status(
        &self,
        id: &str,
    ) -> Result<ProvisioningStatusResponse, ClientError> {
        self.call("getInstancesByIdProvisioningStatus", &[id], NO_BODY)
            .await
    }

    /// `GET /instances/{id}/pairing-requests`
    pub async fn pairing_requests(&self, id: &str) -> Result<PairingRequestList, ClientError> {
        self.call("getInstancesByIdPairingRequests", &[id], NO_BODY)
            .await
    }

    /// `POST /instances/{id}/pairing-requests/{code}/approve`, with no body.
    pub async fn approve_pairing(
        &self,
        id: &str,
        code: &str,
    ) -> Result<PairingApprovalResponse, ClientError> {
        self.call(
            "postInstancesByIdPairingRequestsByCodeApprove",
            &[id, code],
            NO_BODY,
        )
        .await
    }

    /// `GET /instances/{id}/snapshots`
    pub async fn snapshots(&self, id: &str) -> Result<SnapshotList, ClientError> {
        self.call("getInstancesByIdSnapshots", &[id], NO_BODY).await
    }

    /// `POST /instances/{id}/snapshots/{snapshot}/restore`, with no body: `snapshot` is a
    /// snapshot id (`vs_…`) or a kept volume's (`vol_…`). `Restored` (200) or `Pending`
    /// (202) when the controller has not carried it out in the facade's wait.
    pub async fn restore_snapshot(
        &self,
        id: &str,
        snapshot: &str,
    ) -> Result<RestoreResponse, ClientError> {
        self.call(
            "postInstancesByIdSnapshotsBySnapshotRestore",
            &[id, snapshot],
            NO_BODY,
        )
        .await
    }

    /// `GET /billing/subscription`
    pub async fn subscription(&self) -> Result<SubscriptionResponse, ClientError> {
        self.call("getBillingSubscription", &[], NO_BODY).await
    }

    /// `POST /billing/checkout`
    pub async fn checkout(&self, body: &CheckoutRequest) -> Result<CheckoutResponse, ClientError> {
        self.call("postBillingCheckout", &[], Some(body)).await
    }

    /// `POST /billing/portal`
    pub async fn portal(&self) -> Result<PortalResponse, ClientError> {
        self.call("postBillingPortal", &[], NO_BODY).await
    }

    /// `GET /billing/invoices`
    pub async fn invoices(&self) -> Result<InvoiceList, ClientError> {
        self.call("getBillingInvoices", &[], NO_BODY).await
    }
}

/// The path of `route` with its parameters filled in order by `params`.
fn fill_path(route: &Route, params: &[&str]) -> Result<String, ClientError> {
    let expected = route.path_params().count();
    if params.len() != expected {
        return Err(ClientError::Route(format!(
            "{} takes {expected} path parameters, not {}",
            route.operation_id(),
            params.len()
        )));
    }
    let mut params = params.iter().copied();
    let path = route
        .path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                params.next().unwrap_or(segment)
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use axum::extract::Request;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn body<T: DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("a valid request body")
    }

    /// A facade stand-in that refuses every request with `418`, naming the method, the
    /// path and whether a body came.
    async fn echo() -> ApiClient {
        let app = axum::Router::new().fallback(|request: Request| async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 16)
                .await
                .unwrap_or_default();
            let sent = if bytes.is_empty() { "no body" } else { "body" };
            let error = format!("{} {} {sent}", parts.method, parts.uri.path());
            (
                axum::http::StatusCode::IM_A_TEAPOT,
                axum::Json(json!({ "error": error })),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        ApiClient::new(&format!("http://{addr}/"))
    }

    fn asked<T: std::fmt::Debug>(result: Result<T, ClientError>) -> String {
        match result {
            Err(ClientError::Api { status: 418, error }) => error,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn typed_methods_call_their_routes() {
        let client = echo().await.with_token("token");
        let register =
            body(json!({ "email": "a@example.com", "password": "password1", "name": "A" }));
        let login = body(json!({ "email": "a@example.com", "password": "password1" }));
        let profile = body(json!({ "name": "B" }));
        let password = body(json!({ "currentPassword": "password1", "newPassword": "password2" }));
        let check = body(json!({ "token": TOKEN }));
        let create = body(json!({ "name": "Bot", "telegramBotToken": TOKEN }));
        let update = body(json!({ "name": "Bot 2" }));
        let checkout = body(json!({ "plan": "pro" }));
        let delete = body(json!({ "password": "password1" }));
        let calls = [
            (asked(client.health().await), "GET /health no body"),
            (asked(client.ready().await), "GET /ready no body"),
            (
                asked(client.register(&register).await),
                "POST /auth/register body",
            ),
            (asked(client.login(&login).await), "POST /auth/login body"),
            (asked(client.me().await), "GET /auth/me no body"),
            (
                asked(client.update_profile(&profile).await),
                "PATCH /auth/profile body",
            ),
            (
                asked(client.update_password(&password).await),
                "PATCH /auth/password body",
            ),
            (
                asked(client.logout_all().await),
                "POST /auth/logout-all no body",
            ),
            (
                asked(client.delete_account(&delete).await),
                "DELETE /auth/account body",
            ),
            (
                asked(client.validate_telegram_token(&check).await),
                "POST /instances/validate-telegram-token body",
            ),
            (
                asked(client.create_instance(&create).await),
                "POST /instances body",
            ),
            (
                asked(client.list_instances().await),
                "GET /instances no body",
            ),
            (
                asked(client.get_instance("abc").await),
                "GET /instances/abc no body",
            ),
            (
                asked(client.update_instance("abc", &update).await),
                "PATCH /instances/abc body",
            ),
            (
                asked(client.delete_instance("abc").await),
                "DELETE /instances/abc no body",
            ),
            (
                asked(client.start_instance("abc").await),
                "POST /instances/abc/start no body",
            ),
            (
                asked(client.stop_instance("abc").await),
                "POST /instances/abc/stop no body",
            ),
            (
                asked(client.retry_instance("abc").await),
                "POST /instances/abc/retry no body",
            ),
            (
                asked(client.sync_instance("abc").await),
                "POST /instances/abc/sync no body",
            ),
            (
                asked(client.provisioning_status("abc").await),
                "GET /instances/abc/provisioning-status no body",
            ),
            (
                asked(client.pairing_requests("abc").await),
                "GET /instances/abc/pairing-requests no body",
            ),
            (
                asked(client.approve_pairing("abc", "HJKL2345").await),
                "POST /instances/abc/pairing-requests/HJKL2345/approve no body",
            ),
            (
                asked(client.snapshots("abc").await),
                "GET /instances/abc/snapshots no body",
            ),
            (
                asked(client.restore_snapshot("abc", "vs_1").await),
                "POST /instances/abc/snapshots/vs_1/restore no body",
            ),
            (
                asked(client.subscription().await),
                "GET /billing/subscription no body",
            ),
            (
                asked(client.checkout(&checkout).await),
                "POST /billing/checkout body",
            ),
            (asked(client.portal().await), "POST /billing/portal no body"),
            (
                asked(client.invoices().await),
                "GET /billing/invoices no body",
            ),
        ];
        for (asked, expected) in calls {
            assert_eq!(asked, expected);
        }
    }

    #[tokio::test]
    async fn any_route_of_the_table_is_callable_by_operation_id() {
        let client = echo().await;
        for route in ROUTES {
            let params: Vec<&str> = route.path_params().map(|_| "p").collect();
            let asked = asked(
                client
                    .call::<(), Value>(&route.operation_id(), &params, None)
                    .await,
            );
            let expected = format!(
                "{} {} no body",
                route.method.as_lowercase().to_uppercase(),
                route
                    .path
                    .replace("{id}", "p")
                    .replace("{code}", "p")
                    .replace("{snapshot}", "p")
            );
            assert_eq!(asked, expected);
        }
    }

    #[tokio::test]
    async fn calls_outside_the_table_are_refused_before_sending() {
        let client = ApiClient::new("http://127.0.0.1:1");
        for (operation_id, params) in [
            ("getNothing", &[][..]),
            ("getInstancesById", &[][..]),
            ("getHealth", &["extra"][..]),
        ] {
            let result = client.call::<(), Value>(operation_id, params, None).await;
            assert!(
                matches!(result, Err(ClientError::Route(_))),
                "{operation_id}: {result:?}"
            );
        }
    }
}
