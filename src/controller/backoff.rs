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
        let delay = base.saturating_mul(1 << exponent).min(max);
        let half = delay / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    /// Forgets the failures of `uid` after a success.
    pub fn succeeded(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }
}

/// `interval` jittered by ±10%.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * rand::rng().random::<f64>())
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
    fn resyncs_are_jittered_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(600));
            assert!(d >= Duration::from_secs(540) && d <= Duration::from_secs(660));
        }
    }
}
