//! A stand-in for Google's OpenID Connect provider, as a web app's "Sign in with
//! Google" uses it: discovery, the authorization endpoint, the token endpoint, userinfo
//! and the signing keys, with Google's paths and wire shapes.
//!
//! - `GET /.well-known/openid-configuration`: the discovery document, naming the
//!   endpoints below under the stand-in's own address (the issuer).
//! - `GET /o/oauth2/v2/auth`: the authorization endpoint. An unknown `client_id` or a
//!   `redirect_uri` that is not an absolute http(s) URL is answered 400 with an error
//!   page, never redirected; other faults (a `response_type` other than `code`, a
//!   `code_challenge_method` other than `S256` or `plain`, no `openid` scope) redirect
//!   back with `error=`. When the browser is "signed in" ([`GoogleSim::sign_in_as`]) or
//!   `login_hint` names a registered user, the user consents at once and the browser
//!   is redirected with `code` and `state`; otherwise a minimal page lets a person pick
//!   an account or type an email (`POST /o/oauth2/v2/auth`), or cancel
//!   (`error=access_denied`).
//! - `POST /token`: `grant_type=authorization_code` with the client's credentials
//!   (HTTP Basic or in the form), `code`, `redirect_uri` as given to the authorization
//!   endpoint and, when a challenge was given, `code_verifier` (S256 or plain). Codes
//!   are single use and last [`GoogleSimConfig::code_lifetime`]. Answers carry an
//!   `access_token`, an RS256 `id_token` (with `nonce`, `at_hash`, `email`,
//!   `email_verified`, `name`), `expires_in`, `scope` and `token_type`; failures are
//!   Google's `{"error": "invalid_grant", "error_description": "Bad Request"}` and
//!   kin.
//! - `GET /v1/userinfo`: the user of a bearer access token.
//! - `GET /oauth2/v3/certs`: the JSON Web Key Set, one RSA key made at start.
//!
//! Users are registered with [`GoogleSim::add_user`]; nothing the stand-in logs or
//! lists shows a client secret, a code or a token.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::sync::lock;

/// How long an access token lasts, in seconds (Google's: an hour, less a second).
const ACCESS_TOKEN_SECONDS: i64 = 3599;

/// A Google account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleUser {
    /// Google's stable id of the account.
    pub sub: String,
    /// Its email address.
    pub email: String,
    /// Whether Google has verified that the account holds the address.
    pub email_verified: bool,
    /// The person's name.
    pub name: Option<String>,
}

impl GoogleUser {
    /// A user with a verified email and a name.
    pub fn verified(sub: &str, email: &str, name: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            name: Some(name.to_owned()),
        }
    }

    /// The same user, with `email_verified` set as given.
    pub fn with_email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }

    fn claims(&self) -> serde_json::Map<String, Value> {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), json!(self.sub));
        claims.insert("email".into(), json!(self.email));
        claims.insert("email_verified".into(), json!(self.email_verified));
        if let Some(name) = &self.name {
            let mut words = name.splitn(2, ' ');
            claims.insert("name".into(), json!(name));
            if let Some(given) = words.next() {
                claims.insert("given_name".into(), json!(given));
            }
            if let Some(family) = words.next() {
                claims.insert("family_name".into(), json!(family));
            }
        }
        claims
    }
}

/// The OAuth client the stand-in knows.
#[derive(Clone)]
pub struct GoogleSimConfig {
    /// The client id (`…apps.googleusercontent.com` at Google).
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// How long an authorization code may be exchanged.
    pub code_lifetime: Duration,
}

impl std::fmt::Debug for GoogleSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleSimConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("code_lifetime", &self.code_lifetime)
            .finish()
    }
}

impl GoogleSimConfig {
    /// A client with this id and secret; codes last a minute.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            code_lifetime: Duration::from_secs(60),
        }
    }
}

/// Why the stand-in cannot start.
#[derive(Debug, thiserror::Error)]
pub enum GoogleSimError {
    /// The listener.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// The signing key.
    #[error("cannot make the signing key: {0}")]
    Key(String),
}

/// What an authorization code was issued for.
struct Grant {
    redirect_uri: String,
    sub: String,
    nonce: Option<String>,
    challenge: Option<(String, String)>,
    scope: String,
    issued: Instant,
}

#[derive(Default)]
struct World {
    users: Vec<GoogleUser>,
    signed_in: Option<String>,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, (String, Instant)>,
    token_requests: u64,
}

impl World {
    fn user(&self, sub: &str) -> Option<&GoogleUser> {
        self.users.iter().find(|u| u.sub == sub)
    }

