//! A stand-in for Stripe's API, in Stripe's wire format as `async-stripe` decodes it:
//! customers, prices, Checkout sessions, Billing Portal sessions, subscriptions and
//! invoices under `/v1`, with bearer-key authentication, form-encoded parameters,
//! idempotency keys and Stripe's `{"error": {...}}` envelope.
//!
//! What a customer or Stripe's clock does happens through `/_sim` (see [`control`]):
//! each change emits the events Stripe emits and delivers them to the webhook
//! endpoint, signed as Stripe signs them, optionally twice at once or newest first.

mod api;
mod control;
pub mod delivery;
pub mod form;
pub mod objects;
mod pages;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::routing::{any, get, post, put};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::sync::lock;
use delivery::{Delivery, DeliveryOptions, Endpoint};
pub use world::PriceSeed;
use world::World;

/// How the stand-in starts.
#[derive(Clone, Debug, Default)]
pub struct StripeSimConfig {
    /// The one secret key accepted; any `sk_test_`/`rk_test_` key when `None`.
    pub secret_key: Option<String>,
    /// Prices known from the start.
    pub prices: Vec<PriceSeed>,
    /// Where events go, from the start.
    pub webhook: Option<Endpoint>,
}

pub(crate) struct Shared {
    world: Mutex<World>,
    endpoint: Mutex<Option<Endpoint>>,
    secret_key: Option<String>,
    client: reqwest::Client,
    base_url: OnceLock<String>,
}

impl Shared {
    fn base_url(&self) -> String {
        self.base_url.get().cloned().unwrap_or_default()
    }

    /// Delivers `events` to the endpoint, if one is set.
    async fn deliver(&self, events: &[Value], options: DeliveryOptions) -> Vec<Delivery> {
        let endpoint = lock(&self.endpoint).clone();
        match endpoint {
            Some(endpoint) => delivery::deliver(&self.client, &endpoint, events, options).await,
            None => Vec::new(),
        }
    }
}

/// A running stand-in. Dropping it stops the server.
pub struct StripeSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for StripeSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSim")
            .field("addr", &self.addr)
            .finish()
    }
}

impl StripeSim {
    /// Starts the stand-in on `listen`.
    pub async fn start(config: StripeSimConfig, listen: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let now = chrono::Utc::now().timestamp();
        // Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            world: Mutex::new(World::with_prices(&config.prices, now)),
            endpoint: Mutex::new(config.webhook),
            secret_key: config.secret_key,
            client,
            base_url: OnceLock::new(),
        });
        let _ = shared.base_url.set(format!("http://{addr}"));
        let app = axum::Router::new()
            .route("/v1/{*rest}", any(api::v1))
            .route("/_sim/webhook", put(control::set_webhook))
            .route("/_sim/faults", post(control::faults))
            .route("/_sim/requests", get(control::requests))
            .route("/_sim/events", get(control::events))
            .route("/_sim/events/{id}/deliver", post(control::redeliver))
            .route(
                "/_sim/checkout/sessions/{id}/complete",
                post(control::complete_session),
            )
            .route(
                "/_sim/subscriptions/{id}/price",
                post(control::change_price),
            )
            .route(
                "/_sim/subscriptions/{id}/payment_failed",
                post(control::fail_payment),
            )
            .route("/_sim/subscriptions/{id}/renew", post(control::renew))
            .route("/_sim/subscriptions/{id}/cancel", post(control::cancel))
            .route(
                "/_sim/subscriptions/{id}/cancel_at_period_end",
                post(control::cancel_at_period_end),
            )
            .route(
                "/_sim/subscriptions/{id}/period_end",
                post(control::period_end),
            )
            .route("/c/pay/{id}", get(pages::checkout_page).post(pages::pay))
            .route("/p/session/{id}", get(pages::portal_page))
            .route("/i/{id}", get(pages::invoice_page))
            .route("/i/{id}/pdf", get(pages::invoice_page))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Stripe stand-in stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The base URL to give a client (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        self.shared.base_url()
    }

    /// Sends events to `url`, signed with `secret`.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        *lock(&self.shared.endpoint) = Some(Endpoint {
            url: url.to_owned(),
            secret: secret.to_owned(),
        });
    }

    /// Every event emitted so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.shared.world).events().to_vec()
    }

    /// Every `/v1` request so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.world).requests.clone()
    }

    /// Answers the next `count` `/v1` requests with 500.
    pub fn fail_next(&self, count: u32) {
        lock(&self.shared.world).server_errors = count;
    }

    /// Makes every `/v1` request take `latency` before it is answered.
    pub fn slow_down(&self, latency: Duration) {
        lock(&self.shared.world).latency = latency;
    }

    /// The subscription `id` as Stripe holds it.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        lock(&self.shared.world).subscription(id).ok()
    }

    /// Delivers `events` now, as configured, and reports each delivery.
    pub async fn deliver(&self, events: &[Value], options: DeliveryOptions) -> Vec<Delivery> {
        self.shared.deliver(events, options).await
    }
}

impl Drop for StripeSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}
