//! The facade's client of Google's OpenID Connect provider: the authorization-code
//! flow with PKCE (S256), `state` and a nonce, done by the `openidconnect` crate.
//!
//! The person's identity comes from the ID token the token endpoint returns, which the
//! crate checks: its RS256 signature against the provider's published keys, the issuer,
//! the audience (this client), the expiry and the nonce of this sign-in; its `at_hash`
//! is checked against the access token too. No userinfo call is needed: Google puts
//! `email`, `email_verified` and `name` in the ID token for the scopes asked.
//!
//! The provider's endpoints and keys are discovered from the issuer on first use and
//! discovered again after an hour (Google rotates its keys with overlap), or sooner
//! when an ID token names a key they do not hold.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::db::PendingSignIn;

/// How long discovered endpoints and keys are used before they are discovered again.
const DISCOVERY_LIFETIME: Duration = Duration::from_secs(3600);
/// The largest answer read from the provider.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Why a sign-in with Google failed. The messages name what went wrong, never a code,
/// a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// A setting is unusable.
    #[error("{0}")]
    Setting(String),
    /// The provider's discovery document or keys could not be had.
    #[error("cannot discover the provider: {0}")]
    Discovery(String),
    /// The token endpoint refused the code or could not be reached.
    #[error("the token exchange failed: {0}")]
    Token(String),
    /// The ID token is missing or does not verify.
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
}

/// The person Google vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleIdentity {
    /// Google's stable id of the account.
    pub sub: String,
    /// The account's email address, when Google gave one.
    pub email: Option<String>,
    /// Whether Google says the account holds that address.
    pub email_verified: bool,
    /// The person's name, when given.
    pub name: Option<String>,
}

/// A sign-in just started: where to send the browser, the `state` it must bring back
/// (kept in its cookie), and what the callback needs.
pub struct Started {
    /// Google's authorization URL for this sign-in.
    pub url: url::Url,
    /// The `state` parameter.
    pub state: String,
    /// The PKCE verifier and the nonce.
    pub pending: PendingSignIn,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started([REDACTED])")
    }
}

/// The settings of sign-in with Google.
pub struct GoogleSettings {
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
    /// The issuer to discover from.
    pub issuer_url: String,
    /// This facade's callback, as registered with the client.
    pub redirect_url: String,
}

/// The provider's HTTP calls, through a reqwest client that follows no redirect (an
/// answer elsewhere is no answer) and reads at most [`MAX_ANSWER_BYTES`].
struct Http(reqwest::Client);

/// Why an HTTP call to the provider failed.
#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("{0}")]
    Send(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Build(#[from] openidconnect::http::Error),
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut answer = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(answer.body(body)?)
        })
    }
}

/// Sign-in with Google, configured.
pub struct GoogleSignIn {
    client_id: ClientId,
    client_secret: SecretString,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: Http,
    provider: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for GoogleSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleSignIn")
            .field("client_id", &self.client_id.as_str())
            .field("issuer", &self.issuer.as_str())
            .field("redirect", &self.redirect.as_str())
            .finish_non_exhaustive()
    }
}

impl GoogleSignIn {
    /// Sign-in with these settings, waiting at most `timeout` for each call to the
    /// provider.
    pub fn new(settings: GoogleSettings, timeout: Duration) -> Result<Self, GoogleError> {
        let issuer = IssuerUrl::new(settings.issuer_url.trim_end_matches('/').to_owned())
            .map_err(|e| GoogleError::Setting(format!("GOOGLE_ISSUER_URL is not a URL: {e}")))?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| GoogleError::Setting(format!("GOOGLE_REDIRECT_URL is not a URL: {e}")))?;
        if !matches!(redirect.url().scheme(), "http" | "https") {
            return Err(GoogleError::Setting(
                "GOOGLE_REDIRECT_URL must be an http:// or https:// URL".to_owned(),
            ));
        }
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("fasterclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GoogleError::Setting(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client_id: ClientId::new(settings.client_id),
            client_secret: settings.client_secret,
            issuer,
            redirect,
            http: Http(http),
            provider: Mutex::new(None),
        })
    }

    /// Whether the browser's cookie must be `Secure`: the callback is served over HTTPS.
    pub fn https(&self) -> bool {
        self.redirect.url().scheme() == "https"
    }

    /// The provider's metadata and keys: those discovered within the hour, or new ones
    /// when `fresh` or older.
    async fn provider(&self, fresh: bool) -> Result<CoreProviderMetadata, GoogleError> {
        let mut cached = self.provider.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && !fresh
            && at.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| GoogleError::Discovery(describe(&e)))?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> CoreClientFromMetadata {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Starts a sign-in: Google's authorization URL asking for `openid email profile`
    /// with a new `state`, nonce and PKCE challenge.
    pub async fn start(&self) -> Result<Started, GoogleError> {
        let client = self.client(self.provider(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Started {
            url,
            state: state.secret().clone(),
            pending: PendingSignIn {
                pkce_verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
            },
        })
    }

    /// Finishes a sign-in: exchanges `code` with the PKCE verifier, and returns the
    /// identity of the verified ID token.
    pub async fn finish(
        &self,
        code: &str,
        pending: &PendingSignIn,
    ) -> Result<GoogleIdentity, GoogleError> {
        let client = self.client(self.provider(false).await?);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| GoogleError::Token(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| GoogleError::Token(describe_token_error(&e)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| GoogleError::IdToken("the token endpoint sent none".to_owned()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let mut verifying = client;
        let first = id_token
            .claims(&verifying.id_token_verifier(), &nonce)
            .cloned();
        let claims = match first {
            Ok(claims) => claims,
            // A key the cached set lacks: Google may have rotated its keys since.
            Err(_) => {
                verifying = self.client(self.provider(true).await?);
                id_token
                    .claims(&verifying.id_token_verifier(), &nonce)
                    .map_err(|e| GoogleError::IdToken(e.to_string()))?
                    .clone()
            }
        };
        if let Some(expected) = claims.access_token_hash() {
            let verifier = verifying.id_token_verifier();
            let alg = id_token
                .signing_alg()
                .map_err(|e| GoogleError::IdToken(e.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| GoogleError::IdToken(e.to_string()))?;
            let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                .map_err(|e| GoogleError::IdToken(e.to_string()))?;
            if actual != *expected {
                return Err(GoogleError::IdToken(
                    "at_hash does not match the access token".to_owned(),
                ));
            }
        }
        Ok(GoogleIdentity {
            sub: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
        })
    }
}

/// The client type `from_provider_metadata` makes, with its redirect URI set.
type CoreClientFromMetadata = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An error and its causes, on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What the token endpoint said, without its answer's body (which could hold a token).
fn describe_token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse>(
    error: &RequestTokenError<RE, T>,
) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => {
            format!("the provider refused it: {response}")
        }
        RequestTokenError::Request(e) => format!("cannot reach the provider: {}", describe(e)),
        RequestTokenError::Parse(_, _) => "the provider's answer is unreadable".to_owned(),
        RequestTokenError::Other(what) => what.clone(),
    }
}
