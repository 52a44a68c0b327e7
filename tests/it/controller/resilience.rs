//! The controller under faults: killed at random points while provisioning, two
//! replicas with one leader, Fly.io answering errors and rate limits, and a Kubernetes
//! API that drops watches, conflicts and expires versions. Everything converges and
//! nothing is made twice.

use std::time::Duration;

use fasterclaw_sim::fly::{FaultPlan, FaultRule, FlySimConfig};
use fasterclaw_sim::kube::{KubeFaults, KubeSimConfig};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams};
use rand::Rng;
use serde_json::json;

use crate::support::cluster::TestCluster;
use crate::support::stack::{ControllerProcess, Stack, TOKEN, running};

async fn all_running(stack: &Stack, names: &[String], timeout: Duration) {
    for name in names {
        stack.until(name, timeout, "RUNNING", running).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_twenty_times_it_converges_without_duplicates() {
    let cluster = TestCluster::new().await;
    let fly = FlySimConfig {
        transition: Duration::from_millis(400),
        ..FlySimConfig::default()
    };
    let stack = Stack::on(cluster, fly).await;
    let mut rng = rand::rng();
    let mut names = Vec::new();
    let mut controller = stack.controller(&[]);
    for round in 0..20 {
        let name = format!("bot-{round}");
        stack.token_secret(&format!("{name}-telegram"), TOKEN).await;
        stack.instance(&name, json!({})).await;
        names.push(name);
        // Somewhere in the middle of provisioning: app, secrets, machine or the wait.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..900))).await;
        controller.kill();
        controller = stack.controller(&[]);
    }
    all_running(&stack, &names, Duration::from_secs(90)).await;
    let (apps, machines) = stack.fly.created();
    assert_eq!(
        (apps, machines),
        (20, 20),
        "one app and one machine per Instance"
    );
    let state = stack.fly.state();
    for app in state["apps"].as_array().unwrap() {
        let live = app["machines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["state"] != "destroyed")
            .count();
        assert_eq!(live, 1, "app {} has {live} machines", app["name"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_one_acts_and_the_other_takes_over_when_it_dies() {
    let stack = Stack::new().await;
    let leases: Api<Lease> =
        Api::namespaced(stack.cluster.client.clone(), &stack.cluster.namespace);
    let mut first = stack.controller(&[("POD_NAME", "replica-a")]);
    let holder = || async {
        leases
            .get_opt("fasterclaw-controller")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while holder().await.as_deref() != Some("replica-a") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica-a never led"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = stack.controller(&[("POD_NAME", "replica-b")]);
    stack.token_secret("one-telegram", TOKEN).await;
    stack.instance("one", json!({})).await;
    stack
        .until("one", Duration::from_secs(30), "RUNNING", running)
        .await;
    assert!(
        first
            .metrics()
            .await
            .contains("fasterclaw_controller_leader 1")
    );
    let standby = second.metrics().await;
    assert!(
        standby.contains("fasterclaw_controller_leader 0"),
        "{standby}"
    );
    assert!(
        !standby.contains("fasterclaw_controller_reconciles_total"),
        "the standby reconciled nothing"
    );

    first.kill();
    let killed = tokio::time::Instant::now();
    while holder().await.as_deref() != Some("replica-b") {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "replica-b did not take over within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.token_secret("two-telegram", TOKEN).await;
    stack.instance("two", json!({})).await;
    stack
        .until(
            "two",
            Duration::from_secs(30),
            "RUNNING under the new leader",
            running,
        )
        .await;
    assert_eq!(stack.fly.created(), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_with_sigterm_releases_its_lease_at_once() {
    let stack = Stack::new().await;
    let leases: Api<Lease> =
        Api::namespaced(stack.cluster.client.clone(), &stack.cluster.namespace);
    let mut controller = stack.controller(&[("POD_NAME", "replica-a"), ("LEASE_DURATION", "60s")]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let lease = leases.get_opt("fasterclaw-controller").await.ok().flatten();
        if lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .as_deref()
            == Some("replica-a")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never led");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = controller
        .terminate(Duration::from_secs(20))
        .expect("it stops on SIGTERM");
    assert!(status.success(), "a graceful stop exits 0");
    let spec = leases
        .get("fasterclaw-controller")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(spec.holder_identity, None, "the Lease is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_fly_and_kubernetes_faults_everything_converges_without_duplicates() {
    // The simulator: a real server cannot drop watches or answer 409s and 410s on cue.
    let cluster = TestCluster::simulator(KubeSimConfig {
        change_log: 200,
        ..KubeSimConfig::default()
    })
    .await;
    let stack = Stack::on(cluster, FlySimConfig::default()).await;
    stack.fly.set_faults(FaultPlan::everywhere(FaultRule {
        server_error: 0.20,
        rate_limited: 0.10,
        timeout: 0.05,
        applied_anyway: 0.5,
        ..FaultRule::default()
    }));
    let sim = stack.cluster.sim().expect("the simulator");
    sim.set_faults(KubeFaults {
        conflict: 0.10,
        server_error: 0.05,
        drop_watch_after_ms: Some((500, 3000)),
        ..KubeFaults::default()
    });
    // A Lease long enough that the faults and a loaded machine do not take the lead
    // away again and again: leader election has tests of its own.
    let controller = stack.controller(&[("LEASE_DURATION", "15s")]);
    let mut names = Vec::new();
    for i in 0..8 {
        let name = format!("rough-{i}");
        // Setting up the test itself meets the faults too: retry until it lands.
        loop {
            let secrets: Api<k8s_openapi::api::core::v1::Secret> =
                Api::namespaced(stack.cluster.client.clone(), &stack.cluster.namespace);
            if secrets
                .get_opt(&format!("{name}-telegram"))
                .await
                .ok()
                .flatten()
                .is_some()
            {
                break;
            }
            let secret = serde_json::from_value(json!({ "metadata": { "name": format!("{name}-telegram") }, "stringData": { "token": TOKEN } })).unwrap();
            let _ = secrets.create(&Default::default(), &secret).await;
        }
        loop {
            if stack
                .instances()
                .get_opt(&name)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                break;
            }
            let object: kube::api::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance", "metadata": { "name": name },
                "spec": { "displayName": "Rough", "ownerId": "ops", "telegramToken": { "secretKeyRef": { "name": format!("{name}-telegram"), "key": "token" } } }
            }))
            .unwrap();
            let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
                stack.cluster.client.clone(),
                &stack.cluster.namespace,
                &kube::core::ApiResource::erase::<fasterclaw::crd::Instance>(&()),
            );
            let _ = api.create(&Default::default(), &object).await;
        }
        names.push(name);
    }
    // Versions expire while it works: watches must relist.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sim.compact();
    }
    for name in &names {
        loop_until_running(&stack, name, &controller).await;
    }
    assert_eq!(stack.fly.created(), (8, 8), "no app or machine made twice");
    assert!(
        stack.fly.answers_with(429)
            + stack.fly.answers_with(500)
            + stack.fly.answers_with(502)
            + stack.fly.answers_with(503)
            > 0,
        "faults were injected"
    );

    // And deletion converges too.
    sim.set_faults(KubeFaults::default());
    for name in &names {
        stack
            .instances()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    for name in &names {
        stack.until_gone(name, Duration::from_secs(120)).await;
    }
    assert!(
        stack.fly.app_names().is_empty(),
        "{:?}",
        stack.fly.app_names()
    );
}

/// Reads through injected API faults until the Instance runs.
async fn loop_until_running(stack: &Stack, name: &str, controller: &ControllerProcess) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut last = None;
    loop {
        if let Ok(instance) = stack.instances().get(name).await {
            if running(&instance) {
                return;
            }
            last = instance.status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not converge under faults; last status: {last:?}; Fly.io calls: {:?}; the controller's last lines:\n{}",
            stack.fly.calls(),
            controller
                .logs()
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
