//! A typed client of the facade, on the same contract types the server uses: a change
//! to a request or response type changes both ends at once.

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::contract::*;

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

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
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

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::POST, path, None::<&()>).await
    }

    /// `GET /health`
    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        self.get("/health").await
    }

    /// `GET /ready`
    pub async fn ready(&self) -> Result<ReadyResponse, ClientError> {
        self.get("/ready").await
    }

    /// `POST /auth/register`
    pub async fn register(&self, body: &RegisterRequest) -> Result<TokenResponse, ClientError> {
        self.call(Method::POST, "/auth/register", Some(body)).await
    }

    /// `POST /auth/login`
    pub async fn login(&self, body: &LoginRequest) -> Result<TokenResponse, ClientError> {
        self.call(Method::POST, "/auth/login", Some(body)).await
    }

    /// `GET /auth/me`
    pub async fn me(&self) -> Result<User, ClientError> {
        self.get("/auth/me").await
    }

    /// `PATCH /auth/profile`
    pub async fn update_profile(&self, body: &UpdateProfileRequest) -> Result<User, ClientError> {
        self.call(Method::PATCH, "/auth/profile", Some(body)).await
    }

    /// `PATCH /auth/password`
    pub async fn update_password(
        &self,
        body: &UpdatePasswordRequest,
    ) -> Result<MessageResponse, ClientError> {
        self.call(Method::PATCH, "/auth/password", Some(body)).await
    }

    /// `DELETE /auth/account`
    pub async fn delete_account(&self) -> Result<MessageResponse, ClientError> {
        self.call(Method::DELETE, "/auth/account", None::<&()>)
            .await
    }

    /// `POST /instances/validate-telegram-token`
    pub async fn validate_telegram_token(
        &self,
        body: &ValidateTelegramTokenRequest,
    ) -> Result<ValidateTelegramTokenResponse, ClientError> {
        self.call(
            Method::POST,
            "/instances/validate-telegram-token",
            Some(body),
        )
        .await
    }

    /// `POST /instances`
    pub async fn create_instance(
        &self,
        body: &CreateInstanceRequest,
    ) -> Result<InstanceResponse, ClientError> {
        self.call(Method::POST, "/instances", Some(body)).await
    }

    /// `GET /instances`
    pub async fn list_instances(&self) -> Result<InstanceList, ClientError> {
        self.get("/instances").await
    }

    /// `GET /instances/{id}` (any text as the id, as old links may carry).
    pub async fn get_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.get(&format!("/instances/{id}")).await
    }

    /// `PATCH /instances/{id}`
    pub async fn update_instance(
        &self,
        id: &str,
        body: &UpdateInstanceRequest,
    ) -> Result<InstanceResponse, ClientError> {
        self.call(Method::PATCH, &format!("/instances/{id}"), Some(body))
            .await
    }

    /// `DELETE /instances/{id}`
    pub async fn delete_instance(&self, id: &str) -> Result<SuccessResponse, ClientError> {
        self.call(Method::DELETE, &format!("/instances/{id}"), None::<&()>)
            .await
    }

    /// `POST /instances/{id}/start`, with no body, as the web app sends it.
    pub async fn start_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.post_empty(&format!("/instances/{id}/start")).await
    }

    /// `POST /instances/{id}/stop`
    pub async fn stop_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.post_empty(&format!("/instances/{id}/stop")).await
    }

    /// `POST /instances/{id}/retry`
    pub async fn retry_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.post_empty(&format!("/instances/{id}/retry")).await
    }

    /// `POST /instances/{id}/sync`
    pub async fn sync_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.post_empty(&format!("/instances/{id}/sync")).await
    }

    /// `GET /instances/{id}/provisioning-status`
    pub async fn provisioning_status(
        &self,
        id: &str,
    ) -> Result<ProvisioningStatusResponse, ClientError> {
        self.get(&format!("/instances/{id}/provisioning-status"))
            .await
    }

    /// `GET /billing/subscription`
    pub async fn subscription(&self) -> Result<SubscriptionResponse, ClientError> {
        self.get("/billing/subscription").await
    }

    /// `POST /billing/checkout`
    pub async fn checkout(&self, body: &CheckoutRequest) -> Result<CheckoutResponse, ClientError> {
        self.call(Method::POST, "/billing/checkout", Some(body))
            .await
    }

    /// `POST /billing/portal`
    pub async fn portal(&self) -> Result<PortalResponse, ClientError> {
        self.post_empty("/billing/portal").await
    }

    /// `GET /billing/invoices`
    pub async fn invoices(&self) -> Result<InvoiceList, ClientError> {
        self.get("/billing/invoices").await
    }
}
