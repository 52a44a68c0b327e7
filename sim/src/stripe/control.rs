//! The stand-in's own endpoints under `/_sim`, for tests and the local stack: what a
//! customer or Stripe's clock would do (pay a Checkout, change plan, fail a payment,
//! renew, cancel at once or at the period's end, reach the period's end), each
//! delivering the events it causes and reporting the deliveries; redelivery of one
//! event; the webhook endpoint; faults; the requests seen.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::delivery::{DeliveryOptions, Endpoint};
use super::world::{Failure, World};
use crate::sync::lock;

fn options<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("not valid options: {e}"))
}

fn bad_options(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn refused(f: Failure) -> Response {
    (
        StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(f.body),
    )
        .into_response()
}

/// Runs `change` on the world, then delivers the events it emitted as `body` (delivery
/// options) asks and reports them.
async fn act(
    shared: &Shared,
    body: &Bytes,
    change: impl FnOnce(&mut World, i64, &str) -> Result<Vec<Value>, Failure>,
) -> Response {
    let delivery = match options::<DeliveryOptions>(body) {
        Ok(o) => o,
        Err(e) => return bad_options(e),
    };
    let now = chrono::Utc::now().timestamp();
    let pages = shared.base_url();
    let events = {
        let mut world = lock(&shared.world);
        match change(&mut world, now, &pages) {
            Ok(events) => events,
            Err(f) => return refused(f),
        }
    };
    let deliveries = shared.deliver(&events, delivery).await;
    let summary: Vec<Value> = events
        .iter()
        .map(|e| json!({ "id": e["id"], "type": e["type"] }))
        .collect();
    Json(json!({ "events": summary, "deliveries": deliveries })).into_response()
}

/// `POST /_sim/checkout/sessions/{id}/complete`, body: delivery options.
pub async fn complete_session(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, now, pages| {
        w.complete_session(&id, now, pages)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
struct PriceChange {
    #[serde(default)]
    price: String,
}

/// `POST /_sim/subscriptions/{id}/price`, body `{"price": "price_..."}` and delivery
/// options.
pub async fn change_price(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let change = match options::<PriceChange>(&body) {
        Ok(o) => o,
        Err(e) => return bad_options(e),
    };
    act(&shared, &body, |w, now, pages| {
        w.change_price(&id, &change.price, now, pages)
    })
    .await
}

/// `POST /_sim/subscriptions/{id}/payment_failed`
pub async fn fail_payment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, now, pages| {
        w.fail_payment(&id, now, pages)
    })
    .await
}

/// `POST /_sim/subscriptions/{id}/renew`
pub async fn renew(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, now, pages| w.renew(&id, now, pages)).await
}

/// `POST /_sim/subscriptions/{id}/cancel`
pub async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, now, _| {
        w.cancel_subscription(&id, now).map(|(_, events)| events)
    })
    .await
}

/// `POST /_sim/subscriptions/{id}/cancel_at_period_end`: the customer cancels in the
/// Billing Portal, effective at the period's end.
pub async fn cancel_at_period_end(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, now, _| w.cancel_at_period_end(&id, now)).await
}

/// `POST /_sim/subscriptions/{id}/period_end`: Stripe's clock reaches the end of the
/// current period (cancels a subscription set to cancel, else renews it).
pub async fn period_end(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, now, pages| {
        w.end_period(&id, now, pages)
    })
    .await
}

/// `POST /_sim/events/{id}/deliver`: delivers one event again, newly signed.
pub async fn redeliver(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&shared, &body, |w, _, _| {
        w.event(&id)
            .cloned()
            .map(|e| vec![e])
            .ok_or_else(|| Failure::no_such("event", &id, "id"))
    })
    .await
}

/// `GET /_sim/events`: every event, oldest first.
pub async fn events(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!(lock(&shared.world).events())).into_response()
}

/// `PUT /_sim/webhook`, body `{"url", "secret"}`: where events go.
pub async fn set_webhook(
    State(shared): State<Arc<Shared>>,
    Json(endpoint): Json<Endpoint>,
) -> Response {
    if !endpoint.secret.starts_with("whsec_") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "the secret must start with whsec_" })),
        )
            .into_response();
    }
    *lock(&shared.endpoint) = Some(endpoint.clone());
    Json(endpoint).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct Faults {
    #[serde(default)]
    server_errors: u32,
    #[serde(default)]
    latency_ms: u64,
}

/// `POST /_sim/faults`, body `{"server_errors": N, "latency_ms": M}`: the next N `/v1`
/// requests fail with 500, and every one takes M milliseconds.
pub async fn faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults = match options::<Faults>(&body) {
        Ok(o) => o,
        Err(e) => return bad_options(e),
    };
    let mut world = lock(&shared.world);
    world.server_errors = faults.server_errors;
    world.latency = std::time::Duration::from_millis(faults.latency_ms);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_sim/requests`: every `/v1` request, as `METHOD /path`.
pub async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!(lock(&shared.world).requests)).into_response()
}
