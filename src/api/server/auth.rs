//! Accounts: register, sign in, the signed-in user, profile, password, and deletion.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kube::api::{DeleteParams, ListParams};

use super::cache::{MANAGED_BY, OWNER};
use super::error::ApiError;
use super::extract::{ClientAddress, JsonBody, SignedIn};
use super::passwords::{self, Verified};
use super::state::{AppState, attempt};
use crate::api::contract::{
    LoginRequest, MessageResponse, RegisterRequest, TokenResponse, UpdatePasswordRequest,
    UpdateProfileRequest, User,
};
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
    attempt(&state.per_address, address.to_string())?;
    let hash = passwords::hash(body.password.expose().to_owned())
        .await
        .map_err(|e| ApiError::internal(&e))?;
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
    attempt(&state.per_address, address.to_string())?;
    attempt(&state.per_account, body.email.as_str().to_lowercase())?;
    let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, "Invalid credentials");
    let Some(record) = state.db.users().find_by_email(body.email.as_str()).await? else {
        // The same work as for a known account, so timing does not tell them apart.
        passwords::verify_nothing(body.password.expose().to_owned()).await;
        return Err(invalid());
    };
    match passwords::verify(
        record.password_hash.clone(),
        body.password.expose().to_owned(),
    )
    .await
    {
        Verified::No => Err(invalid()),
        Verified::Yes => Ok(Json(session(&state, &record))),
        Verified::YesRehash => {
            // The original's bcrypt hash: replaced with argon2id now that the password is known.
            match passwords::hash(body.password.expose().to_owned()).await {
                Ok(hash) => {
                    if let Err(e) = state
                        .db
                        .users()
                        .update_password_hash(record.id, &hash)
                        .await
                    {
                        tracing::warn!(error = %e, "cannot upgrade a password hash; keeping the old one");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot upgrade a password hash"),
            }
            Ok(Json(session(&state, &record)))
        }
    }
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
    if record.password_hash.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "Password change not available for this account",
        ));
    }
    if passwords::verify(
        record.password_hash.clone(),
        body.current_password.expose().to_owned(),
    )
    .await
        == Verified::No
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Current password is incorrect",
        ));
    }
    let hash = passwords::hash(body.new_password.expose().to_owned())
        .await
        .map_err(|e| ApiError::internal(&e))?;
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
    super::billing::cancel_before_deletion(&state, &record).await?;
    let selector = format!("{}={},{}={}", MANAGED_BY.0, MANAGED_BY.1, OWNER, record.id);
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
