//! `/instances/{id}/pairing-requests`: the owner sees who waits for approval and lets
//! them in. The facade never reaches a machine itself: it asks the controller through
//! the Instance's annotations and reads the answer from its status, as `kubectl` users
//! do.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::answer;
use super::error::ApiError;
use super::extract::{InstanceId, PairingCodeParam, SignedIn};
use super::instances::{find, now, patch, seen};
use super::state::AppState;
use super::views;
use crate::api::contract::{PairingApprovalResponse, PairingRequestList, PairingRequestView};
use crate::crd::annotation::{APPROVE_PAIRING_CODE, RECONCILE_REQUESTED_AT};
use crate::crd::{ApprovalResult, Instance, Phase};

/// `GET /instances/{id}/pairing-requests`
pub async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<PairingRequestList>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    running(views::phase(&record, seen(&state, &instance)))?;
    if instance
        .as_ref()
        .is_some_and(|i| !i.spec.telegram_user_ids.is_empty())
    {
        // Under an allowlist nobody is sent a code.
        return Ok(Json(PairingRequestList::default()));
    }
    let stamp = now();
    patch(
        &state,
        &record,
        json!({ "metadata": { "annotations": { RECONCILE_REQUESTED_AT: stamp } } }),
    )
    .await?;
    let answered = wait_for_reconcile(&state, &record.name, &stamp).await?;
    let pairing = answered
        .status
        .as_ref()
        .and_then(|s| s.pairing.clone())
        .unwrap_or_default();
    if let Some(error) = pairing.list_error {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("The assistant could not list its pairing requests: {error}"),
        ));
    }
    Ok(Json(PairingRequestList {
        requests: pairing
            .pending
            .into_iter()
            .map(|p| PairingRequestView {
                code: p.code,
                telegram_user_id: p.telegram_user_id,
                username: p.username,
                first_name: p.first_name,
                requested_at: p.requested_at,
            })
            .collect(),
        listed_at: pairing.listed_at,
    }))
}

/// `POST /instances/{id}/pairing-requests/{code}/approve`
pub async fn approve(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
    PairingCodeParam(code): PairingCodeParam,
) -> Result<Json<PairingApprovalResponse>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    running(views::phase(&record, seen(&state, &instance)))?;
    let stamp = now();
    patch(
        &state,
        &record,
        json!({ "metadata": { "annotations": {
            APPROVE_PAIRING_CODE: code.as_str(),
            RECONCILE_REQUESTED_AT: stamp,
        } } }),
    )
    .await?;
    let answered = wait_for_reconcile(&state, &record.name, &stamp).await?;
    let approval = answered
        .status
        .as_ref()
        .and_then(|s| s.pairing.as_ref())
        .and_then(|p| p.approval.clone())
        .filter(|a| a.code == code.as_str())
        .ok_or_else(|| {
            ApiError::conflict("The assistant is not running, so nobody can be let in now")
        })?;
    let message = approval.message.clone().unwrap_or_default();
    match approval.result {
        ApprovalResult::Approved => Ok(Json(PairingApprovalResponse {
            code: approval.code,
            telegram_user_id: approval.telegram_user_id,
        })),
        ApprovalResult::NotPending => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No pairing request with code {code}: {message}"),
        )),
        ApprovalResult::Invalid => Err(ApiError::bad_request(message)),
        ApprovalResult::Failed => Err(ApiError::new(StatusCode::BAD_GATEWAY, message)),
    }
}

fn running(phase: Phase) -> Result<(), ApiError> {
    if phase == Phase::Running {
        Ok(())
    } else {
        Err(ApiError::bad_request("Instance is not running"))
    }
}

/// Waits until the controller has handled the reconcile requested at `stamp`, and
/// returns the Instance as it then is.
async fn wait_for_reconcile(
    state: &AppState,
    name: &str,
    stamp: &str,
) -> Result<Arc<Instance>, ApiError> {
    answer::wait_for(state, name, |instance| {
        instance
            .status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some(stamp)
    })
    .await
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The controller has not answered yet; try again in a moment",
        )
    })
}
