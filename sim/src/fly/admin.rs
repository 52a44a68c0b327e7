//! The admin view, under `/_sim/`: the whole state (secret values as digests only;
//! volumes with their snapshots; the regions' switches), call counts per operation, and
//! switches for faults, rate limits, transition time and regions (`GET /_sim/regions`,
//! `PUT /_sim/regions/{region}` with `{"full": bool, "quota": bool}`, see
//! [`RegionFaults`]), and the broken releases (`GET /_sim/broken-images`,
//! `PUT /_sim/broken-images` with the list of images whose machines exit at start, see
//! [`crate::fly::FlySim::set_broken_images`]).
//! `POST /_sim/apps/{app}/machines/{id}/host-failure`, `…/oom-kill` and `…/hang` inject
//! a machine's faults (see [`fail_host`], [`oom_kill`], [`hang`]).
//! It needs no token; it exists only in the simulator. With a machine runtime, machines
//! also show their process (`pid`) and host ports (`ports`), and
//! `/_sim/apps/{app}/machines/{id}/log` gives a machine's output.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::faults::FaultPlan;
use super::shared::Shared;
use super::volumes::RegionFaults;

/// The admin router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/calls", get(calls).delete(reset_calls))
        .route("/_sim/faults", get(faults).put(set_faults))
        .route("/_sim/rate-limits", put(set_rate_limits))
        .route("/_sim/transition", put(set_transition))
        .route("/_sim/regions", get(regions))
        .route("/_sim/regions/{region}", put(set_region))
        .route(
            "/_sim/broken-images",
            get(broken_images).put(set_broken_images),
        )
        .route("/_sim/apps/{app}/machines/{id}/log", get(machine_log_route))
        .route(
            "/_sim/apps/{app}/machines/{id}/host-failure",
            fault_route(fail_host, StatusCode::NOT_FOUND),
        )
        .route(
            "/_sim/apps/{app}/machines/{id}/oom-kill",
            fault_route(oom_kill, StatusCode::CONFLICT),
        )
        .route(
            "/_sim/apps/{app}/machines/{id}/hang",
            fault_route(hang, StatusCode::NOT_FOUND),
        )
        .route(
            "/_sim/healthz",
            post(|| async { StatusCode::OK }).get(|| async { StatusCode::OK }),
        )
        .with_state(shared)
}

/// A `POST` injecting a machine's fault: 204 when it took, `refused` when it did not.
fn fault_route(
    fault: fn(&Shared, &str, &str) -> bool,
    refused: StatusCode,
) -> MethodRouter<Arc<Shared>> {
    post(
        move |State(shared): State<Arc<Shared>>, Path((app, id)): Path<(String, String)>| async move {
            if fault(&shared, &app, &id) {
                StatusCode::NO_CONTENT
            } else {
                refused
            }
        },
    )
}

