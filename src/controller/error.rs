//! The controller's errors: what made a reconcile fail so that it is retried with
//! backoff. Problems the Instance's owner must fix (a missing key, a refused config)
//! are not errors: they are reported in the status and wait for a change.

use crate::db::StoreError;
use crate::fly::FlyError;

/// Why a reconcile failed and will be retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fly.io failed in a way that may pass (5xx, 429, the network), after the client's
    /// own retries.
    #[error(transparent)]
    Fly(#[from] FlyError),
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Postgres failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Instance lacks metadata the API server always sets.
    #[error("the Instance has no {0}")]
    MissingMetadata(&'static str),
    /// The reconcile panicked; the panic's message.
    #[error("the reconcile failed unexpectedly: {0}")]
    Panicked(String),
}

impl Error {
    /// A stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Fly(_) => "fly",
            Error::Kube(_) => "kubernetes",
            Error::Store(_) => "database",
            Error::MissingMetadata(_) => "metadata",
            Error::Panicked(_) => "panic",
        }
    }
}

/// Why the settings cannot be used: one line naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);
