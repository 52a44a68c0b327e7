//! What every reconcile shares: the clients, the settings and the bookkeeping.

use std::sync::Arc;

use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};

use super::backoff::Backoff;
use super::metrics::Metrics;
use super::settings::{MachineDefaults, PlatformKeys, Timing};
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
    /// When to look again.
    pub timing: Timing,
    /// Prefix of app names.
    pub app_prefix: String,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Backoff after errors, per Instance.
    pub backoff: Backoff,
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
    pub async fn publish(
        &self,
        instance: &Instance,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        let reference = instance.object_ref(&());
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(instance = %instance.name_any(), reason, error = %e, "cannot publish an Event");
        }
    }
}
