//! `GET /auth/google` and `GET /auth/google/callback`: sign-in with Google, served
//! only when it is configured (otherwise both answer as an unknown route does).
//!
//! The start sends the browser to Google with a new `state`, nonce and PKCE challenge,
//! and gives it the `state` in a cookie (HttpOnly, SameSite=Lax, for `/auth/google`
//! only, 10 minutes; Secure when the callback is HTTPS); the verifier and the nonce
//! wait in the database under the state's SHA-256. The callback needs the same `state`
//! in the query and in the cookie, takes the waiting sign-in out (so a state finishes
//! one sign-in at most), exchanges the code, and signs the person in: the account
//! linked to their Google account, or the one with their email (any letter case),
//! linked now, or a new account without a password. Google must say the email is
//! verified. The session goes to `FRONTEND_URL/auth/callback?token=<JWT>`; any failure
//! to `FRONTEND_URL/sign-in?error=oauth_failed`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::client_address::rate_key;
use super::error::ApiError;
use super::extract::ClientAddress;
use super::google::{GoogleError, GoogleIdentity};
use super::state::{AppState, attempt};
use crate::db::{StoreError, UserRecord};
use crate::domain::{EmailAddress, PersonName};

/// The cookie holding the `state` of the browser's sign-in.
const COOKIE: &str = "fasterclaw_google_state";
/// The path the cookie is sent to.
const COOKIE_PATH: &str = "/auth/google";
/// How long a sign-in may take, from the start to the callback.
pub const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);

/// Why a callback signs no one in. Logged; the browser only learns that it failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the callback carries no state")]
    NoState,
    #[error("the state is not the one this browser started with")]
    StateMismatch,
    #[error("no sign-in under way has this state (finished, expired, or never started)")]
    UnknownState,
    #[error("Google answered with an error: {0}")]
    Refused(String),
    #[error("the callback carries no code")]
    NoCode,
    #[error(transparent)]
    Google(#[from] GoogleError),
    #[error("Google did not say the email is verified")]
    EmailNotVerified,
    #[error("Google gave no usable email address")]
    NoEmail,
    #[error("the account with this email is linked to another Google account")]
    LinkedElsewhere,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// `FRONTEND_URL` + `path`, with `query` added.
fn frontend(state: &AppState, path: &str, query: &[(&str, &str)]) -> String {
    let base = format!("{}{path}", state.frontend_url.trim_end_matches('/'));
    match url::Url::parse(&base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(query);
            url.into()
        }
        Err(_) => base,
    }
}

/// A 302 to `location` that no cache keeps and that passes no referrer on.
fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn failed(state: &AppState) -> Response {
    redirect(&frontend(state, "/sign-in", &[("error", "oauth_failed")]))
}

