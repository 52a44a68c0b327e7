//! `fasterclaw api`: the HTTP facade the web app calls, served from the route table
//! ([`crate::api::routes`]) over the Instance resources and Postgres.

mod answer;
mod auth;
mod billing;
mod cache;
pub mod client_address;
mod docs;
mod error;
mod extract;
mod google;
mod google_sign_in;
mod instances;
mod lifecycle;
mod listener;
mod meta;
mod metrics;
mod pairing;
pub mod passwords;
mod restore_source;
mod router;
pub mod session;
pub mod settings;
mod snapshots;
mod state;
mod telegram;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;

pub use router::origin_allowed;

use crate::db::Database;
use crate::startup::{self, StartError};
use settings::ApiArgs;

/// How long after the latest import the original's sessions can still be valid: they
/// were issued before it and lasted at most [`session::SESSION`].
const LEGACY_SESSIONS_END: std::time::Duration = session::SESSION;

/// Serves the facade until SIGTERM or SIGINT, finishing the requests in flight.
pub async fn run(args: ApiArgs) -> Result<(), StartError> {
    if std::env::var_os("TRUST_FORWARDED_FOR").is_some() {
        return Err(StartError::Setting(
            "TRUST_FORWARDED_FOR is no longer read: name the proxies in front of the facade in TRUSTED_PROXIES (addresses or CIDR blocks), whose X-Forwarded-For entries are then believed".to_owned(),
        ));
    }
    let sessions = session::Sessions::new(args.api_jwt_secret.as_ref())
        .map_err(StartError::setting)?
        .with_legacy(args.legacy_api_jwt_secret.as_ref());
    let keyring = args.encryption.keyring().map_err(StartError::setting)?;
    url::Url::parse(&args.frontend_url)
        .map_err(|e| StartError::Setting(format!("FRONTEND_URL is not a URL: {e}")))?;
    let trusted_proxies = client_address::TrustedProxies::parse(&args.trusted_proxies)
        .map_err(StartError::Setting)?;
    let telegram = telegram::Telegram::new(&args.telegram_api_url, Duration::from_secs(5))
        .map_err(StartError::Setting)?;
    let billing = args.stripe.billing().map_err(StartError::Setting)?;
    let (periods, check_interval) = args.lifecycle.lifecycle().map_err(StartError::Setting)?;
    let google = google_sign_in(&args)?;
    if google.is_none() {
        tracing::info!(
            "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set: sign-in with Google is not served"
        );
    }
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
    if args.header_read_timeout.is_zero() {
        return Err(StartError::Setting(
            "HEADER_READ_TIMEOUT must be longer than zero".to_owned(),
        ));
    }
    let db = startup::database(&args.database).await?;
    if sessions.has_legacy_secret() {
        check_legacy_deadline(&db).await?;
    }
    let client = startup::kubernetes().await?;
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
        trusted_proxies,
        passwords: passwords::Passwords::new(usize::from(args.password_hash_concurrency)),
        metrics: Default::default(),
        billing,
        lifecycle: periods,
        frontend_url: args.frontend_url.clone(),
        google,
        controller_wait: args
            .request_timeout
            .saturating_sub(std::time::Duration::from_secs(3))
            .clamp(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(45),
            ),
    });
    let limits = router::Limits {
        timeout: args.request_timeout,
        body_bytes: args.body_limit_bytes,
        frontend_url: args.frontend_url.clone(),
        environment: args.app_env,
    };
    let app = router::router(state.clone(), &limits);
    let addr = SocketAddr::new(args.host, args.port);
    let listener = startup::listen(addr, "HOST:PORT").await?;
    let metrics_listener = startup::listen(args.metrics_addr, "METRICS_ADDR").await?;
    tracing::info!(
        addr = %listener.local_addr().unwrap_or(addr),
        metrics = %metrics_listener.local_addr().unwrap_or(args.metrics_addr),
        "serving the facade"
    );
    let shutdown = startup::shutdown_signal();
    let pruning = tokio::spawn({
        let state = state.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                state.prune_limiters();
            }
        }
    });
    let billing_checks = lifecycle::spawn(state.clone(), check_interval);
    let connections = listener::Limits {
        max_connections: args.max_connections as usize,
        header_read_timeout: args.header_read_timeout,
    };
    let metrics_server = tokio::spawn(listener::serve(
        metrics_listener,
        router::metrics_router(state),
        listener::Limits {
            max_connections: 64,
            ..connections
        },
        shutdown.clone(),
    ));
    listener::serve(listener, app, connections, shutdown).await;
    pruning.abort();
    billing_checks.abort();
    let _ = metrics_server.await;
    Ok(())
}

/// Sign-in with Google, when its client id and secret are both set. Its callback is
/// `GOOGLE_REDIRECT_URL`, else `API_URL` + `/auth/google/callback`, else in development
/// `http://localhost:<PORT>/auth/google/callback`.
fn google_sign_in(args: &ApiArgs) -> Result<Option<google::GoogleSignIn>, StartError> {
    use secrecy::ExposeSecret as _;
    let settings = &args.google;
    let id = settings
        .google_client_id
        .clone()
        .filter(|id| !id.trim().is_empty());
    let secret = settings
        .google_client_secret
        .clone()
        .filter(|s| !s.expose_secret().trim().is_empty());
    let (client_id, client_secret) = match (id, secret) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(StartError::Setting(
                "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are set together or not at all"
                    .to_owned(),
            ));
        }
    };
    let redirect_url = match (&settings.google_redirect_url, &settings.api_url) {
        (Some(url), _) if !url.trim().is_empty() => url.trim().to_owned(),
        (_, Some(api)) if !api.trim().is_empty() => {
            format!("{}/auth/google/callback", api.trim().trim_end_matches('/'))
        }
        _ if args.app_env == settings::Environment::Development => {
            format!("http://localhost:{}/auth/google/callback", args.port)
        }
        _ => {
            return Err(StartError::Setting(
                "sign-in with Google needs GOOGLE_REDIRECT_URL (or API_URL): this facade's /auth/google/callback as browsers reach it".to_owned(),
            ));
        }
    };
    google::GoogleSignIn::new(
        google::GoogleSettings {
            client_id,
            client_secret,
            issuer_url: settings.google_issuer_url.clone(),
            redirect_url,
        },
        Duration::from_secs(10),
    )
    .map(Some)
    .map_err(|e| StartError::Setting(e.to_string()))
}

/// Refuses a legacy secret past its use: every session the original issued before the
/// latest import has expired once [`LEGACY_SESSIONS_END`] has passed since it.
async fn check_legacy_deadline(db: &Database) -> Result<(), StartError> {
    let Some(last_import) = db.users().last_import().await? else {
        // Nothing imported yet: the secret opens no session until something is.
        return Ok(());
    };
    let deadline = last_import
        + chrono::Duration::from_std(LEGACY_SESSIONS_END).unwrap_or(chrono::Duration::MAX);
    if chrono::Utc::now() > deadline {
        return Err(StartError::Setting(format!(
            "LEGACY_API_JWT_SECRET is past its deadline ({}, {} days after the latest import): every session the original issued has expired, so remove it",
            deadline.format("%Y-%m-%d %H:%M UTC"),
            LEGACY_SESSIONS_END.as_secs() / 86_400
        )));
    }
    Ok(())
}
