//! The controller's Prometheus metrics: reconciles and their errors by reason, how long
//! reconciles take, how long Instances take to become ready, Fly.io calls by operation
//! and status, the work queue, leadership, Instances by health, heals, and how long a
//! failure lasts. Labels are stable names, never messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The metrics, shared by the reconciler, the Fly client and the HTTP endpoint.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Histogram,
    time_to_ready: Histogram,
    fly_calls: Family<Labels, Counter>,
    shortages: Family<Labels, Counter>,
    volume_changes: Family<Labels, Counter>,
    in_flight: Gauge,
    queue_depth: Gauge,
    leader: Gauge,
    scheduled: AtomicI64,
    by_health: Family<Labels, Gauge>,
    health_of: Mutex<HashMap<String, &'static str>>,
    heals: Family<Labels, Counter>,
    recovery: Histogram,
    upgrades: Family<Labels, Counter>,
    release: Family<Labels, Gauge>,
    halts: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("fasterclaw_controller");
        let reconciles = Family::<Labels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of Instances, by result (ok or error)",
            reconciles.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error or a reported problem, by reason",
            errors.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 16));
        registry.register(
            "reconcile_duration_seconds",
            "How long one reconcile takes, waits for machines included",
            duration.clone(),
        );
        let time_to_ready = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "time_to_ready_seconds",
            "From an Instance's creation to its first Ready=True",
            time_to_ready.clone(),
        );
        let fly_calls = Family::<Labels, Counter>::default();
        registry.register(
            "fly_requests",
            "Requests to the Fly.io Machines API, by operation and HTTP status (0: no answer)",
            fly_calls.clone(),
        );
        let shortages = Family::<Labels, Counter>::default();
        registry.register(
            "region_shortages",
            "Capacity answers of Fly.io, by region and kind (host_full, no_capacity, quota); a quota takes the region out of the rotation for a while",
            shortages.clone(),
        );
        let volume_changes = Family::<Labels, Counter>::default();
        registry.register(
            "volume_changes",
            "Volumes made, by kind: created, adopted, extended, snapshot, restored, moved, deleted",
            volume_changes.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now",
            in_flight.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Reconciles running or due: in flight plus those whose requeue time has come",
            queue_depth.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and acts, else 0",
            leader.clone(),
        );
        let by_health = Family::<Labels, Gauge>::default();
        registry.register(
            "instances_by_health",
            "Instances this replica reconciled, by the reason of their Healthy condition",
            by_health.clone(),
        );
        let upgrades = Family::<Labels, Counter>::default();
        registry.register(
            "upgrades",
            "Changes of a machine's image judged, by result: upgraded (healthy on the new image) or failed",
            upgrades.clone(),
        );
        let release = Family::<Labels, Gauge>::default();
        registry.register(
            "release_instances",
            "Instances of the fleet release, by state: upgraded, upgrading, waiting, failed, on_candidate, pinned",
            release.clone(),
        );
        let halts = Counter::default();
        registry.register(
            "release_halts",
            "Rollouts that halted by themselves after more failures than their budget",
            halts.clone(),
        );
        let heals = Family::<Labels, Counter>::default();
        registry.register(
            "heals",
            "Heals the controller carried out on its own, by kind: started, restarted, replaced, moved, stopped (a crash loop)",
            heals.clone(),
        );
        let recovery = Histogram::new(exponential_buckets(5.0, 2.0, 14));
        registry.register(
            "recovery_seconds",
            "From an Instance's gateway becoming unhealthy to healthy again",
            recovery.clone(),
        );
        Self {
            registry,
            by_health,
            health_of: Mutex::new(HashMap::new()),
            heals,
            recovery,
            upgrades,
            release,
            halts,
            reconciles,
            errors,
            duration,
            time_to_ready,
            fly_calls,
            shortages,
            volume_changes,
            in_flight,
            queue_depth,
            leader,
            scheduled: AtomicI64::new(0),
        }
    }
}

/// Measures one reconcile from start to drop.
pub struct ReconcileTimer {
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics
            .duration
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics.in_flight.dec();
        self.metrics.refresh_queue_depth();
    }
}

