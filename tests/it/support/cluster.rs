//! The Kubernetes API a test runs against, with a namespace of its own.
//!
//! End-to-end tests run against a real kube-apiserver ([`super::envtest`]). When the
//! test command could find none, it says so loudly and sets
//! `FASTERCLAW_TEST_KUBE=simulator`, and the same tests run against the Kubernetes API
//! simulator instead. Tests of what only the simulator can do (injected faults) ask
//! for it with [`TestCluster::simulator`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fasterclaw::crd::Instance;
use fasterclaw_sim::kube::{KubeSim, KubeSimConfig};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::envtest::{self, Version};

/// Which server answers.
pub enum Backend {
    /// A real kube-apiserver, shared by the test run.
    Real,
    /// The simulator, this test's own.
    Simulator(KubeSim),
}

/// A Kubernetes API server, a client of it, and a namespace for this test.
pub struct TestCluster {
    /// A client with the admin's rights.
    pub client: Client,
    /// The namespace this test works in (it exists).
    pub namespace: String,
    /// A kubeconfig for processes the test starts.
    pub kubeconfig: PathBuf,
    /// The server.
    pub backend: Backend,
    _files: tempfile::TempDir,
}

impl TestCluster {
    /// The server end-to-end tests run against: the real one, or the simulator when
    /// the test command found no real one and said so.
    pub async fn new() -> Self {
        Self::of(Version::Current).await
    }

    /// A real kube-apiserver of `version`, or the simulator when the test command found
    /// none and said so.
    pub async fn of(version: Version) -> Self {
        let simulator_chosen =
            std::env::var("FASTERCLAW_TEST_KUBE").is_ok_and(|v| v == "simulator");
        if simulator_chosen && !envtest::available(version) {
            return Self::simulator(KubeSimConfig::default()).await;
        }
        Self::real(version).await
    }

    /// A real kube-apiserver of `version`.
    async fn real(version: Version) -> Self {
        let server = envtest::server(version);
        let files = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = files.path().join("kubeconfig");
        std::fs::copy(&server.kubeconfig, &kubeconfig).expect("the kubeconfig is copied");
        let client = server.client().await;
        Self::with_namespace(client, kubeconfig, Backend::Real, files).await
    }

    /// The Kubernetes API simulator, with the Instance CRD installed.
    pub async fn simulator(config: KubeSimConfig) -> Self {
        fasterclaw::tls::install_crypto_provider();
        let sim = KubeSim::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the API server simulator starts");
        sim.install_crds_from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/instance.yaml"),
        )
        .expect("the committed CRD installs");
        let files = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = files.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig)
            .expect("the kubeconfig is written");
        let parsed = Kubeconfig::read_from(&kubeconfig).expect("the kubeconfig parses");
        let config = Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
            .await
            .expect("the kubeconfig is usable");
        let client = Client::try_from(config).expect("a kube client");
        Self::with_namespace(client, kubeconfig, Backend::Simulator(sim), files).await
    }

    async fn with_namespace(
        client: Client,
        kubeconfig: PathBuf,
        backend: Backend,
        files: tempfile::TempDir,
    ) -> Self {
        let namespace = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": namespace, "labels": { "fasterclaw.io/test": "true" } }
        }))
        .expect("a namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("the test namespace is created");
        Self {
            client,
            namespace,
            kubeconfig,
            backend,
            _files: files,
        }
    }

    /// Instances in this test's namespace.
    pub fn instances(&self) -> Api<Instance> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The simulator, when this test runs on it.
    pub fn sim(&self) -> Option<&KubeSim> {
        match &self.backend {
            Backend::Simulator(sim) => Some(sim),
            Backend::Real => None,
        }
    }
}
