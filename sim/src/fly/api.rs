//! The Machines API endpoints FasterClaw uses, with the request and response shapes of
//! the official spec, behind the per-request pipeline: call counting, latency, faults,
//! authentication and rate limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::error::ApiError;
use super::faults::Fault;
use super::request::{json_body, page, query_flag, query_value};
use super::runtime::{duration, exec};
use super::shared::Shared;
use super::volume_api;
use super::world::{MachineState, StopRequest};

type Shared_ = State<Arc<Shared>>;

/// The router of the Machines API.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/apps", get(list_apps).post(create_app))
        .route("/v1/apps/{app_name}", get(show_app).delete(delete_app))
        .route(
            "/v1/apps/{app_name}/secrets",
            get(list_secrets).post(update_secrets),
        )
        .route(
            "/v1/apps/{app_name}/machines",
            get(list_machines).post(create_machine),
        )
        .route(
            "/v1/apps/{app_name}/machines/{machine_id}",
            get(show_machine)
                .post(update_machine)
                .delete(delete_machine),
        )
        .route(
            "/v1/apps/{app_name}/machines/{machine_id}/start",
            post(start_machine),
        )
        .route(
            "/v1/apps/{app_name}/machines/{machine_id}/stop",
            post(stop_machine),
        )
        .route(
            "/v1/apps/{app_name}/machines/{machine_id}/wait",
            get(wait_machine),
        )
        .route(
            "/v1/apps/{app_name}/machines/{machine_id}/exec",
            post(exec_machine),
        )
        .merge(volume_api::routes())
        .route_layer(middleware::from_fn_with_state(shared.clone(), pipeline))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "404 page not found") })
        .with_state(shared)
}

/// The spec's operation id of a route.
pub fn operation_id(method: &Method, path: &str) -> &'static str {
    let m = method.as_str();
    match (m, path) {
        ("GET", "/v1/apps") => "Apps_list",
        ("POST", "/v1/apps") => "Apps_create",
        ("GET", "/v1/apps/{app_name}") => "Apps_show",
        ("DELETE", "/v1/apps/{app_name}") => "Apps_delete",
        ("GET", "/v1/apps/{app_name}/secrets") => "Secrets_list",
        ("POST", "/v1/apps/{app_name}/secrets") => "Secrets_update",
        ("GET", "/v1/apps/{app_name}/machines") => "Machines_list",
        ("POST", "/v1/apps/{app_name}/machines") => "Machines_create",
        ("GET", "/v1/apps/{app_name}/machines/{machine_id}") => "Machines_show",
        ("POST", "/v1/apps/{app_name}/machines/{machine_id}") => "Machines_update",
        ("DELETE", "/v1/apps/{app_name}/machines/{machine_id}") => "Machines_delete",
        ("POST", "/v1/apps/{app_name}/machines/{machine_id}/start") => "Machines_start",
        ("POST", "/v1/apps/{app_name}/machines/{machine_id}/stop") => "Machines_stop",
        ("GET", "/v1/apps/{app_name}/machines/{machine_id}/wait") => "Machines_wait",
        ("POST", "/v1/apps/{app_name}/machines/{machine_id}/exec") => "Machines_exec",
        (m, path) => volume_api::operation_id(m, path).unwrap_or("unknown"),
    }
}

/// The identifier a request's rate limit is scoped to: the machine or the volume, else
/// the app, else the organization.
fn rate_scope(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["v1", "apps", _, "machines" | "volumes", id, ..] => (*id).to_owned(),
        ["v1", "apps", app, ..] => (*app).to_owned(),
        _ => "org".to_owned(),
    }
}

/// Whether the request carries the token exactly as Fly.io expects it: a macaroon
/// (`FlyV1 …`) as it is, any other token as `Bearer <token>`. A token sent under the
/// other scheme is refused, as Fly.io refuses it.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let expected = if token.starts_with("FlyV1 ") {
        token.to_owned()
    } else {
        format!("Bearer {token}")
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given == expected)
}

async fn pipeline(
    State(shared): Shared_,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let operation = operation_id(request.method(), matched.as_str());
    shared.count(operation);
    let response = answer(&shared, operation, request, next).await;
    let status = if response.extensions().get::<CutConnection>().is_some() {
        0
    } else {
        response.status().as_u16()
    };
    shared.count_status(operation, status);
    response
}

/// Marks a response whose body is cut off (counted as status 0).
#[derive(Clone, Copy)]
struct CutConnection;

async fn answer(
    shared: &Arc<Shared>,
    operation: &'static str,
    request: Request,
    next: Next,
) -> Response {
    let decision = shared.draw(operation);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    if !authorized(request.headers(), &shared.config.token) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "You must be authenticated to view this.",
        )
        .into_response();
    }
    if let Some(fault) = decision.fault
        && !decision.applied
    {
        return fault_response(fault);
    }
    // Creating an app is scoped to the new app, so it has no limit to hit.
    if shared.rate_limits_enabled()
        && operation != "Apps_create"
        && let Err(wait) = shared
            .limits
            .check(operation, &rate_scope(request.uri().path()))
    {
        return rate_limited(wait);
    }
    let response = next.run(request).await;
    match decision.fault {
        Some(fault) => fault_response(fault),
        None => response,
    }
}

