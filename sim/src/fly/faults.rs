//! Fault injection: per operation, a share of requests answered with 5xx, 429 or 408, or
//! cut off mid-response, and a latency distribution; all drawn from a seeded generator so
//! a run can be repeated.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// What to inject for one operation (or, under the key `*`, for every operation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Share of requests answered 500, 502 or 503.
    pub server_error: f64,
    /// Share of requests answered 429 (never applied).
    pub rate_limited: f64,
    /// Share of requests answered 408.
    pub timeout: f64,
    /// Share of requests whose connection is cut after the response headers.
    pub drop_connection: f64,
    /// Of the 5xx, 408 and cut requests, the share whose change was applied anyway
    /// before the failure (the ambiguous failures a client must survive).
    pub applied_anyway: f64,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Extra latency drawn uniformly from zero to this, in milliseconds.
    pub jitter_ms: u64,
}

/// Faults for every operation, keyed by the spec's operation id (`Machines_start`) or
/// `*` for all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultPlan(pub BTreeMap<String, FaultRule>);

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// The same rule for every operation.
    pub fn everywhere(rule: FaultRule) -> Self {
        Self(BTreeMap::from([("*".to_owned(), rule)]))
    }

    /// Adds or replaces the rule of one operation.
    pub fn with(mut self, operation: &str, rule: FaultRule) -> Self {
        self.0.insert(operation.to_owned(), rule);
        self
    }

    fn rule(&self, operation: &str) -> Option<&FaultRule> {
        self.0.get(operation).or_else(|| self.0.get("*"))
    }

    /// Draws what happens to one request of `operation`.
    pub fn draw(&self, operation: &str, rng: &mut StdRng) -> Decision {
        let Some(rule) = self.rule(operation) else {
            return Decision::default();
        };
        let mut latency = Duration::from_millis(rule.latency_ms);
        if rule.jitter_ms > 0 {
            latency += Duration::from_millis(rng.random_range(0..=rule.jitter_ms));
        }
        let roll: f64 = rng.random();
        let applied = rng.random::<f64>() < rule.applied_anyway;
        let mut edge = 0.0;
        let mut pick = |share: f64| {
            edge += share;
            roll < edge
        };
        let fault = if pick(rule.rate_limited) {
            Some(Fault::Status(429))
        } else if pick(rule.server_error) {
            Some(Fault::Status([500, 502, 503][rng.random_range(0..3)]))
        } else if pick(rule.timeout) {
            Some(Fault::Status(408))
        } else if pick(rule.drop_connection) {
            Some(Fault::Drop)
        } else {
            None
        };
        Decision {
            latency,
            fault,
            applied: applied && fault != Some(Fault::Status(429)),
        }
    }
}

/// An injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status.
    Status(u16),
    /// Send the headers, then cut the connection.
    Drop,
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Added latency.
    pub latency: Duration,
    /// The failure, if any.
    pub fault: Option<Fault>,
    /// Whether the request's change is applied before the failure.
    pub applied: bool,
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn shares_are_honoured_and_repeatable() {
        let plan = FaultPlan::everywhere(FaultRule {
            server_error: 0.2,
            rate_limited: 0.1,
            ..FaultRule::default()
        });
        let draw_all = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..10_000)
                .map(|_| plan.draw("Machines_start", &mut rng).fault)
                .collect::<Vec<_>>()
        };
        let faults = draw_all(7);
        assert_eq!(faults, draw_all(7), "the same seed gives the same faults");
        let count = |pred: fn(&Option<Fault>) -> bool| faults.iter().filter(|f| pred(f)).count();
        let server = count(|f| matches!(f, Some(Fault::Status(500 | 502 | 503))));
        let limited = count(|f| *f == Some(Fault::Status(429)));
        assert!((1800..2200).contains(&server), "{server}");
        assert!((850..1150).contains(&limited), "{limited}");
    }

    #[test]
    fn latency_is_drawn_between_the_base_and_the_jitter() {
        let plan = FaultPlan::none().with(
            "Machines_show",
            FaultRule {
                latency_ms: 40,
                jitter_ms: 20,
                ..FaultRule::default()
            },
        );
        let mut rng = StdRng::seed_from_u64(9);
        let draws: Vec<Duration> = (0..1000)
            .map(|_| plan.draw("Machines_show", &mut rng).latency)
            .collect();
        assert!(draws.iter().all(|d| (40..=60).contains(&d.as_millis())));
        assert!(
            draws.iter().any(|d| d.as_millis() < 45) && draws.iter().any(|d| d.as_millis() > 55)
        );
        assert_eq!(
            plan.draw("Apps_show", &mut rng),
            Decision::default(),
            "other operations are untouched"
        );
    }

    #[test]
    fn rate_limited_requests_are_never_applied() {
        let plan = FaultPlan::everywhere(FaultRule {
            rate_limited: 1.0,
            applied_anyway: 1.0,
            ..FaultRule::default()
        });
        let mut rng = StdRng::seed_from_u64(1);
        assert!(!plan.draw("Apps_create", &mut rng).applied);
    }
}