/// The whole state as JSON: apps with their secrets (digests), machines (as the API
/// shows them, plus the secrets version each booted with) and volumes (as the API shows
/// them, with their `snapshots`), the regions' switches and the broken releases.
pub fn snapshot(shared: &Shared) -> Value {
    let live = shared.runtime.as_ref().map(|r| r.all_live());
    let world = shared.world();
    let apps: Vec<Value> = world
        .apps
        .values()
        .map(|app| {
            let secrets: Vec<Value> = app
                .secrets
                .iter()
                .map(|(name, secret)| json!({ "name": name, "digest": secret.digest() }))
                .collect();
            let machines: Vec<Value> = app
                .machines
                .values()
                .map(|m| {
                    let mut body = m.to_json();
                    body["booted_secrets_version"] = json!(m.booted_secrets_version);
                    body["min_secrets_version"] = json!(m.min_secrets_version);
                    if let Some(live) = &live {
                        let machine = live.get(&(app.name.clone(), m.id.clone()));
                        let ports: serde_json::Map<String, Value> = machine
                            .map(|l| {
                                l.ports
                                    .iter()
                                    .map(|(internal, host)| (internal.to_string(), json!(host)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        body["ports"] = Value::Object(ports);
                        body["pid"] = json!(machine.and_then(|l| l.pid));
                    }
                    body
                })
                .collect();
            let volumes: Vec<Value> = app
                .volumes
                .iter()
                .map(|v| {
                    let mut body = v.to_json(false);
                    body["snapshots"] = v.snapshots.iter().map(|s| s.to_json()).collect();
                    body
                })
                .collect();
            json!({
                "name": app.name,
                "id": app.id,
                "org_slug": app.org_slug,
                "secrets_version": app.secrets_version,
                "secrets": secrets,
                "machines": machines,
                "volumes": volumes,
            })
        })
        .collect();
    json!({ "apps": apps, "regions": world.regions, "broken_images": world.broken_images })
}

async fn state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(snapshot(&shared))
}

async fn calls(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let statuses: Vec<Value> = shared
        .statuses()
        .into_iter()
        .map(|((operation, status), count)| json!({ "operation": operation, "status": status, "count": count }))
        .collect();
    Json(json!({ "calls": shared.calls(), "answers": statuses }))
}

async fn reset_calls(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset_calls();
    StatusCode::NO_CONTENT
}

async fn faults(State(shared): State<Arc<Shared>>) -> Json<FaultPlan> {
    Json(shared.faults())
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(plan): Json<FaultPlan>) -> StatusCode {
    shared.set_faults(plan);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

async fn set_rate_limits(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<Enabled>,
) -> StatusCode {
    shared.set_rate_limits(body.enabled);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Millis {
    millis: u64,
}

async fn set_transition(State(shared): State<Arc<Shared>>, Json(body): Json<Millis>) -> StatusCode {
    shared.set_transition(Duration::from_millis(body.millis));
    StatusCode::NO_CONTENT
}

async fn regions(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().regions))
}

async fn set_region(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
    Json(faults): Json<RegionFaults>,
) -> StatusCode {
    shared.world().set_region(&region, faults);
    StatusCode::NO_CONTENT
}

async fn broken_images(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().broken_images))
}

async fn set_broken_images(
    State(shared): State<Arc<Shared>>,
    Json(images): Json<Vec<String>>,
) -> StatusCode {
    shared.world().broken_images = images.into_iter().collect();
    StatusCode::NO_CONTENT
}

/// Fails a machine's host: flyd no longer reaches it (`host_status: unreachable`), its
/// process ends without an exit event, and the API refuses everything on the machine
/// but a look and a forced destroy. `false` when there is no such machine.
pub fn fail_host(shared: &Shared, app: &str, id: &str) -> bool {
    {
        let mut world = shared.world();
        let Ok(machine) = world.app_mut(app).and_then(|a| a.machine_mut(id)) else {
            return false;
        };
        machine.host_status = "unreachable";
    }
    if let Some(runtime) = shared.runtime.as_ref() {
        runtime.lose(app, id);
    }
    shared.changed.notify_waiters();
    true
}

/// Hangs a machine's gateway: it lives but no longer answers, so its checks are
/// critical while it is started, through restarts and updates, until the machine is
/// made again. Only for machines that run nothing (a process answers for itself);
/// `false` when there is no such machine or machines run as processes.
pub fn hang(shared: &Shared, app: &str, id: &str) -> bool {
    if shared.runtime.is_some() {
        return false;
    }
    {
        let mut world = shared.world();
        let Ok(machine) = world.app_mut(app).and_then(|a| a.machine_mut(id)) else {
            return false;
        };
        machine.hung = true;
    }
    shared.changed.notify_waiters();
    true
}

/// Kills a running machine's process as the OOM killer would; `false` when it runs
/// nothing (or machines do not run as processes).
pub fn oom_kill(shared: &Shared, app: &str, id: &str) -> bool {
    shared
        .runtime
        .as_ref()
        .is_some_and(|runtime| runtime.oom_kill(app, id))
}

/// The output of a machine's process so far, or `None` without a runtime or output.
pub fn machine_log(shared: &Shared, app: &str, id: &str) -> Option<String> {
    let runtime = shared.runtime.as_ref()?;
    let path = super::runtime::process::log_path(&runtime.machine_dir(app, id));
    let bytes = std::fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

async fn machine_log_route(
    State(shared): State<Arc<Shared>>,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    match machine_log(&shared, &app, &id) {
        Some(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no log for this machine\n").into_response(),
    }
}
