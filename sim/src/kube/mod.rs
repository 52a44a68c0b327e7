//! A Kubernetes API server for tests and local runs, speaking the real HTTP protocol
//! with the real semantics for the resources FasterClaw uses: custom resources served
//! from CustomResourceDefinitions (validated against their structural schema and CEL
//! rules), Namespaces, Secrets, ConfigMaps, Events and Leases; get, list (selectors,
//! pagination), watch (resume, bookmarks, initial events, 410 Expired), create, update,
//! JSON / merge / strategic merge patch, server-side apply with managed fields and
//! conflicts, the status subresource, `generation`, finalizers; discovery and OpenAPI
//! for `kubectl`; and seeded fault injection.
//!
//! Embed it with [`KubeSim::start`]; run it alone with `fasterclaw-sim kube`.

mod builtins;
mod cause;
mod discovery;
mod events;
mod faults;
mod fields;
mod http;
mod objects;
mod protobuf;
mod resources;
mod schema;
mod selectors;
mod shared;
mod status;
mod store;
mod table;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use faults::KubeFaults;
pub use shared::KubeSimConfig;

use objects::{FieldValidation, Writer};
use shared::Shared;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// A CRD file does not parse or define a valid CRD.
    #[error("invalid CustomResourceDefinition: {0}")]
    Crd(String),
}

/// A running API server. Dropping it stops the server.
#[derive(Debug)]
pub struct KubeSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

fn system_writer() -> Writer {
    Writer {
        manager: "fasterclaw-sim".to_owned(),
        subresource: None,
        field_validation: FieldValidation::Strict,
        dry_run: false,
        v1_events: false,
    }
}

impl KubeSim {
    /// Starts a server on `listen` (port 0 picks a free one) with the default namespaces
    /// (`default`, `kube-system`, `kube-public`, `kube-node-lease`).
    pub async fn start(config: KubeSimConfig, listen: SocketAddr) -> Result<Self, StartError> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config, addr.to_string()));
        {
            let mut store = shared.store();
            let namespaces = store
                .types()
                .iter()
                .find(|t| t.kind == "Namespace")
                .cloned()
                .ok_or_else(|| StartError::Crd("no Namespace type".to_owned()))?;
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let object = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
                objects::create(&mut store, &namespaces, &system_writer(), object)
                    .map_err(|e| StartError::Crd(e.message))?;
            }
        }
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Kubernetes API simulator stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// Starts a server on a free loopback port with the default configuration.
    pub async fn start_default() -> Result<Self, StartError> {
        Self::start(
            KubeSimConfig::default(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Installs every CustomResourceDefinition in a YAML file (several documents
    /// allowed), as `kubectl apply -f` would.
    pub fn install_crds_from_file(&self, path: &Path) -> Result<Vec<String>, StartError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::Crd(format!("{}: {e}", path.display())))?;
        self.install_crds_from_yaml(&text)
    }

    /// Installs every CustomResourceDefinition in YAML text; returns their names.
    pub fn install_crds_from_yaml(&self, text: &str) -> Result<Vec<String>, StartError> {
        let mut names = Vec::new();
        for document in yaml_serde::Deserializer::from_str(text) {
            let crd = Value::deserialize(document).map_err(|e| StartError::Crd(e.to_string()))?;
            if crd.is_null() {
                continue;
            }
            if crd["kind"] != "CustomResourceDefinition" {
                return Err(StartError::Crd(format!(
                    "expected a CustomResourceDefinition, found kind {}",
                    crd["kind"]
                )));
            }
            let mut store = self.shared.store();
            let crds = store
                .types()
                .iter()
                .find(|t| t.kind == "CustomResourceDefinition")
                .cloned()
                .ok_or_else(|| StartError::Crd("no CRD type".to_owned()))?;
            let written = objects::create(&mut store, &crds, &system_writer(), crd)
                .map_err(|e| StartError::Crd(e.message))?;
            names.push(
                written.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        Ok(names)
    }

    /// Writes a kubeconfig for this server to `path`, with the context `fasterclaw-sim`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// A kubeconfig for this server.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fasterclaw-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: fasterclaw-sim\n  context:\n    cluster: fasterclaw-sim\n    user: fasterclaw-sim\n    namespace: default\ncurrent-context: fasterclaw-sim\nusers:\n- name: fasterclaw-sim\n  user:\n    token: fasterclaw-sim\n",
            url = self.url()
        )
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, faults: KubeFaults) {
        self.shared.set_faults(faults);
    }

    /// Forgets the change log, so watches from older resourceVersions get 410.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// The current resource version.
    pub fn revision(&self) -> u64 {
        self.shared.store().revision()
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}
