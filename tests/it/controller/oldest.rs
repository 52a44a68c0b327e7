//! The controller on the oldest Kubernetes supported (1.25): no WatchList, no
//! server-side field validation, CEL behind a feature gate. An Instance still runs,
//! changes and goes.

use std::time::Duration;

use fasterclaw_sim::fly::FlySimConfig;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::support::cluster::TestCluster;
use crate::support::envtest::Version;
use crate::support::stack::{Stack, TOKEN, phase, running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_runs_stops_and_goes_on_kubernetes_1_25() {
    let stack = Stack::on(
        TestCluster::of(Version::Oldest).await,
        FlySimConfig::default(),
    )
    .await;
    stack.token_secret("old-telegram", TOKEN).await;
    let _controller = stack.controller(&[]);
    stack.instance("old", json!({})).await;
    stack
        .until("old", Duration::from_secs(30), "RUNNING", running)
        .await;
    stack
        .instances()
        .patch(
            "old",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "powerState": "Stopped" } })),
        )
        .await
        .unwrap();
    stack
        .until("old", Duration::from_secs(30), "STOPPED", |i| {
            phase(i) == "STOPPED"
        })
        .await;
    stack
        .instances()
        .delete("old", &DeleteParams::default())
        .await
        .unwrap();
    stack.until_gone("old", Duration::from_secs(30)).await;
    assert!(stack.fly.app_names().is_empty());
}
