//! What the long-running commands (`controller`, `api`) share to start and to stop:
//! one error type whose every message is one line for the operator, the settings every
//! one of them checks the same way, and the signal that stops them.

use std::net::SocketAddr;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use secrecy::SecretString;

use crate::db::{Database, DatabaseArgs, StoreError};

/// Why a command could not start, or stopped: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or malformed.
    #[error("{0}")]
    Setting(String),
    /// The Kubernetes API is not reachable.
    #[error("cannot reach the Kubernetes API: {0}")]
    Kubernetes(String),
    /// The Instance CRD is not installed.
    #[error("the Instance CRD is not installed: run `fasterclaw crd | kubectl apply -f -` ({0})")]
    CrdMissing(String),
    /// Postgres is not reachable.
    #[error(transparent)]
    Database(#[from] StoreError),
    /// An address cannot be listened on.
    #[error("cannot listen on {setting} {addr}: {source}")]
    Listen {
        /// The setting that names the address.
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl StartError {
    /// A setting that cannot be used, from anything that says why in one line.
    pub fn setting(why: impl std::fmt::Display) -> Self {
        Self::Setting(why.to_string())
    }
}

/// Connects to the database `DATABASE_URL` names.
pub async fn database(args: &DatabaseArgs) -> Result<Database, StartError> {
    let url: &SecretString = args
        .url()
        .ok_or_else(|| StartError::setting("DATABASE_URL is not set"))?;
    Ok(Database::connect(url).await?)
}

/// A client of the Kubernetes API, as kube-rs finds it (in-cluster, or `KUBECONFIG`).
pub async fn kubernetes() -> Result<kube::Client, StartError> {
    kube::Client::try_default()
        .await
        .map_err(|e| StartError::Kubernetes(e.to_string()))
}

/// Listens on `addr`, which the setting `setting` names.
pub async fn listen(
    addr: SocketAddr,
    setting: &'static str,
) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            setting,
            addr,
            source,
        })
}

/// A future that resolves on SIGTERM or SIGINT; clones resolve together.
pub fn shutdown_signal() -> Shared<BoxFuture<'static, ()>> {
    async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        tracing::info!("shutting down");
    }
    .boxed()
    .shared()
}
