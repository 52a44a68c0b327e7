//! Stripe's REST API under `/v1`: bearer-key authentication, form-encoded parameters,
//! idempotency keys, Stripe's error envelope and `Request-Id` header.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Shared;
use super::form::Params;
use super::objects;
use super::world::{Failure, Remembered, World, new_id};
use crate::sync::lock;

fn answer(status: u16, body: &Value, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&new_id("req")) {
        headers.insert("request-id", id);
    }
    headers.insert(
        "stripe-version",
        HeaderValue::from_static(objects::API_VERSION),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn failure(f: &Failure) -> Response {
    answer(f.status, &f.body, false)
}

/// Checks `Authorization: Bearer <key>`.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), Failure> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let unauthorized = |message: String| Failure {
        status: 401,
        body: objects::error("invalid_request_error", None, &message, None),
    };
    let Some(key) = given.filter(|k| !k.is_empty()) else {
        return Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".to_owned(),
        ));
    };
    let known = match &shared.secret_key {
        Some(expected) => key == expected,
        None => key.starts_with("sk_test_") || key.starts_with("rk_test_"),
    };
    if known {
        Ok(())
    } else {
        let tail: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(unauthorized(format!(
            "Invalid API Key provided: sk_test_****{tail}"
        )))
    }
}

/// Every `/v1` request.
pub async fn v1(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    // Recorded as it arrives, before any latency: the log says what was asked and when.
    let latency = {
        let mut world = lock(&shared.world);
        world.requests.push(format!("{method} {path}"));
        world.latency
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let now = chrono::Utc::now().timestamp();
    let mut world = lock(&shared.world);
    if world.server_errors > 0 {
        world.server_errors -= 1;
        return answer(
            500,
            &objects::error("api_error", None, "An unknown error occurred", None),
            false,
        );
    }
    if let Err(f) = authenticate(&shared, &headers) {
        return failure(&f);
    }
    let params = if method == Method::GET {
        Params::parse(uri.query().unwrap_or("").as_bytes())
    } else {
        Params::parse(&body)
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|_| method == Method::POST)
        .map(str::to_owned);
    let fingerprint = format!("{method} {path} {}", params.fingerprint());
    if let Some(key) = &key
        && let Some(seen) = world.idempotency.get(key)
    {
        if seen.fingerprint != fingerprint {
            return answer(
                400,
                &objects::error(
                    "idempotency_error",
                    None,
                    &format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                    ),
                    None,
                ),
                false,
            );
        }
        return answer(seen.status, &seen.body, true);
    }
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let result = route(&mut world, &shared, &method, &segments, &params, now);
    let (status, body, events) = match result {
        Ok((body, events)) => (200, body, events),
        Err(f) => (f.status, f.body, Vec::new()),
    };
    if let Some(key) = key
        && status < 500
    {
        world.idempotency.insert(
            key,
            Remembered {
                fingerprint,
                status,
                body: body.clone(),
            },
        );
    }
    drop(world);
    if !events.is_empty() {
        // Stripe sends the events of an API call on its own time.
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.deliver(&events, Default::default()).await;
        });
    }
    answer(status, &body, false)
}

type Routed = Result<(Value, Vec<Value>), Failure>;

fn route(
    world: &mut World,
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    params: &Params,
    now: i64,
) -> Routed {
    let pages = shared.base_url();
    let plain = |r: Result<Value, Failure>| r.map(|v| (v, Vec::new()));
    match (method.as_str(), segments) {
        ("POST", ["customers"]) => plain(world.create_customer(params, now)),
        ("GET", ["customers", id]) => plain(world.customer(id)),
        ("POST", ["prices"]) => plain(world.create_price(params, now)),
        ("GET", ["prices"]) => Ok((world.prices(), Vec::new())),
        ("GET", ["prices", id]) => plain(world.price(id)),
        ("POST", ["checkout", "sessions"]) => plain(world.create_session(params, now, &pages)),
        ("GET", ["checkout", "sessions", id]) => plain(world.session(id)),
        ("POST", ["billing_portal", "sessions"]) => plain(world.create_portal(params, now, &pages)),
        ("GET", ["subscriptions"]) => Ok((world.subscriptions(params), Vec::new())),
        ("GET", ["subscriptions", id]) => plain(world.subscription(id)),
        ("DELETE", ["subscriptions", id]) => world.cancel_subscription(id, now),
        ("GET", ["invoices"]) => plain(world.list_invoices(params)),
        _ => Err(Failure {
            status: 404,
            body: objects::error(
                "invalid_request_error",
                None,
                &format!(
                    "Unrecognized request URL ({}: /v1/{}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    method,
                    segments.join("/")
                ),
                None,
            ),
        }),
    }
}