    fn user_by_hint(&self, hint: &str) -> Option<&GoogleUser> {
        self.users
            .iter()
            .find(|u| u.sub == hint || u.email.eq_ignore_ascii_case(hint))
    }
}

struct Shared {
    config: GoogleSimConfig,
    issuer: String,
    key: EncodingKey,
    kid: String,
    jwk: Value,
    world: Mutex<World>,
}

/// The running stand-in.
pub struct GoogleSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for GoogleSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleSim")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for GoogleSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An RSA signing key and its public half as a JWK.
fn signing_key() -> Result<(EncodingKey, String, Value), GoogleSimError> {
    let mut rng = rsa::rand_core::OsRng;
    let private =
        rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| GoogleSimError::Key(e.to_string()))?;
    let der = private
        .to_pkcs1_der()
        .map_err(|e| GoogleSimError::Key(e.to_string()))?;
    let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    let kid = hex::encode(&Sha256::digest(n.as_bytes())[..20]);
    let jwk = json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e });
    Ok((EncodingKey::from_rsa_der(der.as_bytes()), kid, jwk))
}

impl GoogleSim {
    /// Starts the stand-in on `listen`, with a new signing key.
    pub async fn start(
        config: GoogleSimConfig,
        listen: SocketAddr,
    ) -> Result<Self, GoogleSimError> {
        let (key, kid, jwk) = tokio::task::spawn_blocking(signing_key)
            .await
            .map_err(|e| GoogleSimError::Key(e.to_string()))??;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            issuer: format!("http://{addr}"),
            key,
            kid,
            jwk,
            world: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/o/oauth2/v2/auth", get(authorize).post(choose))
            .route("/token", post(token))
            .route("/v1/userinfo", get(userinfo).post(userinfo))
            .route("/oauth2/v3/certs", get(certs))
            .fallback(not_found)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Google stand-in stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The issuer: the base URL to discover the provider from
    /// (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// Registers a user, or replaces the one with the same `sub`.
    pub fn add_user(&self, user: GoogleUser) {
        let mut world = lock(&self.shared.world);
        world.users.retain(|u| u.sub != user.sub);
        world.users.push(user);
    }

    /// The browser is signed in to Google as the user `sub`: the authorization
    /// endpoint grants at once, without a page.
    pub fn sign_in_as(&self, sub: &str) {
        lock(&self.shared.world).signed_in = Some(sub.to_owned());
    }

    /// Calls of the token endpoint so far.
    pub fn token_requests(&self) -> u64 {
        lock(&self.shared.world).token_requests
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let base = &shared.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/o/oauth2/v2/auth"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/v1/userinfo"),
        "jwks_uri": format!("{base}/oauth2/v3/certs"),
        "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
    }))
}

async fn certs(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "keys": [shared.jwk] }))
}

/// The authorization request's parameters.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct AuthRequest {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_challenge_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    login_hint: Option<String>,
}

fn error_page(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>Error 400: {error}</title><h1>Access blocked: authorization error</h1><p>Error 400: {error}</p><p>{}</p>",
            html_escape(description)
        )),
    )
        .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `redirect_uri` with the answer's parameters added.
fn back(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("invalid_request", "redirect_uri is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    // Google answers 302 Found, as the authorization endpoint's redirects are.
    (
        StatusCode::FOUND,
        [(header::LOCATION, url.as_str().to_owned())],
    )
        .into_response()
}

/// The scopes as Google names them back: `email` and `profile` as their URLs.
fn granted_scope(asked: &str) -> String {
    asked
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "email" => "https://www.googleapis.com/auth/userinfo.email",
            "profile" => "https://www.googleapis.com/auth/userinfo.profile",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks what must hold before anything is redirected; the error page otherwise.
fn check_client(shared: &Shared, request: &AuthRequest) -> Option<Response> {
    if request.client_id != shared.config.client_id {
        return Some(error_page(
            "invalid_client",
            "The OAuth client was not found.",
        ));
    }
    let redirect = url::Url::parse(&request.redirect_uri).ok();
    if !redirect.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none()) {
        return Some(error_page(
            "redirect_uri_mismatch",
            "The redirect URI in the request does not match the ones authorized for the OAuth client.",
        ));
    }
    None
}

/// The error to redirect with for a well-addressed but faulty request, if any.
fn request_error(request: &AuthRequest) -> Option<&'static str> {
    if request.response_type != "code" {
        return Some("unsupported_response_type");
    }
    if !request.scope.split(' ').any(|s| s == "openid") {
        return Some("invalid_scope");
    }
    match (
        &request.code_challenge,
        request.code_challenge_method.as_deref(),
    ) {
        (None, None) => None,
        (Some(_), None | Some("S256" | "plain")) => None,
        _ => Some("invalid_request"),
    }
}

