//! Accounts: register, sign in, the signed-in user, profile, password, and deletion.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kube::api::{DeleteParams, ListParams};

use super::client_address::rate_key;
use super::error::ApiError;
use super::extract::{ClientAddress, JsonBody, SignedIn};
use super::passwords::Verified;
use super::state::{AppState, attempt};
use crate::api::contract::{
    LoginRequest, MessageResponse, RegisterRequest, TokenResponse, UpdatePasswordRequest,
    UpdateProfileRequest, User,
};
use crate::crd::label;
use crate::db::{StoreError, UserRecord};
use crate::domain::Timestamp;

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

/// `DELETE /auth/account`: the account's Instances are deleted through the controller
/// (which removes their Fly.io apps), then the account and, by cascade, its records.
pub async fn delete_account(
    State(state): State<Arc<AppState>>,
    SignedIn(record): SignedIn,
) -> Result<Json<MessageResponse>, ApiError> {
    attempt(&state.per_account, account_key(&record))?;
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
