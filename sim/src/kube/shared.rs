//! State shared by the handlers.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::faults::{Injected, KubeFaults};
use super::store::Store;
use crate::sync::lock;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct KubeSimConfig {
    /// Changes kept for watches to resume from; older resourceVersions get 410.
    pub change_log: usize,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Seed of generated names and faults.
    pub seed: u64,
}

impl Default for KubeSimConfig {
    fn default() -> Self {
        Self {
            change_log: 10_000,
            bookmark_interval: Duration::from_secs(10),
            seed: 42,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    store: Mutex<Store>,
    rng: Mutex<StdRng>,
    faults: Mutex<KubeFaults>,
    bookmark_interval: Duration,
    /// `host:port` the server answers on, for discovery.
    pub address: String,
}

impl Shared {
    /// Fresh state.
    pub fn new(config: &KubeSimConfig, address: String) -> Self {
        Self {
            store: Mutex::new(Store::new(config.change_log)),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            faults: Mutex::new(KubeFaults::default()),
            bookmark_interval: config.bookmark_interval,
            address,
        }
    }

    /// The store, locked. Never hold it across an `.await`.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// The seeded generator.
    pub fn rng(&self) -> MutexGuard<'_, StdRng> {
        lock(&self.rng)
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: KubeFaults) {
        *lock(&self.faults) = faults;
    }

    /// Draws the latency and injected failure of one request.
    pub fn draw(&self, is_write: bool) -> (Duration, Option<Injected>) {
        let faults = lock(&self.faults).clone();
        faults.draw(is_write, &mut self.rng())
    }

    /// How long a new watch lives before it is cut, if watches are cut.
    pub fn watch_lifetime(&self) -> Option<Duration> {
        let faults = lock(&self.faults).clone();
        faults.watch_lifetime(&mut self.rng())
    }

    /// How often watches get a bookmark.
    pub fn bookmark_interval(&self) -> Duration {
        self.bookmark_interval
    }
}