fn grant(shared: &Shared, request: &AuthRequest, sub: &str) -> Response {
    let code = format!("4/0A{}", random_token(48));
    let challenge = request.code_challenge.clone().map(|c| {
        (
            c,
            request
                .code_challenge_method
                .clone()
                .unwrap_or_else(|| "plain".to_owned()),
        )
    });
    lock(&shared.world).codes.insert(
        code.clone(),
        Grant {
            redirect_uri: request.redirect_uri.clone(),
            sub: sub.to_owned(),
            nonce: request.nonce.clone(),
            challenge,
            scope: request.scope.clone(),
            issued: Instant::now(),
        },
    );
    let scope = granted_scope(&request.scope);
    let mut params = vec![("code", code.as_str()), ("scope", scope.as_str())];
    if let Some(state) = &request.state {
        params.insert(0, ("state", state));
    }
    back(&request.redirect_uri, &params)
}

fn refuse(request: &AuthRequest, error: &str) -> Response {
    let mut params = vec![("error", error)];
    if let Some(state) = &request.state {
        params.push(("state", state));
    }
    back(&request.redirect_uri, &params)
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(request): Query<AuthRequest>,
) -> Response {
    if let Some(page) = check_client(&shared, &request) {
        return page;
    }
    if let Some(error) = request_error(&request) {
        return refuse(&request, error);
    }
    let chosen = {
        let world = lock(&shared.world);
        request
            .login_hint
            .as_deref()
            .and_then(|hint| world.user_by_hint(hint))
            .map(|u| u.sub.clone())
            .or_else(|| {
                world
                    .signed_in
                    .as_deref()
                    .and_then(|sub| world.user(sub))
                    .map(|u| u.sub.clone())
            })
    };
    match chosen {
        Some(sub) => grant(&shared, &request, &sub),
        None => account_page(&shared, &request),
    }
}

/// A page to pick an account, type an email, or cancel.
fn account_page(shared: &Shared, request: &AuthRequest) -> Response {
    let mut hidden = String::new();
    if let Ok(Value::Object(fields)) = serde_json::to_value(request) {
        for (name, value) in fields {
            if let Value::String(value) = value {
                let _ = write!(
                    hidden,
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    html_escape(&name),
                    html_escape(&value)
                );
            }
        }
    }
    let mut accounts = String::new();
    for user in &lock(&shared.world).users {
        let _ = write!(
            accounts,
            "<li><form method=\"post\">{hidden}<input type=\"hidden\" name=\"account\" value=\"{}\"><button>{}</button></form></li>",
            html_escape(&user.sub),
            html_escape(&user.email)
        );
    }
    Html(format!(
        "<!doctype html><title>Sign in - Google Accounts</title><h1>Choose an account</h1><ul>{accounts}</ul>\
         <form method=\"post\">{hidden}<label>Email <input name=\"email\" type=\"email\" required></label> \
         <label>Name <input name=\"name\"></label><button>Continue</button></form>\
         <form method=\"post\">{hidden}<input type=\"hidden\" name=\"cancel\" value=\"1\"><button>Cancel</button></form>"
    ))
    .into_response()
}

/// `POST /o/oauth2/v2/auth`: the account page's answer.
async fn choose(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let request: AuthRequest = match serde_json::to_value(&fields).and_then(serde_json::from_value)
    {
        Ok(request) => request,
        Err(_) => return error_page("invalid_request", "The request is malformed."),
    };
    if let Some(page) = check_client(&shared, &request) {
        return page;
    }
    if let Some(error) = request_error(&request) {
        return refuse(&request, error);
    }
    if fields.contains_key("cancel") {
        return refuse(&request, "access_denied");
    }
    let sub = if let Some(sub) = fields.get("account") {
        sub.clone()
    } else if let Some(email) = fields.get("email").filter(|e| e.contains('@')) {
        let mut world = lock(&shared.world);
        match world.user_by_hint(email) {
            Some(user) => user.sub.clone(),
            None => {
                let sub = format!(
                    "1{}",
                    &Sha256::digest(email.to_lowercase().as_bytes()).iter().fold(
                        String::new(),
                        |mut s, b| {
                            let _ = write!(s, "{:02}", b % 100);
                            s
                        }
                    )[..20]
                );
                let name = fields.get("name").filter(|n| !n.trim().is_empty()).cloned();
                world.users.push(GoogleUser {
                    sub: sub.clone(),
                    email: email.clone(),
                    email_verified: true,
                    name,
                });
                sub
            }
        }
    } else {
        return account_page(&shared, &request);
    };
    if lock(&shared.world).user(&sub).is_none() {
        return account_page(&shared, &request);
    }
    grant(&shared, &request, &sub)
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The client's credentials: HTTP Basic (each part form-encoded) or the form's.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = STANDARD.decode(basic.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unescape = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

fn pkce_holds(challenge: &Option<(String, String)>, verifier: Option<&String>) -> bool {
    match (challenge, verifier) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((challenge, method)), Some(verifier)) => {
            let valid = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let derived = if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.clone()
            };
            valid && &derived == challenge
        }
    }
}

