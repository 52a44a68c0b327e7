//! Fly's documented rate limits: per action and per machine (or app), 1 request per
//! second with bursts of 3; Get Machine 5 per second with bursts of 10; app deletions
//! 100 per minute. Reads of volumes (get, list, snapshots) count as gets, per volume
//! (or app), as Fly documents no limits of their own.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The limiters, keyed by (operation, machine id or app name).
#[derive(Debug)]
pub struct RateLimits {
    actions: DefaultKeyedRateLimiter<(String, String)>,
    gets: DefaultKeyedRateLimiter<(String, String)>,
    app_deletes: DefaultKeyedRateLimiter<String>,
}

fn quota(per: Duration, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(per).map_or(Quota::per_second(burst), |q| q.allow_burst(burst))
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            actions: RateLimiter::keyed(quota(Duration::from_secs(1), 3)),
            gets: RateLimiter::keyed(quota(Duration::from_millis(200), 10)),
            app_deletes: RateLimiter::keyed(quota(Duration::from_millis(600), 100)),
        }
    }
}

impl RateLimits {
    /// Admits a request, or says how long until it would be admitted.
    pub fn check(&self, operation: &str, scope: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let verdict = match operation {
            "Machines_show" | "Volumes_get_by_id" | "Volumes_list" | "Volumes_list_snapshots" => {
                self.gets
                    .check_key(&(operation.to_owned(), scope.to_owned()))
            }
            "Apps_delete" => self.app_deletes.check_key(&"org".to_owned()),
            _ => self
                .actions
                .check_key(&(operation.to_owned(), scope.to_owned())),
        };
        verdict.map_err(|not_until| not_until.wait_time_from(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_throttles_per_machine_and_action() {
        let limits = RateLimits::default();
        for _ in 0..3 {
            assert!(limits.check("Machines_start", "m1").is_ok());
        }
        assert!(limits.check("Machines_start", "m1").is_err());
        assert!(
            limits.check("Machines_start", "m2").is_ok(),
            "another machine"
        );
        assert!(
            limits.check("Machines_stop", "m1").is_ok(),
            "another action"
        );
        for _ in 0..10 {
            assert!(limits.check("Machines_show", "m1").is_ok());
        }
        assert!(limits.check("Machines_show", "m1").is_err());
    }
}
