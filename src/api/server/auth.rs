//! Accounts: register, sign in, the signed-in user, profile, password, signing out
//! everywhere, and deletion.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kube::api::{DeleteParams, ListParams};

use super::client_address::rate_key;
use super::error::ApiError;
use super::extract::{ClientAddress, JsonBody, OptionalJsonBody, SignedIn, SignedInSince};
use super::passwords::Verified;
use super::state::{AppState, attempt};
use crate::api::contract::{
    DeleteAccountRequest, LoginRequest, MessageResponse, RegisterRequest, TokenResponse,
    UpdatePasswordRequest, UpdateProfileRequest, User,
};
use crate::crd::label;
use crate::db::{StoreError, UserRecord};
use crate::domain::Timestamp;

/// How recent a sign-in must be to delete an account that has no password.
pub const FRESH_SIGN_IN: std::time::Duration = std::time::Duration::from_secs(600);

fn user(record: &UserRecord) -> User {
    User {
        id: record.id,
        email: record.email.clone(),
        name: record.name.clone(),
        created_at: Timestamp::from(record.created_at),
        updated_at: Timestamp::from(record.updated_at),
    }
}

/// The key of a signed-in account's attempts (sign-ins are keyed by email).
fn account_key(record: &UserRecord) -> String {
    format!("account:{}", record.id)
}

fn session(state: &AppState, record: &UserRecord) -> TokenResponse {
    TokenResponse {
        access_token: state.sessions.issue(
            &record.id.to_string(),
            &record.email,
            record.name.as_deref(),
            record.token_version,
        ),
        user: user(record),
    }
}

/// `POST /auth/register`
pub async fn register(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    attempt(&state.per_address, rate_key(address))?;
    let hash = state
        .passwords
        .hash(body.password.expose().to_owned())
        .await?;
    let record = match state
        .db
        .users()
        .create(&body.email, Some(&hash), Some(body.name.as_str()))
        .await
    {
        Err(StoreError::EmailTaken) => return Err(ApiError::conflict("User already exists")),
        other => other?,
    };
    Ok((StatusCode::CREATED, Json(session(&state, &record))))
}

/// `POST /auth/login`
pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    attempt(&state.per_address, rate_key(address))?;
    attempt(&state.per_account, body.email.as_str().to_lowercase())?;
    let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, "Invalid credentials");
    // An unknown email, or an account without a password, costs a check all the same,
    // so timing does not tell them apart.
    let record = state.db.users().find_by_email(body.email.as_str()).await?;
    let stored = record.as_ref().and_then(|r| r.password_hash.clone());
    let verified = state
        .passwords
        .verify(stored.clone(), body.password.expose().to_owned())
        .await?;
    let Some(record) = record.filter(|_| verified != Verified::No) else {
        return Err(invalid());
    };
    if verified == Verified::YesRehash
        && let Some(old) = stored
    {
        // The original's bcrypt hash: replaced with argon2id now that the password is
        // known, unless the password changed in the meantime.
        match state
            .passwords
            .hash(body.password.expose().to_owned())
            .await
        {
            Ok(new) => {
                if let Err(e) = state
                    .db
                    .users()
                    .upgrade_password_hash(record.id, &old, &new)
                    .await
                {
                    tracing::warn!(error = %e, "cannot upgrade a password hash; keeping the old one");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot upgrade a password hash"),
        }
    }
    Ok(Json(session(&state, &record)))
}

/// `GET /auth/me`
pub async fn me(SignedIn(record): SignedIn) -> Json<User> {
    Json(user(&record))
}

/// `PATCH /auth/profile`
pub async fn update_profile(
    State(state): State<Arc<AppState>>,
    SignedIn(record): SignedIn,
    JsonBody(body): JsonBody<UpdateProfileRequest>,
) -> Result<Json<User>, ApiError> {
    let updated = state
        .db
        .users()
        .update_name(record.id, body.name.as_str())
        .await?;
    Ok(Json(user(&updated)))
}

/// `PATCH /auth/password`
pub async fn update_password(
    State(state): State<Arc<AppState>>,
    SignedIn(record): SignedIn,
    JsonBody(body): JsonBody<UpdatePasswordRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    attempt(&state.per_account, account_key(&record))?;
    if record.password_hash.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "Password change not available for this account",
        ));
    }
    let verified = state
        .passwords
        .verify(
            record.password_hash.clone(),
            body.current_password.expose().to_owned(),
        )
        .await?;
    if verified == Verified::No {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Current password is incorrect",
        ));
    }
    let hash = state
        .passwords
        .hash(body.new_password.expose().to_owned())
        .await?;
    state.db.users().change_password(record.id, &hash).await?;
    Ok(Json(MessageResponse {
        message: "Password updated successfully".to_owned(),
    }))
}

/// `POST /auth/logout-all`: ends every session of the account, this one included.
pub async fn logout_all(
    State(state): State<Arc<AppState>>,
    SignedIn(record): SignedIn,
) -> Result<Json<MessageResponse>, ApiError> {
    state
        .db
        .users()
        .end_sessions(record.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(MessageResponse {
        message: "Signed out of every session".to_owned(),
    }))
}

/// Whether the caller of a deletion has shown, just now, that they hold the account:
/// its password when it has one, else a sign-in within [`FRESH_SIGN_IN`].
async fn confirm_deletion(
    state: &AppState,
    record: &UserRecord,
    issued_at: Option<i64>,
    body: Option<DeleteAccountRequest>,
) -> Result<(), ApiError> {
    let Some(hash) = record.password_hash.clone().filter(|h| !h.is_empty()) else {
        let age = issued_at.map(|at| chrono::Utc::now().timestamp() - at);
        if age.is_none_or(|age| age > FRESH_SIGN_IN.as_secs() as i64) {
            return Err(ApiError::forbidden(
                "Sign in again to delete your account: your sign-in must be less than 10 minutes old",
            ));
        }
        return Ok(());
    };
    let Some(password) = body.and_then(|b| b.password) else {
        return Err(ApiError::invalid(vec![
            "password: Required to delete an account that has a password".to_owned(),
        ]));
    };
    let verified = state
        .passwords
        .verify(Some(hash), password.expose().to_owned())
        .await?;
    if verified == Verified::No {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Password is incorrect",
        ));
    }
    Ok(())
}

/// `DELETE /auth/account`: with the password (or, for an account without one, a
/// fresh sign-in), the account's Instances are deleted through the controller (which
/// removes their Fly.io apps), then the account and, by cascade, its records.
pub async fn delete_account(
    State(state): State<Arc<AppState>>,
    SignedInSince(record, issued_at): SignedInSince,
    OptionalJsonBody(body): OptionalJsonBody<DeleteAccountRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    attempt(&state.per_account, account_key(&record))?;
    confirm_deletion(&state, &record, issued_at, body).await?;
    super::billing::cancel_before_deletion(&state, &record).await?;
    let selector = label::owned_by(record.id);
    state
        .instances
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await?;
    state.db.users().delete(record.id).await?;
    Ok(Json(MessageResponse {
        message: "Account deleted successfully".to_owned(),
    }))
}
