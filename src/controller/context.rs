//! What every reconcile shares: the clients, the settings and the bookkeeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kube::runtime::events::{Event, Recorder};
use kube::{Resource, ResourceExt};

use super::backoff::Backoff;
use super::events::Note;
use super::followed::FollowedRelease;
use super::images::AllowedImages;
use super::metrics::Metrics;
use super::regions::Regions;
use super::settings::{HealthPolicy, MachineDefaults, PlatformKeys, Storage, Timing};
use crate::crd::Instance;
use crate::crypto::Keyring;
use crate::db::Database;
use crate::fly::FlyClient;

/// The reconcilers' shared state.
pub struct Context {
    /// The Kubernetes API.
    pub client: kube::Client,
    /// The Fly.io Machines API.
    pub fly: FlyClient,
    /// Postgres, for stored tokens.
    pub db: Database,
    /// Opens stored tokens.
    pub keyring: Keyring,
    /// The providers' platform keys.
    pub platform_keys: PlatformKeys,
    /// What machines are made of.
    pub machine_defaults: MachineDefaults,
    /// How volumes are made and kept.
    pub storage: Storage,
    /// Regions left out of the rotation for a while.
    pub regions: Regions,
    /// When to look again.
    pub timing: Timing,
    /// The bounds the controller heals within.
    pub health: HealthPolicy,
    /// Prefix of app names.
    pub app_prefix: String,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Backoff after errors, per Instance.
    pub backoff: Backoff,
    /// Images allowed to run with the platform's keys.
    pub allowed_images: AllowedImages,
    /// The fleet release: which image a new machine gets.
    pub release: FollowedRelease,
    /// Warnings already published about an Instance's annotations.
    pub warnings: Warnings,
    /// Adoptions under way, by app, so that this process claims an app for one
    /// Instance at a time.
    pub adoptions: Adoptions,
    /// State taken from machines being replaced, by Instance uid, until the machine
    /// on the volume takes it.
    pub carried: CarriedStates,
}

/// State carried from a replaced machine to its successor (base64 of a gzip tar), held
/// in memory between the two: it never touches the Instance, a log or Fly.io's config.
#[derive(Default)]
pub struct CarriedStates {
    states: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for CarriedStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CarriedStates")
    }
}

impl CarriedStates {
    /// Keeps `state` for the Instance `uid`.
    pub fn keep(&self, uid: &str, state: String) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uid.to_owned(), state);
    }

    /// Whether state waits for the Instance `uid`.
    pub fn holds(&self, uid: &str) -> bool {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(uid)
    }

    /// The state waiting for the Instance `uid`, if any.
    pub fn peek(&self, uid: &str) -> Option<String> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uid)
            .cloned()
    }

    /// Forgets the Instance `uid`'s state (it was taken).
    pub fn forget(&self, uid: &str) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }
}

/// A lock per app being adopted.
#[derive(Debug, Default)]
pub struct Adoptions {
    apps: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Adoptions {
    /// Waits until no other reconcile of this process is claiming `app`, and holds it.
    pub async fn lock(&self, app: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
            // Locks nobody holds or waits for are dropped as others are taken.
            apps.retain(|_, lock| Arc::strong_count(lock) > 1);
            apps.entry(app.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// The last warning published about each Instance's annotations, so that a bad value
/// is announced once, not at every resync.
#[derive(Debug, Default)]
pub struct Warnings {
    last: Mutex<HashMap<String, String>>,
}

impl Warnings {
    /// Whether `message` is new for the Instance `uid` (and remembers it).
    pub fn first(&self, uid: &str, message: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.get(uid).is_some_and(|m| m == message) {
            return false;
        }
        last.insert(uid.to_owned(), message.to_owned());
        true
    }

    /// Forgets the Instance's warning (its annotations are fine again).
    pub fn forget(&self, uid: &str) {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("app_prefix", &self.app_prefix)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Publishes an Event about `instance`, best effort: a failure is logged, never
    /// fails the reconcile. Repeats are folded into a series by the recorder.
    pub async fn publish(&self, instance: &Instance, note: Note) {
        let event = Event {
            type_: note.reason.kind(),
            reason: note.reason.as_str().to_owned(),
            note: Some(note.text),
            action: note.reason.action().to_owned(),
            secondary: None,
        };
        let reference = instance.object_ref(&());
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(instance = %instance.name_any(), reason = note.reason.as_str(), error = %e, "cannot publish an Event");
        }
    }
}
