//! `fasterclaw api` end to end, as a process: against a real kube-apiserver, Postgres and
//! the Telegram stand-in, through the typed client (and raw HTTP where the web app's own
//! way of calling matters).

mod accounts;
mod google;
mod hardening;
mod http;
mod instances;
mod schemathesis;
mod snapshots;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{RegisterRequest, User};
use fasterclaw_sim::telegram::TelegramSim;
use serde_json::json;

/// A Telegram stand-in on a free port.
pub async fn telegram() -> TelegramSim {
    TelegramSim::start(([127, 0, 0, 1], 0).into(), false)
        .await
        .expect("the Telegram stand-in starts")
}

/// Registers a new account; returns a client signed in as it.
pub async fn sign_up(client: &ApiClient) -> (ApiClient, User) {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let body: RegisterRequest = serde_json::from_value(json!({
        "email": email, "password": "a good password", "name": "Ada"
    }))
    .expect("a valid request");
    let session = client.register(&body).await.expect("registered");
    (client.with_token(session.access_token), session.user)
}
