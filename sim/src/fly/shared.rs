//! The simulator's shared state: the world behind a lock, the fault plan and its
//! generator, the rate limiters and the call counts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Notify;

use super::broken;
use super::faults::{Decision, FaultPlan};
use super::limits::RateLimits;
use super::runtime::{MachineRuntime, Runtime};
use super::world::{MachineState, Transition, World};
use crate::sync::lock;

/// How the simulator behaves.
#[derive(Clone, Debug)]
pub struct FlySimConfig {
    /// The API token requests must carry, as `FLY_API_TOKEN` would be set to it: a
    /// macaroon (`FlyV1 …`) is expected as it is, any other token as `Bearer <token>`.
    pub token: String,
    /// The organization apps are created in when a request names none.
    pub org_slug: String,
    /// How long a machine takes from `starting` to `started`, `stopping` to `stopped`,
    /// and so on.
    pub transition: Duration,
    /// Seed of the generator behind ids and faults.
    pub seed: u64,
    /// Whether Fly's rate limits answer 429.
    pub rate_limits: bool,
    /// Where started machines run as local processes; `None` keeps machines as pure
    /// state (see [`crate::fly::runtime`]).
    pub runtime: Option<MachineRuntime>,
}

impl Default for FlySimConfig {
    fn default() -> Self {
        Self {
            token: "fly-sim-token".to_owned(),
            org_slug: "personal".to_owned(),
            transition: Duration::from_millis(100),
            seed: 42,
            rate_limits: true,
            runtime: None,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    world: Mutex<World>,
    faults: Mutex<(FaultPlan, StdRng)>,
    calls: Mutex<BTreeMap<String, u64>>,
    statuses: Mutex<BTreeMap<(String, u16), u64>>,
    /// Woken at every state change, for `wait`.
    pub changed: Notify,
    /// Fly's rate limits.
    pub limits: RateLimits,
    rate_limits_enabled: AtomicBool,
    transition_ms: AtomicU64,
    /// The configuration the simulator started with.
    pub config: FlySimConfig,
    /// The machines' processes, when they run.
    pub runtime: Option<Arc<Runtime>>,
}

impl Shared {
    /// Fresh state.
    pub fn new(config: FlySimConfig) -> Arc<Self> {
        Arc::new(Self {
            world: Mutex::new(World::new(StdRng::seed_from_u64(config.seed))),
            faults: Mutex::new((
                FaultPlan::none(),
                StdRng::seed_from_u64(config.seed ^ 0x5eed),
            )),
            calls: Mutex::new(BTreeMap::new()),
            statuses: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
            limits: RateLimits::default(),
            rate_limits_enabled: AtomicBool::new(config.rate_limits),
            transition_ms: AtomicU64::new(
                u64::try_from(config.transition.as_millis()).unwrap_or(u64::MAX),
            ),
            runtime: config.runtime.clone().map(Runtime::new),
            config,
        })
    }

    /// The world, locked. Never hold it across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Counts a call of `operation`.
    pub fn count(&self, operation: &str) {
        *lock(&self.calls).entry(operation.to_owned()).or_default() += 1;
    }

    /// Calls so far, by operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.calls).clone()
    }

    /// Counts an answer of `operation` with `status`.
    pub fn count_status(&self, operation: &str, status: u16) {
        *lock(&self.statuses)
            .entry((operation.to_owned(), status))
            .or_default() += 1;
    }

    /// Answers so far, by operation and status.
    pub fn statuses(&self) -> BTreeMap<(String, u16), u64> {
        lock(&self.statuses).clone()
    }

    /// Forgets the call and answer counts.
    pub fn reset_calls(&self) {
        lock(&self.calls).clear();
        lock(&self.statuses).clear();
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        lock(&self.faults).0 = plan;
    }

    /// The fault plan.
    pub fn faults(&self) -> FaultPlan {
        lock(&self.faults).0.clone()
    }

    /// Draws what happens to one request.
    pub fn draw(&self, operation: &str) -> Decision {
        let mut faults = lock(&self.faults);
        let (plan, rng) = &mut *faults;
        plan.draw(operation, rng)
    }

    /// Turns the rate limits on or off.
    pub fn set_rate_limits(&self, enabled: bool) {
        self.rate_limits_enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether the rate limits are on.
    pub fn rate_limits_enabled(&self) -> bool {
        self.rate_limits_enabled.load(Ordering::Relaxed)
    }

    /// Sets how long state transitions take.
    pub fn set_transition(&self, duration: Duration) {
        self.transition_ms.store(
            u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// How long state transitions take.
    pub fn transition(&self) -> Duration {
        Duration::from_millis(self.transition_ms.load(Ordering::Relaxed))
    }

    /// After a change to the world: wakes the waiters now, and completes each of the
    /// change's `transitions` after the configured delay, waking them again.
    pub fn after_change(self: &Arc<Self>, transitions: impl IntoIterator<Item = Transition>) {
        self.changed.notify_waiters();
        for transition in transitions {
            let shared = Arc::clone(self);
            if let Some(runtime) = &self.runtime {
                tokio::spawn(Arc::clone(runtime).apply(shared, transition));
                continue;
            }
            tokio::spawn(async move {
                tokio::time::sleep(shared.transition()).await;
                let broken = {
                    let mut world = shared.world();
                    if !world.finish(&transition) {
                        return;
                    }
                    let (app, id) = (&transition.app, &transition.machine);
                    match world.epoch_of(app, id) {
                        Some((MachineState::Started, epoch)) => {
                            let broken = broken::is_broken(&world, app, id, epoch);
                            broken::set_checks(&mut world, app, id, broken);
                            broken.then_some(epoch)
                        }
                        _ => None,
                    }
                };
                shared.changed.notify_waiters();
                if let Some(epoch) = broken {
                    shared
                        .exit_at_start(&transition.app, &transition.machine, epoch)
                        .await;
                }
            });
        }
    }

    /// Without a machine runtime: exits and restarts a machine that started at `epoch`
    /// while its image is broken (see [`broken`]), one transition time apart, until its
    /// restart policy stops it, the image is mended or anything else moves the machine.
    async fn exit_at_start(&self, app: &str, id: &str, mut epoch: u64) {
        for restarts in 0.. {
            tokio::time::sleep(self.transition()).await;
            let exited = broken::exit(&mut self.world(), app, id, epoch, restarts);
            self.changed.notify_waiters();
            let broken::Exited::Restarting(restarting) = exited else {
                return;
            };
            tokio::time::sleep(self.transition()).await;
            let Some(started) = broken::restart(&mut self.world(), app, id, restarting) else {
                return;
            };
            self.changed.notify_waiters();
            epoch = started;
        }
    }
}
