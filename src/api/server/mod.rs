//! `fasterclaw api`: the HTTP facade the web app calls, served from the route table
//! ([`crate::api::routes`]) over the Instance resources and Postgres.

mod auth;
mod billing;
mod cache;
mod docs;
mod error;
mod extract;
mod instances;
mod meta;
mod metrics;
mod passwords;
mod router;
pub mod session;
pub mod settings;
mod state;
mod telegram;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;

pub use cache::{INSTANCE_ID, MANAGED_BY, OWNER};
pub use router::origin_allowed;

use crate::db::Database;
use settings::ApiArgs;

/// Why the facade could not start or stopped: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or malformed.
    #[error("{0}")]
    Setting(String),
    /// Postgres is not reachable.
    #[error(transparent)]
    Database(#[from] crate::db::StoreError),
    /// The Kubernetes API is not reachable.
    #[error("cannot reach the Kubernetes API: {0}")]
    Kubernetes(String),
    /// The address cannot be bound.
    #[error("cannot listen on HOST:PORT: {0}")]
    Listen(#[from] std::io::Error),
}

/// Serves the facade until SIGTERM or SIGINT, finishing the requests in flight.
pub async fn run(args: ApiArgs) -> Result<(), StartError> {
    let setting = |e: &dyn std::fmt::Display| StartError::Setting(e.to_string());
    let sessions = session::Sessions::new(args.api_jwt_secret.as_ref())
        .map_err(|e| setting(&e))?
        .with_legacy(args.legacy_api_jwt_secret.as_ref());
    let database_url = args
        .database
        .url()
        .cloned()
        .ok_or_else(|| StartError::Setting("DATABASE_URL is not set".to_owned()))?;
    let keyring = args.encryption.keyring().map_err(|e| setting(&e))?;
    url::Url::parse(&args.frontend_url)
        .map_err(|e| StartError::Setting(format!("FRONTEND_URL is not a URL: {e}")))?;
    let telegram = telegram::Telegram::new(&args.telegram_api_url, Duration::from_secs(5))
        .map_err(StartError::Setting)?;
    let billing = args.stripe.billing().map_err(StartError::Setting)?;
    if billing.api.is_none() {
        tracing::warn!(
            "STRIPE_SECRET_KEY is not set: checkout, the portal, invoices and the webhook answer that billing is not configured"
        );
    } else if billing.webhook.is_none() {
        tracing::warn!(
            "STRIPE_WEBHOOK_SECRET is not set: Stripe's events are refused, so subscriptions never change"
        );
    }
    if args.body_limit_bytes < 1024 {
        return Err(StartError::Setting(
            "BODY_LIMIT_BYTES must be at least 1024".to_owned(),
        ));
    }
    let db = Database::connect(&database_url).await?;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| StartError::Kubernetes(e.to_string()))?;
    let cache = cache::InstanceCache::start(
        client.clone(),
        &args.instance_namespace,
        db.clone(),
        keyring.clone(),
    );
    let state = Arc::new(state::AppState {
        db,
        keyring,
        sessions,
        instances: Api::namespaced(client, &args.instance_namespace),
        cache,
        namespace: args.instance_namespace.clone(),
        telegram,
        per_address: state::per_minute(args.auth_rate_per_address),
        per_account: state::per_minute(args.auth_rate_per_account),
        trust_forwarded_for: args.trust_forwarded_for,
        metrics: metrics::HttpMetrics::default(),
        billing,
        frontend_url: args.frontend_url.clone(),
    });
    let limits = router::Limits {
        timeout: args.request_timeout,
        body_bytes: args.body_limit_bytes,
        frontend_url: args.frontend_url.clone(),
        environment: args.app_env,
    };
    let app = router::router(state, &limits);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving the facade");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        crate::controller::shutdown_signal().await;
    })
    .await?;
    Ok(())
}
