//! Client-side limits, so normal operation never provokes a 429: Fly's documented rate
//! limits (per action and per machine or app: 1 request per second with bursts of 3; Get
//! Machine 5 per second with bursts of 10; app deletions 100 per minute), each slowed by a
//! tenth to absorb network jitter, and a cap on requests in flight.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The client's limiters.
#[derive(Debug)]
pub struct ClientLimits {
    actions: DefaultKeyedRateLimiter<(&'static str, String)>,
    gets: DefaultKeyedRateLimiter<(&'static str, String)>,
    app_deletes: DefaultKeyedRateLimiter<()>,
    in_flight: Arc<Semaphore>,
}

fn quota(period: Duration, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).map_or(Quota::per_second(burst), |q| q.allow_burst(burst))
}

impl ClientLimits {
    /// Limits with at most `max_in_flight` requests at once.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            actions: RateLimiter::keyed(quota(Duration::from_millis(1100), 3)),
            gets: RateLimiter::keyed(quota(Duration::from_millis(220), 10)),
            app_deletes: RateLimiter::keyed(quota(Duration::from_millis(660), 100)),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Waits until `operation` on `scope` (a machine id or an app name) may be sent, and
    /// returns a permit to hold while it is in flight.
    pub async fn admit(&self, operation: &'static str, scope: &str) -> OwnedSemaphorePermit {
        match operation {
            "Machines_show" => {
                self.gets
                    .until_key_ready(&(operation, scope.to_owned()))
                    .await
            }
            "Apps_delete" => self.app_deletes.until_key_ready(&()).await,
            _ => {
                self.actions
                    .until_key_ready(&(operation, scope.to_owned()))
                    .await
            }
        }
        // The semaphore is never closed, so acquiring cannot fail; a closed one would
        // only mean no cap.
        match Arc::clone(&self.in_flight).acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("the in-flight semaphore is never closed"),
        }
    }

    /// Forgets idle keys, so the limiters do not grow with every machine ever seen.
    pub fn shrink(&self) {
        self.actions.retain_recent();
        self.gets.retain_recent();
    }
}
