//! Reading requests: JSON bodies whose every failure is a `400 {"error": ...}` naming
//! the field and the rule (never axum's plain-text 415 or 422), the signed-in user from
//! the bearer token, instance ids (a UUID, or an imported instance's original id),
//! pairing codes, restore sources, and the client's address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;
use super::restore_source::RestoreSource;
use super::session::Session;
use super::state::AppState;
use crate::db::UserRecord;
use crate::domain::{LegacyKind, imported_id, is_legacy_id};
use crate::runtime::PairingCode;

/// A JSON body, validated by its type.
pub struct JsonBody<T>(pub T);

fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let message = inner.to_string();
    // serde's own words for a missing field, as the field and the rule.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        let field = if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return format!("{field}: Required");
    }
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    if path == "." || inner.is_syntax() || inner.is_eof() {
        message
    } else {
        format!("{path}: {message}")
    }
}

impl<T: DeserializeOwned + Send> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        match read_json(request, state).await? {
            Some(value) => Ok(Self(value)),
            None => Err(ApiError::invalid(vec![
                "A JSON body is required".to_owned(),
            ])),
        }
    }
}

/// A JSON body that may be left out: `None` for an empty body, checked as
/// [`JsonBody`] otherwise.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + Send> FromRequest<Arc<AppState>> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        Ok(Self(read_json(request, state).await?))
    }
}

/// The request's JSON body, `None` when it has none.
async fn read_json<T: DeserializeOwned>(
    request: Request,
    state: &Arc<AppState>,
) -> Result<Option<T>, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    let bytes = axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|e| {
            ApiError::new(
                e.status(),
                format!("cannot read the body: {}", e.body_text()),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !is_json {
        return Err(ApiError::bad_request(
            "The body must be JSON, sent with Content-Type: application/json",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| ApiError::invalid(vec![describe(e)]))?;
    deserializer.end().map_err(|e| {
        ApiError::invalid(vec![format!("the body has more after its JSON value: {e}")])
    })?;
    Ok(Some(value))
}

/// The signed-in user: a valid session token of an account that exists and whose
/// sessions have not been ended (by a password change or a sign-out everywhere) since
/// the token was issued.
pub struct SignedIn(pub UserRecord);

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let (user, _) = signed_in(parts, state).await?;
        Ok(Self(user))
    }
}

/// The signed-in user as [`SignedIn`], with when their session began (seconds since
/// the epoch; `None` for a session that does not say).
pub struct SignedInSince(pub UserRecord, pub Option<i64>);

impl FromRequestParts<Arc<AppState>> for SignedInSince {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let (user, issued_at) = signed_in(parts, state).await?;
        Ok(Self(user, issued_at))
    }
}

/// The account of the request's session token, and when the session began.
async fn signed_in(
    parts: &Parts,
    state: &Arc<AppState>,
) -> Result<(UserRecord, Option<i64>), ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    let (id, version, issued_at) = match state
        .sessions
        .check(token)
        .ok_or_else(ApiError::unauthorized)?
    {
        Session::Current(claims) => {
            let id = claims
                .sub
                .parse::<Uuid>()
                .map_err(|_| ApiError::unauthorized())?;
            (id, claims.tv.unwrap_or_default(), claims.iat)
        }
        Session::Original(claims) => {
            // The original named accounts by their cuid; only an account imported
            // from it under that id, after the session began, is its holder's.
            if !is_legacy_id(&claims.sub) {
                return Err(ApiError::unauthorized());
            }
            let id = imported_id(LegacyKind::User, &claims.sub);
            let imported_at = state.db.users().imported_at(id, &claims.sub).await?;
            let issued = claims.iat.unwrap_or(i64::MAX);
            if imported_at.is_none_or(|at| issued >= at.timestamp()) {
                return Err(ApiError::unauthorized());
            }
            (id, 0, claims.iat)
        }
    };
    let user = state
        .db
        .users()
        .find(id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if user.token_version != version {
        return Err(ApiError::unauthorized());
    }
    Ok((user, issued_at))
}

/// An instance id from the path: a UUID, or the original system's id of an imported
/// instance; anything else names no instance.
pub struct InstanceId(pub Uuid);

impl FromRequestParts<Arc<AppState>> for InstanceId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let text = path_param(parts, state, "id")
            .await
            .ok_or_else(ApiError::instance_not_found)?;
        let text = text.as_str();
        match text.parse::<Uuid>() {
            Ok(id) => Ok(Self(id)),
            Err(_) if is_legacy_id(text) => Ok(Self(imported_id(LegacyKind::Instance, text))),
            Err(_) => Err(ApiError::instance_not_found()),
        }
    }
}

/// The path parameter `name` of the matched route, if it has one.
async fn path_param(parts: &mut Parts, state: &Arc<AppState>, name: &str) -> Option<String> {
    let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .ok()?;
    params.remove(name)
}

/// A pairing code from the path, checked before it goes anywhere near a command line.
pub struct PairingCodeParam(pub PairingCode);

impl FromRequestParts<Arc<AppState>> for PairingCodeParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let text = path_param(parts, state, "code").await.unwrap_or_default();
        PairingCode::parse(&text)
            .map(Self)
            .map_err(|rule| ApiError::invalid(vec![format!("code: {rule}")]))
    }
}

/// What a restore goes back to, from the path: a snapshot or a kept volume by id,
/// checked before it is written anywhere.
pub struct RestoreSourceParam(pub RestoreSource);

impl FromRequestParts<Arc<AppState>> for RestoreSourceParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let text = path_param(parts, state, "snapshot")
            .await
            .unwrap_or_default();
        RestoreSource::parse(&text)
            .map(Self)
            .map_err(|rule| ApiError::invalid(vec![format!("snapshot: {rule}")]))
    }
}

/// The client's address: the connection's, or behind trusted proxies the one they
/// name (see [`super::client_address`]).
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(Self(state.trusted_proxies.client(peer, forwarded)))
    }
}
