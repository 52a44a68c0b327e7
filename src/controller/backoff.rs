//! When to look at an Instance again: per-Instance exponential backoff after errors
//! (reset by a success), and jittered resyncs so that thousands of settled Instances
//! do not all call Fly.io in the same second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// Failures in a row, per Instance uid.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Records a failure of `uid` and returns how long to wait: `base` doubled per
    /// failure in a row, capped at `max`, with the upper half jittered.
    pub fn failed(&self, uid: &str, base: Duration, max: Duration) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failures.entry(uid.to_owned()).or_insert(0);
        let exponent = (*count).min(20);
        *count = count.saturating_add(1);
        let delay = base
            .saturating_mul(1 << exponent)
            .min(max)
            .min(LONGEST_WAIT);
        let half = delay / 2;
        half + scaled(half, rand::rng().random::<f64>())
    }

    /// Forgets the failures of `uid` after a success.
    pub fn succeeded(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }
}

/// The longest any Instance waits to be looked at again, whatever its settings and
/// annotations say (kube-runtime's queue cannot hold delays of years).
pub const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// `interval` jittered by ±10%, at most [`LONGEST_WAIT`].
pub fn jittered(interval: Duration) -> Duration {
    scaled(interval, 0.9 + 0.2 * rand::rng().random::<f64>())
}

/// `interval` times `factor`, saturating at [`LONGEST_WAIT`] instead of overflowing.
fn scaled(interval: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor)
        .unwrap_or(LONGEST_WAIT)
        .min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let backoff = Backoff::default();
        let (base, max) = (Duration::from_secs(2), Duration::from_secs(30));
        let delays: Vec<Duration> = (0..6).map(|_| backoff.failed("a", base, max)).collect();
        for (delay, ceiling) in delays.iter().zip([2, 4, 8, 16, 30, 30]) {
            let ceiling = Duration::from_secs(ceiling);
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "{delay:?} for {ceiling:?}"
            );
        }
        backoff.succeeded("a");
        assert!(backoff.failed("a", base, max) <= base);
        assert!(backoff.failed("b", base, max) <= base, "per Instance");
    }

    #[test]
    fn huge_intervals_saturate_instead_of_overflowing() {
        // About 584 billion years: jittering it once panicked.
        let huge = Duration::from_secs(18_429_043_200_000_000_000);
        assert_eq!(jittered(huge), LONGEST_WAIT);
        assert_eq!(jittered(Duration::MAX), LONGEST_WAIT);
        let backoff = Backoff::default();
        for _ in 0..40 {
            assert!(backoff.failed("a", Duration::MAX, Duration::MAX) <= LONGEST_WAIT);
        }
    }

    #[test]
    fn resyncs_are_jittered_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(600));
            assert!(d >= Duration::from_secs(540) && d <= Duration::from_secs(660));
        }
    }
}