/// `POST /token`
async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    lock(&shared.world).token_requests += 1;
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    };
    if client_id != shared.config.client_id || secret != shared.config.client_secret {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {}
        Some(_) => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type: ",
            );
        }
        None => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            );
        }
    }
    let Some(code) = form.get("code") else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: code",
        );
    };
    let bad = || token_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
    let (grant, user) = {
        let mut world = lock(&shared.world);
        // A code is taken out at its first use, good or bad: it never counts again.
        let Some(grant) = world.codes.remove(code) else {
            return bad();
        };
        let Some(user) = world.user(&grant.sub).cloned() else {
            return bad();
        };
        (grant, user)
    };
    if grant.issued.elapsed() > shared.config.code_lifetime {
        return bad();
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "Bad Request",
        );
    }
    if !pkce_holds(&grant.challenge, form.get("code_verifier")) {
        return bad();
    }
    let access_token = format!("ya29.{}", random_token(48));
    lock(&shared.world)
        .access_tokens
        .insert(access_token.clone(), (user.sub.clone(), Instant::now()));
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16]);
    let issued_at = now();
    let mut claims = user.claims();
    claims.insert("iss".into(), json!(shared.issuer));
    claims.insert("azp".into(), json!(shared.config.client_id));
    claims.insert("aud".into(), json!(shared.config.client_id));
    claims.insert("at_hash".into(), json!(at_hash));
    claims.insert("iat".into(), json!(issued_at));
    claims.insert("exp".into(), json!(issued_at + ACCESS_TOKEN_SECONDS + 1));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(shared.kid.clone());
    header.typ = Some("JWT".to_owned());
    let id_token = match jsonwebtoken::encode(&header, &claims, &shared.key) {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "cannot sign an ID token");
            return token_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_failure",
                "Internal error",
            );
        }
    };
    let scope = granted_scope(&grant.scope);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": scope,
            "token_type": "Bearer",
            "id_token": id_token,
        })),
    )
        .into_response()
}

/// `GET|POST /v1/userinfo`
async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let world = lock(&shared.world);
    let user = token
        .and_then(|t| world.access_tokens.get(t))
        .filter(|(_, issued)| issued.elapsed() < Duration::from_secs(ACCESS_TOKEN_SECONDS as u64))
        .and_then(|(sub, _)| world.user(sub));
    match user {
        Some(user) => Json(Value::Object(user.claims())).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            )],
            Json(json!({ "error": "invalid_request", "error_description": "Invalid Credentials" })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_only_its_verifier() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned();
        let challenge = (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            "S256".to_owned(),
        );
        assert!(pkce_holds(&Some(challenge.clone()), Some(&verifier)));
        assert!(!pkce_holds(&Some(challenge.clone()), Some(&"x".repeat(43))));
        assert!(!pkce_holds(&Some(challenge), None));
        assert!(pkce_holds(&None, None));
    }

    #[test]
    fn faulty_requests_are_named() {
        let good = AuthRequest {
            response_type: "code".into(),
            scope: "openid email profile".into(),
            code_challenge: Some("abc".into()),
            code_challenge_method: Some("S256".into()),
            ..AuthRequest::default()
        };
        assert_eq!(request_error(&good), None);
        let token = AuthRequest {
            response_type: "token".into(),
            ..good.clone()
        };
        assert_eq!(request_error(&token), Some("unsupported_response_type"));
        let no_openid = AuthRequest {
            scope: "email".into(),
            ..good.clone()
        };
        assert_eq!(request_error(&no_openid), Some("invalid_scope"));
        let odd_method = AuthRequest {
            code_challenge_method: Some("S512".into()),
            ..good
        };
        assert_eq!(request_error(&odd_method), Some("invalid_request"));
    }
}
