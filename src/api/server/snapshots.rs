//! `/instances/{id}/snapshots`: the owner sees the snapshots of the assistant's volume
//! and goes back to one, or to a volume kept after an earlier restore or move (undoing
//! it). The listing is read from the Instance's status, never from Fly.io; a restore is
//! asked of the controller with the `fasterclaw.io/restore` annotation and its answer
//! read from `status.restore`, as `kubectl` users do.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::answer;
use super::error::ApiError;
use super::extract::{InstanceId, RestoreSourceParam, SignedIn};
use super::instances::{find, now, patch, seen};
use super::restore_source::{MAX_ID_LEN, RestoreSource};
use super::state::AppState;
use super::views::{self, Seen};
use crate::api::contract::{
    RestoreResponse, RestoreState, RestoreView, RetainedVolumeView, SnapshotList, SnapshotView,
    VolumeView,
};
use crate::crd::annotation::{RECONCILE_REQUESTED_AT, RESTORE};
use crate::crd::{Instance, InstanceStatus, Phase, RestoreResult, RestoreStatus};
use crate::db::InstanceRecord;

/// `GET /instances/{id}/snapshots`: from the cache only. The controller lists the
/// snapshots every 6 hours and after each snapshot or restore, and asking it for a
/// reconcile would not list them sooner; `listedAt` says how old the listing is.
pub async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<SnapshotList>, ApiError> {
    let (_, instance) = find(&state, &user, id).await?;
    match seen(&state, &instance) {
        Seen::Present(instance) => Ok(Json(listing(instance))),
        Seen::Gone => Ok(Json(SnapshotList::default())),
        Seen::Unknown => Err(still_loading()),
    }
}

/// `POST /instances/{id}/snapshots/{snapshot}/restore`
pub async fn restore(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
    RestoreSourceParam(source): RestoreSourceParam,
) -> Result<(StatusCode, Json<RestoreResponse>), ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    let instance = restorable(&state, &record, instance)?;
    let status = instance.status.clone().unwrap_or_default();
    known(&status, &source)?;
    if let Some(last) = status
        .restore
        .as_ref()
        .filter(|r| r.source == source.as_str())
    {
        return Err(ApiError::conflict(format!(
            "The last restore was from {source} ({} at {}); the same snapshot or volume is not restored twice in a row",
            result_word(last.result),
            last.handled_at
        )));
    }
    if let Some(asked) = pending(&instance).filter(|asked| *asked != source.as_str()) {
        return Err(ApiError::conflict(format!(
            "A restore from {asked} is under way; wait until it is done"
        )));
    }
    patch(
        &state,
        &record,
        json!({ "metadata": { "annotations": {
            RESTORE: source.as_str(),
            RECONCILE_REQUESTED_AT: now(),
        } } }),
    )
    .await?;
    let answered = answer::wait_for(&state, &record.name, |instance| {
        handled(instance).is_some_and(|r| r.source == source.as_str())
    })
    .await;
    let Some(handled) = answered.as_deref().and_then(handled).cloned() else {
        return Ok((
            StatusCode::ACCEPTED,
            Json(RestoreResponse {
                restore: pending_view(source.as_str()),
            }),
        ));
    };
    match handled.result {
        RestoreResult::Restored => Ok((
            StatusCode::OK,
            Json(RestoreResponse {
                restore: handled_view(&handled),
            }),
        )),
        RestoreResult::Refused => Err(ApiError::conflict(format!(
            "The restore from {source} was refused: {}",
            handled
                .message
                .as_deref()
                .unwrap_or("the controller gave no reason")
        ))),
    }
}