fn cookie(value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// The value of this browser's state cookie.
fn state_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Answers as the router answers a route it does not serve.
fn not_served(path: &str) -> Response {
    ApiError::new(StatusCode::NOT_FOUND, format!("Route GET {path} not found")).into_response()
}

/// `GET /auth/google`
pub async fn start(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
) -> Response {
    let Some(google) = &state.google else {
        return not_served("/auth/google");
    };
    if let Err(limited) = attempt(&state.per_address, rate_key(address)) {
        return limited.into_response();
    }
    let started = match google.start().await {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a sign-in with Google");
            return failed(&state);
        }
    };
    if let Err(e) = state
        .db
        .google_sign_ins()
        .begin(&sha256(&started.state), &started.pending)
        .await
    {
        tracing::warn!(error = %e, "cannot record a sign-in with Google");
        return failed(&state);
    }
    let mut response = redirect(started.url.as_str());
    if let Some(value) = cookie(&started.state, SIGN_IN_LIFETIME.as_secs(), google.https()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /auth/google/callback`
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(google) = &state.google else {
        return not_served("/auth/google/callback");
    };
    let mut response = match finish(&state, &headers, query.as_deref().unwrap_or("")).await {
        Ok(record) => {
            let token = state.sessions.issue(
                &record.id.to_string(),
                &record.email,
                record.name.as_deref(),
                record.token_version,
            );
            redirect(&frontend(&state, "/auth/callback", &[("token", &token)]))
        }
        Err(e) => {
            tracing::warn!(reason = %e, "a sign-in with Google failed");
            failed(&state)
        }
    };
    // The state is spent either way.
    if let Some(value) = cookie("", 0, google.https()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn finish(state: &AppState, headers: &HeaderMap, query: &str) -> Result<UserRecord, Failure> {
    let google = state
        .google
        .as_ref()
        .ok_or(Failure::Google(GoogleError::Setting(
            "not configured".to_owned(),
        )))?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let given = param("state")
        .filter(|s| !s.is_empty())
        .ok_or(Failure::NoState)?;
    let held = state_cookie(headers).ok_or(Failure::StateMismatch)?;
    // Compared as digests, so the time taken tells nothing of the held state.
    let digest = sha256(given);
    if digest != sha256(&held) {
        return Err(Failure::StateMismatch);
    }
    let pending = state
        .db
        .google_sign_ins()
        .take(&digest, SIGN_IN_LIFETIME)
        .await?
        .ok_or(Failure::UnknownState)?;
    if let Some(error) = param("error") {
        return Err(Failure::Refused(error.chars().take(64).collect()));
    }
    let code = param("code")
        .filter(|c| !c.is_empty())
        .ok_or(Failure::NoCode)?;
    let identity = google.finish(code, &pending).await?;
    account(state, &identity).await
}

/// The account `identity` signs in to: found by its Google id, or by its verified
/// email (and linked), or created.
async fn account(state: &AppState, identity: &GoogleIdentity) -> Result<UserRecord, Failure> {
    if !identity.email_verified {
        return Err(Failure::EmailNotVerified);
    }
    let users = state.db.users();
    if let Some(record) = users.find_by_google_sub(&identity.sub).await? {
        return Ok(record);
    }
    let email = identity
        .email
        .clone()
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or(Failure::NoEmail)?;
    if let Some(record) = users.find_by_email(email.as_str()).await? {
        return link(state, record, &identity.sub).await;
    }
    let name = identity.name.as_deref().and_then(person_name);
    match users
        .create_with_google(&email, name.as_ref().map(PersonName::as_str), &identity.sub)
        .await
    {
        Ok(record) => Ok(record),
        // Created at the same moment by another request: that account is the one.
        Err(StoreError::EmailTaken) => match users.find_by_email(email.as_str()).await? {
            Some(record) => link(state, record, &identity.sub).await,
            None => Err(Failure::Store(StoreError::EmailTaken)),
        },
        Err(StoreError::GoogleAccountTaken) => users
            .find_by_google_sub(&identity.sub)
            .await?
            .ok_or(Failure::Store(StoreError::GoogleAccountTaken)),
        Err(e) => Err(e.into()),
    }
}

/// Links the account found by email to the Google account `sub`, unless it is linked
/// to another.
async fn link(state: &AppState, record: UserRecord, sub: &str) -> Result<UserRecord, Failure> {
    if state.db.users().link_google(record.id, sub).await? {
        Ok(record)
    } else {
        Err(Failure::LinkedElsewhere)
    }
}

/// Google's name for the person, cut to the longest name an account keeps.
fn person_name(name: &str) -> Option<PersonName> {
    let cut: String = name.trim().chars().take(100).collect();
    PersonName::parse(cut).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; fasterclaw_google_state=abc ; b=2"),
        );
        assert_eq!(state_cookie(&headers).as_deref(), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("fasterclaw_google_state="),
        );
        assert_eq!(state_cookie(&headers), None);
    }

    #[test]
    fn the_cookie_is_scoped_and_hidden_from_scripts() {
        let value = cookie("s", 600, true).unwrap();
        let text = value.to_str().unwrap();
        for part in [
            "Path=/auth/google",
            "Max-Age=600",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
        ] {
            assert!(text.contains(part), "{text}");
        }
        assert!(
            !cookie("s", 600, false)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn long_names_are_cut_and_blank_ones_dropped() {
        assert_eq!(person_name(&"x".repeat(300)).unwrap().as_str().len(), 100);
        assert!(person_name("   ").is_none());
    }
}
