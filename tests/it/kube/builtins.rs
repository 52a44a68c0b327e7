//! The built-in resources FasterClaw's processes touch: ConfigMaps, Leases (leader
//! election), Events (core and events.k8s.io, as kube-rs's Recorder writes them), and
//! namespaces.

use std::time::Duration;

use fasterclaw_sim::kube::KubeFaults;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace};
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as Published, EventType, Recorder, Reporter};
use serde_json::json;

use super::{dynamic, instance, kube};

#[tokio::test]
async fn config_maps_round_trip() {
    let kube = kube().await;
    let api: Api<ConfigMap> = Api::namespaced(kube.client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &serde_json::from_value(json!({ "metadata": { "name": "settings", "labels": { "app": "fc" } }, "data": { "a": "1" } })).unwrap())
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["a"], "1");
    api.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "b": "2" } })),
    )
    .await
    .unwrap();
    let listed = api
        .list(&ListParams::default().labels("app=fc"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data.as_ref().unwrap().len(), 2);
    assert!(
        api.delete("settings", &DeleteParams::default())
            .await
            .unwrap()
            .is_right()
    );
}

#[tokio::test]
async fn leases_are_renewed_with_optimistic_concurrency() {
    let kube = kube().await;
    let api: Api<Lease> = Api::namespaced(kube.client.clone(), "default");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": { "name": "fasterclaw-controller" },
        "spec": { "holderIdentity": "pod-a", "leaseDurationSeconds": 15 }
    }))
    .unwrap();
    let held = api.create(&PostParams::default(), &lease).await.unwrap();
    let mut renewed = held.clone();
    renewed.spec.as_mut().unwrap().lease_transitions = Some(1);
    api.replace("fasterclaw-controller", &PostParams::default(), &renewed)
        .await
        .unwrap();
    // A second candidate with the version it read earlier loses the race.
    let mut stolen = held.clone();
    stolen.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    let err = api
        .replace("fasterclaw-controller", &PostParams::default(), &stolen)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err}"
    );
    assert_eq!(
        api.get("fasterclaw-controller")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("pod-a")
    );
}

#[tokio::test]
async fn the_kube_rs_recorder_writes_events_and_series() {
    let kube = kube().await;
    let created = kube
        .dynamic_instances()
        .create(&PostParams::default(), &dynamic(instance("noisy")))
        .await
        .unwrap();
    let recorder = Recorder::new(
        kube.client.clone(),
        Reporter {
            controller: "fasterclaw".into(),
            instance: None,
        },
    );
    let event = Published {
        type_: EventType::Normal,
        reason: "Provisioned".into(),
        note: Some("machine started".into()),
        action: "Provision".into(),
        secondary: None,
    };
    let reference =
        created.object_ref(&kube::core::ApiResource::erase::<fasterclaw::crd::Instance>(&()));
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<Event> = Api::namespaced(kube.client.clone(), "default");
    let listed = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        listed.items.len(),
        1,
        "a repeat becomes a series, not a new event"
    );
    let stored = &listed.items[0];
    assert_eq!(stored.reason.as_deref(), Some("Provisioned"));
    assert_eq!(stored.series.as_ref().map(|s| s.count), Some(2));

    let core: Api<CoreEvent> = Api::namespaced(kube.client.clone(), "default");
    core.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": { "name": "noisy.1" },
            "involvedObject": { "kind": "Instance", "name": "noisy", "namespace": "default" },
            "reason": "Started", "message": "core event", "type": "Normal"
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    // One store seen through two versions: the core API lists the recorder's event
    // too, with the core field names.
    let all = core.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 2);
    let from_recorder = all
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("Provisioned"))
        .expect("the recorder's event, seen through core v1");
    assert_eq!(from_recorder.involved_object.name.as_deref(), Some("noisy"));
    assert_eq!(from_recorder.message.as_deref(), Some("machine started"));
    assert_eq!(
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_what_is_in_it() {
    let kube = kube().await;
    let namespaces: Api<Namespace> = Api::all(kube.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "team-a" } })).unwrap(),
        )
        .await
        .unwrap();
    let instances = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        kube.client.clone(),
        "team-a",
        &kube::core::ApiResource::erase::<fasterclaw::crd::Instance>(&()),
    );
    let mut body = instance("inside");
    body["metadata"]["namespace"] = json!("team-a");
    instances
        .create(&PostParams::default(), &dynamic(body))
        .await
        .unwrap();
    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    assert!(instances.get("inside").await.is_err());
    assert!(namespaces.get("team-a").await.is_err());
}

#[tokio::test]
async fn injected_server_errors_answer_500_statuses() {
    let kube = kube().await;
    kube.sim.set_faults(KubeFaults {
        server_error: 1.0,
        ..KubeFaults::default()
    });
    let (status, body) = kube
        .raw(reqwest::Method::GET, "/api/v1/namespaces", "", None)
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (500, Some("InternalError"))
    );
    kube.sim.set_faults(KubeFaults::default());
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        kube.raw(reqwest::Method::GET, "/api/v1/namespaces", "", None)
            .await
            .0,
        200
    );
}