fn rate_limited(wait: Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate limit exceeded, please slow down",
    )
    .into_response();
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Status(429) => rate_limited(Duration::from_secs(1)),
        Fault::Status(408) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "deadline_exceeded: request timed out",
        )
        .into_response(),
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, "internal error, please try again")
                .with_code("unknown")
                .into_response()
        }
        Fault::Drop => {
            // The headers and the start of a body go out, then the connection is cut.
            let cut = futures::stream::unfold(0, |step| async move {
                match step {
                    0 => Some((Ok(Bytes::from_static(b"{\"id\":")), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Some((
                            Err(std::io::Error::other("connection cut by fault injection")),
                            2,
                        ))
                    }
                    _ => None,
                }
            });
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(cut),
            )
                .into_response();
            response.extensions_mut().insert(CutConnection);
            response
        }
    }
}

async fn list_apps(
    State(shared): Shared_,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let org = query_value(&query, "org_slug")
        .ok_or_else(|| ApiError::bad_request("org_slug is required"))?;
    let world = shared.world();
    let apps: Vec<Value> = world
        .apps
        .values()
        .filter(|a| a.org_slug == org)
        .map(|a| a.to_json())
        .collect();
    Ok(Json(json!({ "total_apps": apps.len(), "apps": apps })))
}

async fn create_app(State(shared): Shared_, body: Bytes) -> Result<Response, ApiError> {
    let request = json_body(&body)?;
    let name = request
        .get("name")
        .or_else(|| request.get("app_name"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let org = request
        .get("org_slug")
        .and_then(Value::as_str)
        .unwrap_or(&shared.config.org_slug);
    let key = request.get("idempotency_key").and_then(Value::as_str);
    let (created, _) = shared.world().create_app(name, org, key)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn show_app(
    State(shared): Shared_,
    Path(app): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(shared.world().app(&app)?.to_json()))
}

async fn delete_app(
    State(shared): Shared_,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    let removed = shared.world().delete_app(&app)?;
    if let Some(runtime) = &shared.runtime {
        runtime.kill_app(&app);
    }
    volume_api::remove_app_dirs(&shared, &removed);
    shared.after_change(None);
    Ok(StatusCode::ACCEPTED)
}

async fn list_secrets(
    State(shared): Shared_,
    Path(app): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let min_version = query_value(&query, "min_version")
        .or_else(|| query_value(&query, "version"))
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request("min_version must be an integer"))
        })
        .transpose()?;
    Ok(Json(shared.world().list_secrets(
        &app,
        query_flag(&query, "show_secrets"),
        min_version,
    )?))
}

async fn update_secrets(
    State(shared): Shared_,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    let values: BTreeMap<String, Option<String>> = request
        .get("values")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|_| ApiError::bad_request("values must map names to strings, or null to unset"))?
        .ok_or_else(|| ApiError::bad_request("values is required"))?;
    if let Some(bad) = values.keys().find(|k| !valid_secret_name(k)) {
        return Err(ApiError::bad_request(format!(
            "invalid secret name {bad:?}"
        )));
    }
    Ok(Json(shared.world().update_secrets(&app, &values)?))
}

fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

async fn list_machines(
    State(shared): Shared_,
    Path(app): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let include_deleted = query_flag(&query, "include_deleted");
    let summary = query_flag(&query, "summary");
    let region = query_value(&query, "region");
    let states: Option<Vec<&str>> = query_value(&query, "state").map(|s| s.split(',').collect());
    let metadata: Vec<(&str, &str)> = query
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("metadata.").map(|key| (key, v.as_str())))
        .collect();
    let limit = query_value(&query, "limit")
        .map(|l| {
            l.parse::<usize>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| ApiError::bad_request("limit must be between 1 and 1000"))
        })
        .transpose()?;
    let cursor = query_value(&query, "cursor");

    let world = shared.world();
    let app = world.app(&app)?;
    let mut matching: Vec<Value> = app
        .machines
        .values()
        .filter(|m| include_deleted || m.state != MachineState::Destroyed)
        .filter(|m| region.is_none_or(|r| m.region == r))
        .filter(|m| {
            states
                .as_ref()
                .is_none_or(|s| s.contains(&m.state.as_str()))
        })
        .filter(|m| {
            metadata.iter().all(|(key, value)| {
                m.config
                    .get("metadata")
                    .and_then(|md| md.get(*key))
                    .and_then(Value::as_str)
                    == Some(*value)
            })
        })
        .filter(|m| cursor.is_none_or(|c| m.id.as_str() > c))
        .map(|m| {
            let mut body = m.to_json();
            if summary && let Some(object) = body.as_object_mut() {
                for key in ["config", "checks", "events", "host_status", "image_ref"] {
                    object.remove(key);
                }
            }
            body
        })
        .collect();
    let next_cursor = match limit {
        Some(limit) if matching.len() > limit => {
            matching.truncate(limit);
            matching
                .last()
                .and_then(|m| m.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }
        _ => None,
    };
    Ok(page(matching, next_cursor))
}