/// The Instance, when it can take a restore: not deleted or being deleted, not paused
/// (the controller writes nothing then), not FAILED (it waits for a retry). RUNNING,
/// STOPPED and the phases between take one.
fn restorable(
    state: &AppState,
    record: &InstanceRecord,
    instance: Option<Arc<Instance>>,
) -> Result<Arc<Instance>, ApiError> {
    let phase = views::phase(record, seen(state, &instance));
    let instance = match (phase, instance) {
        (Phase::Deleted, _) => return Err(ApiError::conflict("Instance is deleted")),
        (_, None) => return Err(still_loading()),
        (_, Some(instance)) => instance,
    };
    if instance.metadata.deletion_timestamp.is_some() {
        Err(ApiError::conflict("Instance is being deleted"))
    } else if instance.is_paused() {
        Err(ApiError::conflict(
            "Instance is paused by an operator; it can be restored once it is resumed",
        ))
    } else if phase == Phase::Failed {
        Err(ApiError::conflict(
            "Instance has failed; retry it before restoring",
        ))
    } else {
        Ok(instance)
    }
}

/// 404 unless the source is one of the Instance's snapshots or kept volumes.
fn known(status: &InstanceStatus, source: &RestoreSource) -> Result<(), ApiError> {
    let (found, what) = match source {
        RestoreSource::Snapshot(id) => (status.snapshots.iter().any(|s| s.id == *id), "snapshot"),
        RestoreSource::Volume(id) => (
            status.retained_volumes.iter().any(|v| v.id == *id),
            "kept volume",
        ),
    };
    if found {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No {what} {source} for this instance"),
        ))
    }
}

fn still_loading() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "The facade is still loading the instances; try again in a moment",
    )
}

fn handled(instance: &Instance) -> Option<&RestoreStatus> {
    instance.status.as_ref().and_then(|s| s.restore.as_ref())
}

/// The source a restore annotation asks for that the controller has not handled yet.
fn pending(instance: &Instance) -> Option<&str> {
    let asked = instance.annotation(RESTORE)?.trim();
    let last = handled(instance).map(|r| r.source.as_str());
    (last != Some(asked)).then_some(asked)
}

fn result_word(result: RestoreResult) -> &'static str {
    match result {
        RestoreResult::Restored => "restored",
        RestoreResult::Refused => "refused",
    }
}

/// What the owner sees of an Instance's storage.
fn listing(instance: &Instance) -> SnapshotList {
    let status = instance.status.as_ref();
    SnapshotList {
        snapshots: status
            .map(|s| &s.snapshots[..])
            .unwrap_or_default()
            .iter()
            .map(|s| SnapshotView {
                id: s.id.clone(),
                created_at: s.created_at.clone(),
                size_bytes: s.size_bytes,
                volume_size_gb: s.volume_size_gb,
                status: s.status.clone(),
            })
            .collect(),
        listed_at: status.and_then(|s| s.snapshots_listed_at.clone()),
        volume: status.and_then(|s| s.volume.as_ref()).map(|v| VolumeView {
            id: v.id.clone(),
            region: v.region.clone(),
            size_gb: v.size_gb,
        }),
        retained_volumes: status
            .map(|s| &s.retained_volumes[..])
            .unwrap_or_default()
            .iter()
            .map(|v| RetainedVolumeView {
                id: v.id.clone(),
                region: v.region.clone(),
                reason: v.reason.clone(),
                until: v.until.clone(),
            })
            .collect(),
        last_restore: match pending(instance) {
            Some(asked) => Some(pending_view(asked)),
            None => handled(instance).map(handled_view),
        },
    }
}

fn handled_view(restore: &RestoreStatus) -> RestoreView {
    RestoreView {
        source: restore.source.clone(),
        result: match restore.result {
            RestoreResult::Restored => RestoreState::Restored,
            RestoreResult::Refused => RestoreState::Refused,
        },
        volume: restore.volume.clone(),
        message: restore.message.clone(),
        handled_at: Some(restore.handled_at.clone()),
    }
}

fn pending_view(source: &str) -> RestoreView {
    RestoreView {
        source: source.chars().take(MAX_ID_LEN).collect(),
        result: RestoreState::Pending,
        volume: None,
        message: Some(
            "The controller has not carried it out yet: it stops the assistant, puts its state back from the source and starts it again as it was; GET /instances/{id}/snapshots shows the result in lastRestore".to_owned(),
        ),
        handled_at: None,
    }
}
