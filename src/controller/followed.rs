//! The fleet release the controller follows (`FLEET_RELEASE`), as last read: shared by
//! the rollout, which reads it, and every reconcile, which asks it which image a new
//! machine gets.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::Notify;

use crate::crd::FleetRelease;

/// The release every reconcile reads.
#[derive(Debug)]
pub struct FollowedRelease {
    name: String,
    current: RwLock<Option<Arc<FleetRelease>>>,
    /// Rung when an Instance's change of image is judged: its slot is free.
    judged: Notify,
}

impl FollowedRelease {
    /// Follows the release `name`; none is known yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.trim().to_owned(),
            current: RwLock::new(None),
            judged: Notify::new(),
        }
    }

    /// The release's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The release as last read, if there is one.
    pub fn current(&self) -> Option<Arc<FleetRelease>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps `release` as the one every reconcile reads from now on.
    pub(super) fn set(&self, release: Option<FleetRelease>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = release.map(Arc::new);
    }

    /// Tells the rollout that an Instance's change of image was judged (and its status
    /// written), so the slot it held can be given now rather than at the next pass.
    pub fn upgrade_judged(&self) {
        self.judged.notify_one();
    }

    /// Waits until an upgrade is judged (at once when one was since the last wait).
    pub(super) async fn judged(&self) {
        self.judged.notified().await;
    }
}
