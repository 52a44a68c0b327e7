//! What the handlers share.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kube::api::Api;

use super::cache::InstanceCache;
use super::client_address::TrustedProxies;
use super::error::ApiError;
use super::google::GoogleSignIn;
use super::metrics::HttpMetrics;
use super::passwords::Passwords;
use super::session::Sessions;
use super::telegram::Telegram;
use crate::billing::lifecycle::Periods;
use crate::billing::settings::BillingSettings;
use crate::crd::Instance;
use crate::crypto::Keyring;
use crate::db::Database;

/// Shared state.
pub struct AppState {
    /// Postgres.
    pub db: Database,
    /// Seals and opens tokens.
    pub keyring: Keyring,
    /// Session tokens.
    pub sessions: Sessions,
    /// The Instances, as the facade writes them.
    pub instances: Api<Instance>,
    /// The Instances, as the facade reads them.
    pub cache: std::sync::Arc<InstanceCache>,
    /// The namespace of the facade's Instances.
    pub namespace: String,
    /// Telegram's `getMe`.
    pub telegram: Telegram,
    /// Sign-in and sign-up attempts per client address.
    pub per_address: DefaultKeyedRateLimiter<String>,
    /// Attempts per account: sign-ins by email, password changes and deletions by id.
    pub per_account: DefaultKeyedRateLimiter<String>,
    /// The proxies whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: TrustedProxies,
    /// Password hashing, so many at once.
    pub passwords: Passwords,
    /// Request metrics.
    pub metrics: std::sync::Arc<HttpMetrics>,
    /// Stripe and the plans on sale.
    pub billing: BillingSettings,
    /// The billing lifecycle's periods.
    pub lifecycle: Periods,
    /// The web app's address, where Stripe sends people back.
    pub frontend_url: String,
    /// Sign-in with Google, when configured.
    pub google: Option<GoogleSignIn>,
    /// Longest wait for the controller to carry out what a request asked of it (pairing,
    /// restores).
    pub controller_wait: std::time::Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Forgets the rate limiters' keys that are back to a full allowance, so that their
    /// memory follows the clients of the last minute, not of all time.
    pub fn prune_limiters(&self) {
        for limiter in [&self.per_address, &self.per_account] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// A limiter allowing `per_minute` attempts a minute per key, all at once if need be.
pub fn per_minute(per_minute: u32) -> DefaultKeyedRateLimiter<String> {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(per_minute))
}

/// Takes one attempt from `limiter` for `key`, or says how long to wait.
pub fn attempt(limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Result<(), ApiError> {
    limiter.check_key(&key).map_err(|not_until| {
        let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::too_many(wait.as_secs_f64().ceil() as u64)
    })
}
