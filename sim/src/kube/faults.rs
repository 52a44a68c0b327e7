//! Fault injection for robustness tests: a share of requests answered 500 or 429, a
//! share of writes refused with a 409 conflict, added latency, and watches cut after a
//! while; all drawn from a seeded generator.

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// What to inject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubeFaults {
    /// Share of requests answered 500 InternalError.
    pub server_error: f64,
    /// Share of requests answered 429 TooManyRequests.
    pub throttle: f64,
    /// Share of writes (create, update, patch) answered 409 Conflict.
    pub conflict: f64,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Extra latency drawn uniformly from zero to this, in milliseconds.
    pub jitter_ms: u64,
    /// Cut every watch after a time drawn from this range, in milliseconds.
    pub drop_watch_after_ms: Option<(u64, u64)>,
}

/// A failure to answer with instead of serving the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// 500.
    ServerError,
    /// 429.
    Throttle,
    /// 409 on a write.
    Conflict,
}

impl KubeFaults {
    /// Draws the latency and the failure, if any, of one request.
    pub fn draw(&self, is_write: bool, rng: &mut StdRng) -> (Duration, Option<Injected>) {
        let mut latency = Duration::from_millis(self.latency_ms);
        if self.jitter_ms > 0 {
            latency += Duration::from_millis(rng.random_range(0..=self.jitter_ms));
        }
        let roll: f64 = rng.random();
        let injected = if roll < self.server_error {
            Some(Injected::ServerError)
        } else if roll < self.server_error + self.throttle {
            Some(Injected::Throttle)
        } else if is_write && roll < self.server_error + self.throttle + self.conflict {
            Some(Injected::Conflict)
        } else {
            None
        };
        (latency, injected)
    }

    /// How long a new watch lives before it is cut, if watches are cut.
    pub fn watch_lifetime(&self, rng: &mut StdRng) -> Option<Duration> {
        self.drop_watch_after_ms.map(|(low, high)| {
            Duration::from_millis(rng.random_range(low.min(high)..=high.max(low)))
        })
    }
}
