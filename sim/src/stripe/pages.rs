//! The hosted pages Stripe's URLs lead to, as plain HTML for a local stack: Checkout
//! (pay or cancel), the Billing Portal (back to the app) and invoices.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::Shared;
use super::delivery::DeliveryOptions;
use crate::sync::lock;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>{body}<p><small>Stripe stand-in (test mode)</small></p></body></html>"
    ))
    .into_response()
}

/// `GET /c/pay/{id}`
pub async fn checkout_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let session = lock(&shared.world).session(&id);
    match session {
        Ok(session) if session["status"] == "open" => {
            let amount = session["amount_total"].as_i64().unwrap_or(0) as f64 / 100.0;
            let cancel = session["cancel_url"].as_str().unwrap_or("/");
            page(
                "Checkout",
                &format!(
                    "<p>Subscribe for ${amount:.2} a month.</p><form method=\"post\"><button type=\"submit\">Pay</button></form><p><a href=\"{}\">Cancel</a></p>",
                    escape(cancel)
                ),
            )
        }
        Ok(_) => page(
            "Checkout",
            "<p>This Checkout session is no longer open.</p>",
        ),
        Err(_) => (StatusCode::NOT_FOUND, "no such Checkout session").into_response(),
    }
}

/// `POST /c/pay/{id}`: pays, delivers the events, and goes to the success page.
pub async fn pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let now = chrono::Utc::now().timestamp();
    let pages = shared.base_url();
    let completed = {
        let mut world = lock(&shared.world);
        world
            .complete_session(&id, now, &pages)
            .map(|events| (events, world.session(&id)))
    };
    match completed {
        Ok((events, Ok(session))) => {
            shared.deliver(&events, DeliveryOptions::default()).await;
            let next = session["success_url"].as_str().unwrap_or("/").to_owned();
            Redirect::to(&next).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "this Checkout session cannot be paid",
        )
            .into_response(),
    }
}

/// `GET /p/session/{id}`
pub async fn portal_page(Path(id): Path<String>) -> Response {
    page(
        "Billing portal",
        &format!(
            "<p>Portal session {}.</p><p><a href=\"javascript:history.back()\">Back</a></p>",
            escape(&id)
        ),
    )
}

/// `GET /i/{id}` and `GET /i/{id}/pdf`
pub async fn invoice_page(Path(id): Path<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Invoice {id}"),
    )
        .into_response()
}