impl Metrics {
    /// Starts measuring a reconcile.
    pub fn reconcile_started(self: &Arc<Self>) -> ReconcileTimer {
        self.in_flight.inc();
        self.scheduled
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some((n - 1).max(0)))
            .ok();
        self.refresh_queue_depth();
        ReconcileTimer {
            metrics: self.clone(),
            started: Instant::now(),
        }
    }

    /// A reconcile finished; `error` is its error reason, if any.
    pub fn reconcile_finished(&self, error: Option<&str>) {
        let result = if error.is_some() { "error" } else { "ok" };
        self.reconciles
            .get_or_create(&vec![("result".to_owned(), result.to_owned())])
            .inc();
        if let Some(reason) = error {
            self.error(reason);
        }
    }

    /// A reconcile reported a problem or failed, for `reason`.
    pub fn error(&self, reason: &str) {
        self.errors
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc();
    }

    /// An Instance became ready for the first time, `seconds` after its creation.
    pub fn became_ready(&self, seconds: f64) {
        self.time_to_ready.observe(seconds.max(0.0));
    }

    /// A Fly.io answer.
    pub fn fly_call(&self, operation: &str, status: u16) {
        self.fly_calls
            .get_or_create(&vec![
                ("operation".to_owned(), operation.to_owned()),
                ("status".to_owned(), status.to_string()),
            ])
            .inc();
    }

    /// Fly.io said a region has no room (or no quota).
    pub fn shortage(&self, region: &str, kind: &str) {
        self.shortages
            .get_or_create(&vec![
                ("region".to_owned(), region.to_owned()),
                ("kind".to_owned(), kind.to_owned()),
            ])
            .inc();
    }

    /// An Instance's `Healthy` reason is now `reason`.
    pub fn set_health(&self, uid: &str, reason: &'static str) {
        let mut health_of = self
            .health_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = health_of.insert(uid.to_owned(), reason);
        if before == Some(reason) {
            return;
        }
        if let Some(before) = before {
            self.by_health
                .get_or_create(&vec![("reason".to_owned(), before.to_owned())])
                .dec();
        }
        self.by_health
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc();
    }

    /// An Instance is gone: it no longer counts by health.
    pub fn forget_health(&self, uid: &str) {
        let mut health_of = self
            .health_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(before) = health_of.remove(uid) {
            self.by_health
                .get_or_create(&vec![("reason".to_owned(), before.to_owned())])
                .dec();
        }
    }

    /// A change of image was judged: `upgraded` or `failed`.
    pub fn upgrade(&self, result: &str) {
        self.upgrades
            .get_or_create(&vec![("result".to_owned(), result.to_owned())])
            .inc();
    }

    /// The fleet release's counts, by state.
    pub fn release_counts(&self, counts: &[(&str, u32)]) {
        for (state, count) in counts {
            self.release
                .get_or_create(&vec![("state".to_owned(), (*state).to_owned())])
                .set(i64::from(*count));
        }
    }

    /// A rollout halted by itself.
    pub fn release_halted(&self) {
        self.halts.inc();
    }

    /// A heal of `kind` was carried out.
    pub fn healed(&self, kind: &str) {
        self.heals
            .get_or_create(&vec![("kind".to_owned(), kind.to_owned())])
            .inc();
    }

    /// A gateway is healthy again after `seconds` unhealthy.
    pub fn recovered(&self, seconds: f64) {
        self.recovery.observe(seconds);
    }

    /// Counts a volume change of `kind`.
    pub fn volume_change(&self, kind: &str) {
        self.volume_changes
            .get_or_create(&vec![("kind".to_owned(), kind.to_owned())])
            .inc();
    }

    /// A reconcile was scheduled (a requeue whose time will come).
    pub fn scheduled(&self, delta: i64) {
        self.scheduled.fetch_add(delta, Ordering::SeqCst);
        self.refresh_queue_depth();
    }

    fn refresh_queue_depth(&self) {
        self.queue_depth
            .set(self.in_flight.get() + self.scheduled.load(Ordering::SeqCst).max(0));
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_stable_labels() {
        let metrics = Arc::new(Metrics::default());
        {
            let _timer = metrics.reconcile_started();
            metrics.reconcile_finished(Some("fly"));
        }
        metrics.fly_call("Machines_create", 200);
        metrics.became_ready(12.0);
        metrics.set_leader(true);
        let text = metrics.render();
        for expected in [
            "fasterclaw_controller_reconciles_total{result=\"error\"} 1",
            "fasterclaw_controller_reconcile_errors_total{reason=\"fly\"} 1",
            "fasterclaw_controller_reconcile_duration_seconds_count 1",
            "fasterclaw_controller_time_to_ready_seconds_count 1",
            "fasterclaw_controller_fly_requests_total{operation=\"Machines_create\",status=\"200\"} 1",
            "fasterclaw_controller_reconciles_in_flight 0",
            "fasterclaw_controller_leader 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
