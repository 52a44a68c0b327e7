//! The Volumes endpoints of the Machines API (`/v1/apps/{app}/volumes…`), behind the
//! same pipeline as the others (see `api`). The rules are in `volume_ops`; with a
//! machine runtime, each handler also keeps the volumes' dirs (see
//! [`super::runtime::disk`]): a new volume gets an empty dir, a copy of its snapshot's
//! or of its source volume's; a snapshot copies its volume's dir; a deleted volume's
//! dir goes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::Value;

use super::error::ApiError;
use super::request::{self, json_body, query_flag, query_value};
use super::runtime::disk;
use super::shared::Shared;
use super::volume_ops::Source;

type Shared_ = State<Arc<Shared>>;

/// The routes of the Volumes endpoints.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/v1/apps/{app_name}/volumes",
            get(list_volumes).post(create_volume),
        )
        .route(
            "/v1/apps/{app_name}/volumes/{volume_id}",
            get(show_volume).put(update_volume).delete(delete_volume),
        )
        .route(
            "/v1/apps/{app_name}/volumes/{volume_id}/extend",
            put(extend_volume),
        )
        .route(
            "/v1/apps/{app_name}/volumes/{volume_id}/snapshots",
            get(list_snapshots).post(create_snapshot),
        )
}

/// The spec's operation id of a Volumes route, if it is one.
pub fn operation_id(method: &str, path: &str) -> Option<&'static str> {
    Some(match (method, path) {
        ("GET", "/v1/apps/{app_name}/volumes") => "Volumes_list",
        ("POST", "/v1/apps/{app_name}/volumes") => "Volumes_create",
        ("GET", "/v1/apps/{app_name}/volumes/{volume_id}") => "Volumes_get_by_id",
        ("PUT", "/v1/apps/{app_name}/volumes/{volume_id}") => "Volumes_update",
        ("DELETE", "/v1/apps/{app_name}/volumes/{volume_id}") => "Volume_delete",
        ("PUT", "/v1/apps/{app_name}/volumes/{volume_id}/extend") => "Volumes_extend",
        ("GET", "/v1/apps/{app_name}/volumes/{volume_id}/snapshots") => "Volumes_list_snapshots",
        ("POST", "/v1/apps/{app_name}/volumes/{volume_id}/snapshots") => "createVolumeSnapshot",
        _ => return None,
    })
}

/// Reads what the volumes' dirs hold into the world, so `bytes_used` follows the data.
fn refresh_usage(shared: &Shared, app: &str, only: Option<&str>) {
    let Some(runtime) = &shared.runtime else {
        return;
    };
    let ids: Vec<String> = match shared.world().app(app) {
        Ok(a) => a
            .volumes
            .iter()
            .filter(|v| only.is_none_or(|id| v.id == id) && !v.state().is_destroyed())
            .map(|v| v.id.clone())
            .collect(),
        Err(_) => return,
    };
    let sizes: Vec<(String, u64)> = ids
        .into_iter()
        .map(|id| {
            let size = disk::dir_size(&runtime.config().volume_dir(&id));
            (id, size)
        })
        .collect();
    let mut world = shared.world();
    for (id, size) in sizes {
        world.set_usage(app, &id, None, size);
    }
}

fn io_error(what: &str, e: &std::io::Error) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}: {e}"))
}

async fn list_volumes(
    State(shared): Shared_,
    Path(app): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let limit = query_value(&query, "limit")
        .map(|l| {
            l.parse::<usize>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| ApiError::bad_request("limit must be between 1 and 1000"))
        })
        .transpose()?;
    let cursor = query_value(&query, "cursor");
    if cursor.is_some() && limit.is_none() {
        return Err(ApiError::bad_request("cursor requires limit"));
    }
    refresh_usage(&shared, &app, None);
    let page = shared
        .world()
        .list_volumes(&app, query_flag(&query, "summary"), limit, cursor)?;
    Ok(request::page(page.volumes, page.next_cursor))
}

async fn create_volume(
    State(shared): Shared_,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    if let Source::Volume(source) = &request_source(&request) {
        refresh_usage(&shared, &app, Some(source));
    }
    let (volume, provision) = shared
        .world()
        .create_volume(&app, &request, shared.transition())?;
    if let Some(runtime) = &shared.runtime {
        let rt = runtime.config();
        let from = match &provision.source {
            Source::Empty => None,
            Source::Snapshot(id) => Some(rt.snapshot_dir(id)),
            Source::Volume(id) => Some(rt.volume_dir(id)),
        };
        let to = rt.volume_dir(&provision.id);
        let made = match from {
            Some(from) => disk::copy_dir(&from, &to),
            None => disk::fresh_dir(&to),
        };
        made.map_err(|e| io_error("creating the volume's dir", &e))?;
    }
    Ok(Json(volume))
}

/// The volume a create forks, to read its usage first.
fn request_source(request: &Value) -> Source {
    match request["source_volume_id"].as_str() {
        Some(id) if !id.is_empty() => Source::Volume(id.to_owned()),
        _ => Source::Empty,
    }
}

async fn show_volume(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    refresh_usage(&shared, &app, Some(&id));
    Ok(Json(shared.world().app(&app)?.volume(&id)?.to_json(false)))
}

async fn update_volume(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    Ok(Json(shared.world().update_volume(&app, &id, &request)?))
}

async fn delete_volume(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (volume, deleted) = shared
        .world()
        .delete_volume(&app, &id, shared.transition())?;
    if deleted && let Some(runtime) = &shared.runtime {
        disk::remove_dir(&runtime.config().volume_dir(&id))
            .map_err(|e| io_error("removing the volume's dir", &e))?;
    }
    Ok(Json(volume))
}

async fn extend_volume(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    Ok(Json(shared.world().extend_volume(&app, &id, &request)?))
}

async fn list_snapshots(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(shared.world().list_snapshots(&app, &id)?))
}

/// `POST …/snapshots`: 200 with no body, as the spec has it.
async fn create_snapshot(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let snapshot = shared
        .world()
        .create_snapshot(&app, &id, shared.transition())?;
    if let Some(runtime) = &shared.runtime {
        let rt = runtime.config();
        let from = rt.volume_dir(&id);
        disk::copy_dir(&from, &rt.snapshot_dir(&snapshot))
            .map_err(|e| io_error("copying the volume", &e))?;
        let size = disk::dir_size(&from);
        shared.world().set_usage(&app, &id, Some(&snapshot), size);
    }
    Ok(StatusCode::OK)
}

/// Removes the dirs of a deleted app's volumes and snapshots.
pub fn remove_app_dirs(shared: &Shared, app: &super::world::App) {
    let Some(runtime) = &shared.runtime else {
        return;
    };
    let rt = runtime.config();
    for volume in &app.volumes {
        let dirs = std::iter::once(rt.volume_dir(&volume.id))
            .chain(volume.snapshots.iter().map(|s| rt.snapshot_dir(&s.id)));
        for dir in dirs {
            if let Err(e) = disk::remove_dir(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a deleted app's volume dir");
            }
        }
    }
}
