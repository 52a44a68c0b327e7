//! The facade's Prometheus metrics: requests by route, method and status, and a latency
//! histogram by route. Routes are the route table's paths, never raw URLs.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The metrics.
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    stripe_events: Family<Labels, Counter>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpMetrics")
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("fasterclaw_api");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        let stripe_events = Family::<Labels, Counter>::default();
        registry.register(
            "stripe_events",
            "Verified Stripe webhook events by type (those billing acts on, else other) and outcome (applied, duplicate, ignored)",
            stripe_events.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            stripe_events,
        }
    }
}

impl HttpMetrics {
    /// Counts a verified Stripe event.
    pub fn stripe_event(&self, event_type: &str, outcome: &str) {
        let kind = match event_type {
            "checkout.session.completed"
            | "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted"
            | "invoice.payment_succeeded"
            | "invoice.payment_failed" => event_type,
            _ => "other",
        };
        self.stripe_events
            .get_or_create(&vec![
                ("type".to_owned(), kind.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Counts and times every request.
pub async fn measure(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics
        .requests
        .get_or_create(&vec![
            ("route".to_owned(), route.clone()),
            ("method".to_owned(), method),
            ("status".to_owned(), status),
        ])
        .inc();
    metrics
        .latency
        .get_or_create(&vec![("route".to_owned(), route)])
        .observe(started.elapsed().as_secs_f64());
    response
}
