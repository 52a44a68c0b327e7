//! The Machines API client: typed calls, each body read inside the attempt that fetched
//! it, retries with backoff for what may pass, client-side rate limits, and recovery
//! from ambiguous failures so a retry never duplicates an app or a machine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::{Instrument, debug, info_span, warn};
use url::Url;

use super::error::{FlyError, FlyErrorCode};
use super::limits::ClientLimits;
use super::retry::{RetryPolicy, parse_retry_after};
use super::types::*;
use super::{FlyConfig, MachineState};

/// The metadata key under which a machine create request tags its machine, so that
/// after an ambiguous failure the client finds the machine instead of making another.
pub const CREATE_REQUEST_TAG: &str = "fasterclaw_create_request";

/// Told of every answer (operation, HTTP status; 0 when none came), for metrics.
#[derive(Clone)]
pub struct CallObserver(Arc<dyn Fn(&'static str, u16) + Send + Sync>);

impl CallObserver {
    /// An observer calling `f`.
    pub fn new(f: impl Fn(&'static str, u16) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

/// What creating an app found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppCreation {
    /// The app was created now (or by an earlier attempt of this same request).
    Created(App),
    /// An app of our organization already had the name.
    Existing(App),
}

impl AppCreation {
    /// The app.
    pub fn app(&self) -> &App {
        match self {
            AppCreation::Created(app) | AppCreation::Existing(app) => app,
        }
    }
}

/// A client of the Fly.io Machines API.
#[derive(Clone, Debug)]
pub struct FlyClient {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    org_slug: String,
    policy: RetryPolicy,
    limits: Arc<ClientLimits>,
    rng: Arc<Mutex<StdRng>>,
    observer: Option<CallObserver>,
}

/// One request, before it is sent.
pub(super) struct Call<'a> {
    operation: &'static str,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    app: &'a str,
    machine: Option<&'a str>,
    /// A 408 is this call's answer (`wait`), not a failure to retry.
    timeout_is_an_answer: bool,
    /// Not retried once it may have run (an `exec`): running a command twice is not
    /// the same as running it once.
    pub(super) at_most_once: bool,
    timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    pub(super) fn new(operation: &'static str, method: Method, app: &'a str, path: String) -> Self {
        Self {
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
            app,
            machine: None,
            timeout_is_an_answer: false,
            at_most_once: false,
            timeout: None,
        }
    }

    fn machine(mut self, id: &'a str) -> Self {
        self.machine = Some(id);
        self
    }

    pub(super) fn json(mut self, body: &impl serde::Serialize) -> Result<Self, FlyError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| FlyError::Config(format!("cannot encode the request: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// The rate limit scope: the machine, else the app.
    fn scope(&self) -> &str {
        self.machine.unwrap_or(self.app)
    }
}

/// The failure of one attempt, with what the server said about waiting.
struct Failed {
    error: FlyError,
    retry_after: Option<Duration>,
}

impl Failed {
    /// Whether the request may have taken effect although it failed: it was not a read,
    /// and the failure came after sending (a cut-off response, 408 or 5xx).
    fn ambiguous(&self, method: &Method) -> bool {
        *method != Method::GET
            && match &self.error {
                FlyError::Transport { .. } => true,
                FlyError::Api { status, .. } => *status == 408 || *status >= 500,
                _ => false,
            }
    }
}

/// What [`FlyClient::execute`] returns: the body, or the last error and whether any
/// failed attempt may have taken effect.
pub(super) struct Executed {
    pub(super) result: Result<Bytes, FlyError>,
    ambiguous: bool,
}

impl FlyClient {
    /// A client with the default retry policy and at most 32 requests in flight.
    pub fn new(config: FlyConfig) -> Result<Self, FlyError> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("fasterclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FlyError::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut authorization = HeaderValue::from_str(&config.authorization()).map_err(|_| {
            FlyError::Config("FLY_API_TOKEN has characters a header cannot carry".to_owned())
        })?;
        authorization.set_sensitive(true);
        let mut base = config.api_url.clone();
        let trimmed = base
            .path()
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_owned();
        base.set_path(&format!("{trimmed}/v1/"));
        Ok(Self {
            http,
            base,
            authorization,
            org_slug: config.org_slug,
            policy: RetryPolicy::default(),
            limits: Arc::new(ClientLimits::new(32)),
            rng: Arc::new(Mutex::new(StdRng::from_os_rng())),
            observer: None,
        })
    }

    /// The same client, telling `observer` of every answer.
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe(&self, operation: &'static str, status: u16) {
        if let Some(observer) = &self.observer {
            (observer.0)(operation, status);
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The same client with at most `max` requests in flight.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.limits = Arc::new(ClientLimits::new(max));
        self
    }

    /// The organization the client creates apps in.
    pub fn org_slug(&self) -> &str {
        &self.org_slug
    }

    fn url(&self, path: &str) -> Result<Url, FlyError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| FlyError::Config(format!("cannot build a URL for {path}: {e}")))
    }

    /// One attempt: waits for the limits, sends, and reads the whole body.
    async fn attempt(&self, call: &Call<'_>) -> Result<(StatusCode, Bytes), Failed> {
        let transport = |message: String| Failed {
            error: FlyError::Transport {
                operation: call.operation,
                message,
            },
            retry_after: None,
        };
        let _permit = self.limits.admit(call.operation, call.scope()).await;
        let url = self.url(&call.path).map_err(|error| Failed {
            error,
            retry_after: None,
        })?;
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, self.authorization.clone())
            .query(&call.query);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(|e| {
            self.observe(call.operation, 0);
            transport(describe(&e))
        })?;
        let status = response.status();
        self.observe(call.operation, status.as_u16());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // The body is read here, inside the attempt: a cut-off body is a failed attempt.
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(format!("response cut off: {}", describe(&e))))?;
        if status.is_success() {
            return Ok((status, body));
        }
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let message = parsed
            .error
            .or(parsed.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        Err(Failed {
            error: FlyError::Api {
                operation: call.operation,
                status: status.as_u16(),
                code: parsed.status.as_deref().map(FlyErrorCode::parse),
                message,
            },
            retry_after,
        })
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        self.policy.delay(attempt, retry_after, &mut *rng)
    }

    fn should_retry(&self, call: &Call<'_>, failed: &Failed, attempt: u32) -> bool {
        attempt < self.policy.max_attempts
            && failed.error.is_retryable()
            && !(call.timeout_is_an_answer && failed.error.status() == Some(408))
            && !(call.at_most_once && failed.ambiguous(&call.method))
    }

    /// Runs a call, retrying what may pass.
    async fn execute(&self, call: &Call<'_>) -> Executed {
        let mut ambiguous = false;
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let outcome = self.attempt(call).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match outcome {
                Ok((status, body)) => {
                    debug!(
                        status = status.as_u16(),
                        attempt, elapsed_ms, "fly call succeeded"
                    );
                    return Executed {
                        result: Ok(body),
                        ambiguous,
                    };
                }
                Err(failed) => {
                    ambiguous |= failed.ambiguous(&call.method);
                    if !self.should_retry(call, &failed, attempt) {
                        debug!(status = failed.error.status(), attempt, elapsed_ms, error = %failed.error, "fly call failed");
                        return Executed {
                            result: Err(failed.error),
                            ambiguous,
                        };
                    }
                    let pause = self.backoff(attempt, failed.retry_after);
                    warn!(
                        status = failed.error.status(),
                        attempt,
                        elapsed_ms,
                        retry_in_ms = pause.as_millis() as u64,
                        error = %failed.error,
                        "fly call failed; retrying"
                    );
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    fn span(call: &Call<'_>) -> tracing::Span {
        info_span!(
            "fly",
            operation = call.operation,
            app = call.app,
            machine = call.machine.unwrap_or("")
        )
    }

    pub(super) async fn run(&self, call: Call<'_>) -> Executed {
        let span = Self::span(&call);
        self.execute(&call).instrument(span).await
    }

    pub(super) async fn run_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, FlyError> {
        let operation = call.operation;
        let body = self.run(call).await.result?;
        decode(operation, &body)
    }

    // Apps

    /// Creates an app. The name is deterministic (the caller derives it), the request
    /// carries an idempotency key, and `name_taken` on an app of our organization counts
    /// as success, so a retried or repeated create never fails nor duplicates.
    pub async fn create_app(&self, name: &str) -> Result<App, FlyError> {
        Ok(self.create_app_checked(name).await?.app().clone())
    }

    /// Creates an app, and says whether it was made now or already existed in our
    /// organization (a name taken in another organization is an error).
    pub async fn create_app_checked(&self, name: &str) -> Result<AppCreation, FlyError> {
        let request = CreateAppRequest {
            name,
            org_slug: &self.org_slug,
            idempotency_key: name,
        };
        let call =
            Call::new("Apps_create", Method::POST, name, "apps".to_owned()).json(&request)?;
        match self.run(call).await.result {
            Ok(body) => {
                let created: Value = decode("Apps_create", &body)?;
                Ok(AppCreation::Created(App {
                    id: created
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    name: name.to_owned(),
                    status: "pending".to_owned(),
                    organization: AppOrganization {
                        name: self.org_slug.clone(),
                        slug: self.org_slug.clone(),
                    },
                }))
            }
            Err(e) if e.code() == Some(&FlyErrorCode::NameTaken) => {
                match self.get_app(name).await {
                    Ok(app) if app.organization.slug == self.org_slug => {
                        Ok(AppCreation::Existing(app))
                    }
                    // Taken by another organization, or not visible to us: a real conflict.
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// An app.
    pub async fn get_app(&self, name: &str) -> Result<App, FlyError> {
        self.run_json(Call::new(
            "Apps_show",
            Method::GET,
            name,
            format!("apps/{name}"),
        ))
        .await
    }

    /// Every app of the organization, in one answer (the API pages only when asked to).
    pub async fn list_apps(&self) -> Result<Vec<App>, FlyError> {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Apps {
            apps: Vec<App>,
        }
        let call = Call::new("Apps_list", Method::GET, "", "apps".to_owned())
            .query("org_slug", self.org_slug());
        let listed: Apps = self.run_json(call).await?;
        Ok(listed.apps)
    }

    /// Deletes an app, its secrets and its machines.
    pub async fn delete_app(&self, name: &str) -> Result<Deleted, FlyError> {
        let call = Call::new("Apps_delete", Method::DELETE, name, format!("apps/{name}"))
            .query("force", "true");
        deleted(self.run(call).await.result)
    }

    // Secrets

    /// Sets app secrets in one request and returns the app's new secrets version, to pass
    /// as `min_secrets_version` to machines that must see them.
    pub async fn set_secrets(
        &self,
        app: &str,
        values: &BTreeMap<String, SecretString>,
    ) -> Result<u64, FlyError> {
        let values: BTreeMap<&str, &str> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        self.update_secrets(app, json!({ "values": values })).await
    }

    /// Sets some app secrets and removes others in one request, and returns the new
    /// secrets version. Removing one that is not set is not an error.
    pub async fn replace_secrets(
        &self,
        app: &str,
        set: &BTreeMap<String, SecretString>,
        unset: &[&str],
    ) -> Result<u64, FlyError> {
        let mut values: BTreeMap<&str, Value> = unset.iter().map(|n| (*n, Value::Null)).collect();
        values.extend(
            set.iter()
                .map(|(k, v)| (k.as_str(), Value::String(v.expose_secret().to_owned()))),
        );
        self.update_secrets(app, json!({ "values": values })).await
    }

    /// Removes app secrets and returns the new secrets version. Removing one that is not
    /// set is not an error.
    pub async fn unset_secrets(&self, app: &str, names: &[&str]) -> Result<u64, FlyError> {
        let values: BTreeMap<&str, Value> = names.iter().map(|n| (*n, Value::Null)).collect();
        self.update_secrets(app, json!({ "values": values })).await
    }

    async fn update_secrets(&self, app: &str, body: Value) -> Result<u64, FlyError> {
        let call = Call::new(
            "Secrets_update",
            Method::POST,
            app,
            format!("apps/{app}/secrets"),
        )
        .json(&body)?;
        let response: SecretsUpdateResponse = self.run_json(call).await?;
        response
            .version
            .or(response.legacy_version)
            .ok_or_else(|| FlyError::InvalidResponse {
                operation: "Secrets_update",
                message: "no secrets version in the response".to_owned(),
            })
    }

    /// The app's secrets: names and digests, never values.
    pub async fn list_secrets(&self, app: &str) -> Result<Vec<AppSecret>, FlyError> {
        let call = Call::new(
            "Secrets_list",
            Method::GET,
            app,
            format!("apps/{app}/secrets"),
        );
        Ok(self.run_json::<AppSecrets>(call).await?.secrets)
    }

    // Machines

    /// Creates a machine. The request is tagged in the machine's metadata; after an
    /// ambiguous failure the client looks the machine up by that tag before trying
    /// again, so a create that took effect is never repeated.
    pub async fn create_machine(
        &self,
        app: &str,
        mut request: CreateMachine,
    ) -> Result<Machine, FlyError> {
        let tag = uuid::Uuid::new_v4().to_string();
        request
            .config
            .metadata
            .insert(CREATE_REQUEST_TAG.to_owned(), tag.clone());
        let call = Call::new(
            "Machines_create",
            Method::POST,
            app,
            format!("apps/{app}/machines"),
        )
        .json(&request)?;
        let span = Self::span(&call);
        async {
            let mut attempt = 1;
            let mut ambiguous = false;
            loop {
                let failed = match self.attempt(&call).await {
                    Ok((_, body)) => return decode("Machines_create", &body),
                    Err(failed) => failed,
                };
                ambiguous |= failed.ambiguous(&call.method);
                // A name conflict after an ambiguous attempt is our own machine.
                let retryable = self.should_retry(&call, &failed, attempt);
                if ambiguous
                    && (retryable || failed.error.is_conflict())
                    && let Some(found) = self.find_tagged(app, &tag).await?
                {
                    debug!(machine = %found.id, attempt, "machine create had taken effect; found it by its tag");
                    return Ok(found);
                }
                if !retryable {
                    return Err(failed.error);
                }
                let pause = self.backoff(attempt, failed.retry_after);
                warn!(attempt, retry_in_ms = pause.as_millis() as u64, error = %failed.error, "machine create failed; retrying");
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
        }
        .instrument(span)
        .await
    }

    async fn find_tagged(&self, app: &str, tag: &str) -> Result<Option<Machine>, FlyError> {
        let found = self
            .list_machines(app, &MachineFilter::tagged(CREATE_REQUEST_TAG, tag))
            .await?;
        Ok(found.into_iter().next())
    }

    /// A machine.
    pub async fn get_machine(&self, app: &str, id: &str) -> Result<Machine, FlyError> {
        let call = Call::new(
            "Machines_show",
            Method::GET,
            app,
            format!("apps/{app}/machines/{id}"),
        )
        .machine(id);
        self.run_json(call).await
    }

    /// The app's machines that match `filter`.
    pub async fn list_machines(
        &self,
        app: &str,
        filter: &MachineFilter,
    ) -> Result<Vec<Machine>, FlyError> {
        let mut call = Call::new(
            "Machines_list",
            Method::GET,
            app,
            format!("apps/{app}/machines"),
        );
        for (key, value) in &filter.metadata {
            call = call.query(format!("metadata.{key}"), value.clone());
        }
        if filter.include_deleted {
            call = call.query("include_deleted", "true");
        }
        self.run_json(call).await
    }

    /// Replaces a machine's configuration. With `current_version` set, Fly refuses (409)
    /// if the machine changed since; a refusal that follows an ambiguous attempt of our
    /// own is checked against the machine and counts as success when our config is in.
    pub async fn update_machine(
        &self,
        app: &str,
        id: &str,
        request: &UpdateMachine,
    ) -> Result<Machine, FlyError> {
        let call = Call::new(
            "Machines_update",
            Method::POST,
            app,
            format!("apps/{app}/machines/{id}"),
        )
        .machine(id)
        .json(request)?;
        let executed = self.run(call).await;
        match executed.result {
            Ok(body) => decode("Machines_update", &body),
            Err(e) if executed.ambiguous && e.is_conflict() => {
                let machine = self.get_machine(app, id).await?;
                if machine.config == request.config {
                    Ok(machine)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Starts a machine. A machine already starting or running counts as started.
    pub async fn start_machine(&self, app: &str, id: &str) -> Result<(), FlyError> {
        let call = Call::new(
            "Machines_start",
            Method::POST,
            app,
            format!("apps/{app}/machines/{id}/start"),
        )
        .machine(id);
        self.settle_precondition(
            app,
            id,
            self.run(call).await.result,
            &[MachineState::Starting, MachineState::Started],
        )
        .await
    }

    /// Stops a machine. A machine already stopping or stopped counts as stopped.
    pub async fn stop_machine(&self, app: &str, id: &str) -> Result<(), FlyError> {
        let call = Call::new(
            "Machines_stop",
            Method::POST,
            app,
            format!("apps/{app}/machines/{id}/stop"),
        )
        .machine(id);
        self.settle_precondition(
            app,
            id,
            self.run(call).await.result,
            &[MachineState::Stopping, MachineState::Stopped],
        )
        .await
    }

    /// A 412 (the state does not allow the action) is success when the machine is
    /// already where the action leads.
    async fn settle_precondition(
        &self,
        app: &str,
        id: &str,
        result: Result<Bytes, FlyError>,
        done: &[MachineState],
    ) -> Result<(), FlyError> {
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(412) => {
                let machine = self.get_machine(app, id).await?;
                if done.contains(&machine.state) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Destroys a machine; `force` kills it if it is running.
    pub async fn delete_machine(
        &self,
        app: &str,
        id: &str,
        force: bool,
    ) -> Result<Deleted, FlyError> {
        let mut call = Call::new(
            "Machines_delete",
            Method::DELETE,
            app,
            format!("apps/{app}/machines/{id}"),
        )
        .machine(id);
        if force {
            call = call.query("force", "true");
        }
        deleted(self.run(call).await.result)
    }

    /// Waits until the machine (at `version`, when given) reaches `state`, for up to
    /// `timeout` (Fly allows 1 to 60 seconds). Fly answers 408 when it does not; that is
    /// returned as an error with status 408, not retried.
    pub async fn wait_machine(
        &self,
        app: &str,
        id: &str,
        version: Option<&str>,
        state: WaitState,
        timeout: Duration,
    ) -> Result<WaitResponse, FlyError> {
        let seconds = timeout.as_secs().clamp(1, 60);
        let mut call = Call::new(
            "Machines_wait",
            Method::GET,
            app,
            format!("apps/{app}/machines/{id}/wait"),
        )
        .machine(id)
        .query("state", state.as_str())
        .query("timeout", seconds.to_string());
        if let Some(version) = version {
            call = call.query("instance_id", version);
        }
        call.timeout_is_an_answer = true;
        call.timeout = Some(Duration::from_secs(seconds + 15));
        self.run_json(call).await
    }

    /// Runs a command in a started machine, in its environment (`Machines_exec`), for up
    /// to `timeout`. A failure after the request may have reached the machine is not
    /// retried.
    pub async fn exec(
        &self,
        app: &str,
        id: &str,
        command: &[&str],
        timeout: Duration,
    ) -> Result<ExecResponse, FlyError> {
        self.exec_with_input(app, id, command, None, timeout).await
    }

    /// [`FlyClient::exec`], with `stdin` given to the command's standard input.
    pub async fn exec_with_input(
        &self,
        app: &str,
        id: &str,
        command: &[&str],
        stdin: Option<String>,
        timeout: Duration,
    ) -> Result<ExecResponse, FlyError> {
        let seconds = timeout.as_secs().clamp(1, 600);
        let request = ExecRequest {
            command: command.iter().map(|part| (*part).to_owned()).collect(),
            timeout: Some(seconds),
            stdin,
        };
        let mut call = Call::new(
            "Machines_exec",
            Method::POST,
            app,
            format!("apps/{app}/machines/{id}/exec"),
        )
        .machine(id)
        .json(&request)?;
        call.at_most_once = true;
        call.timeout = Some(Duration::from_secs(seconds + 15));
        self.run_json(call).await
    }

    /// Forgets idle rate-limit keys; call it now and then in long-running processes.
    pub fn shrink_limits(&self) {
        self.limits.shrink();
    }
}

fn decode<T: DeserializeOwned>(operation: &'static str, body: &[u8]) -> Result<T, FlyError> {
    serde_json::from_slice(body).map_err(|e| FlyError::InvalidResponse {
        operation,
        message: format!("cannot read the body: {e}"),
    })
}

fn deleted(result: Result<Bytes, FlyError>) -> Result<Deleted, FlyError> {
    match result {
        Ok(_) => Ok(Deleted::Yes),
        Err(e) if e.is_not_found() => Ok(Deleted::AlreadyGone),
        Err(e) => Err(e),
    }
}

/// A transport error, with its causes, in one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