async fn create_machine(
    State(shared): Shared_,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    let (machine, boot) = shared.world().create_machine(&app, &request)?;
    shared.after_change(boot);
    Ok(Json(machine))
}

async fn show_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let world = shared.world();
    let machine = world.app(&app)?.machine(&id)?;
    let mut body = machine.to_json();
    if let Some(version) = query_value(&query, "version")
        && version != machine.version
    {
        // An older version of the machine: it has been replaced.
        body["state"] = json!("replaced");
        body["version"] = json!(version);
        body["instance_id"] = json!(version);
    }
    Ok(Json(body))
}

async fn update_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    let (machine, restart) = shared.world().update_machine(&app, &id, &request)?;
    shared.after_change(restart);
    Ok(Json(machine))
}

async fn start_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (body, transition) = shared.world().start_machine(&app, &id)?;
    shared.after_change(Some(transition));
    Ok(Json(body))
}

async fn stop_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = json_body(&body)?;
    let signal = request.get("signal").and_then(Value::as_str);
    if let Some(signal) = signal {
        const SIGNALS: [&str; 7] = [
            "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM",
        ];
        if !SIGNALS.contains(&signal) {
            return Err(ApiError::bad_request(format!("invalid signal {signal:?}")));
        }
    }
    let timeout = match request.get("timeout") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            duration::from_json(value)
                .map_err(|e| ApiError::bad_request(format!("timeout: {e}")))?,
        ),
    };
    let stop = StopRequest {
        signal: signal.map(str::to_owned),
        timeout,
    };
    let (body, transition) = shared.world().stop_machine(&app, &id, stop)?;
    shared.after_change(transition);
    Ok(Json(body))
}

async fn delete_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let force = query_flag(&query, "force") || query_flag(&query, "kill");
    let (body, transition) = shared.world().delete_machine(&app, &id, force)?;
    shared.after_change(Some(transition));
    Ok(Json(body))
}

/// `GET .../wait`: blocks until the machine is in one of the wanted states, or answers
/// 408 when `timeout` seconds (at most 60) pass first.
async fn wait_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    const STATES: [&str; 6] = [
        "started",
        "stopped",
        "suspended",
        "destroyed",
        "failed",
        "settled",
    ];
    let mut wanted: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "state")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned))
        .collect();
    if wanted.is_empty() {
        wanted.push("started".to_owned());
    }
    if let Some(bad) = wanted.iter().find(|s| !STATES.contains(&s.as_str())) {
        return Err(ApiError::bad_request(format!("invalid state {bad:?}")));
    }
    let timeout = query_value(&query, "timeout")
        .map(|t| {
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request("timeout must be an integer number of seconds"))
        })
        .transpose()?
        .unwrap_or(60)
        .clamp(1, 60);
    let version = query_value(&query, "version")
        .or_else(|| query_value(&query, "instance_id"))
        .map(str::to_owned);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);

    loop {
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let world = shared.world();
            let app = world.app(&app)?;
            let machine = app.machine(&id)?;
            if let Some(version) = &version
                && *version != machine.version
            {
                return Err(ApiError::bad_request(format!(
                    "machine {id} is currently replaced: version {version} is not its current version"
                )));
            }
            let state = machine.state;
            let reached = wanted
                .iter()
                .any(|w| w == state.as_str() || (w == "settled" && state.is_settled()));
            if reached {
                let event_id = machine
                    .events
                    .first()
                    .and_then(|e| e.get("id"))
                    .cloned()
                    .unwrap_or(json!(""));
                return Ok(Json(
                    json!({ "ok": true, "state": state.as_str(), "version": machine.version, "event_id": event_id }),
                ));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "deadline_exceeded: machine {id} did not reach {} within {timeout}s",
                    wanted.join(",")
                ),
            ));
        }
    }
}

/// `POST .../exec`: runs a command in a started machine (see [`exec`]).
async fn exec_machine(
    State(shared): Shared_,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = exec::ExecRequest::from_json(&json_body(&body)?)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let not_started = |state: &str| {
        ApiError::precondition(format!(
            "failed_precondition: machine {id} is not started (state: {state})"
        ))
    };
    {
        let world = shared.world();
        let machine = world.app(&app)?.reachable_machine(&id)?;
        match machine.state {
            MachineState::Destroyed => return Err(ApiError::machine_not_found(&id)),
            MachineState::Started => {}
            other => return Err(not_started(other.as_str())),
        }
    }
    let Some(runtime) = &shared.runtime else {
        return Ok(Json(
            exec::ExecOutput::not_found(exec::NO_RUNTIME.to_owned()).to_json(),
        ));
    };
    let container = runtime
        .container(&app, &id)
        .ok_or_else(|| not_started("started, its process not running yet"))?;
    match exec::run(runtime, &container, &request).await {
        Ok(output) => Ok(Json(output.to_json())),
        Err(e @ exec::ExecError::TimedOut(_)) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("deadline_exceeded: {e}"),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
}
