//! The Kubernetes API server simulator, driven through kube-rs (and kubectl): the
//! semantics FasterClaw's controller and facade rely on, and the Instance CRD applied to
//! it.

mod builtins;
mod cluster_scoped;
mod controller;
mod crd;
mod discovery;
mod fidelity;
mod kubectl;
mod patches;
mod verbs;
mod watch;

use std::net::SocketAddr;
use std::path::Path;

use fasterclaw::crd::Instance;
use fasterclaw_sim::kube::{KubeSim, KubeSimConfig};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::{Client, Config};
use serde_json::{Value, json};

/// A server and a kube-rs client of it.
pub struct Kube {
    pub sim: KubeSim,
    pub client: Client,
}

pub async fn kube_with(config: KubeSimConfig) -> Kube {
    fasterclaw::tls::install_crypto_provider();
    let sim = KubeSim::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the API server simulator starts");
    let config = Config::new(sim.url().parse().expect("a URL"));
    let client = Client::try_from(config).expect("a kube client");
    Kube { sim, client }
}

/// A server with the Instance CRD installed from `crds/instance.yaml`.
pub async fn kube() -> Kube {
    let kube = kube_with(KubeSimConfig::default()).await;
    kube.sim
        .install_crds_from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/instance.yaml"))
        .expect("the committed CRD installs");
    kube
}

impl Kube {
    pub fn instances(&self) -> Api<Instance> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub fn dynamic_instances(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            "default",
            &ApiResource::erase::<Instance>(&()),
        )
    }

    /// A raw HTTP request, for what kube-rs does not expose (Status causes, headers).
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            reqwest::Client::new().request(method, format!("{}{path}", self.sim.url()));
        if let Some(body) = body {
            request = request
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// An Instance as a user writes it (the README's example), named `name`.
pub fn instance(name: &str) -> Value {
    json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "Instance",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "displayName": "Support bot",
            "ownerId": "ops-team",
            "telegramToken": { "secretKeyRef": { "name": "support-bot-telegram", "key": "token" } }
        }
    })
}

pub fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a valid object")
}
