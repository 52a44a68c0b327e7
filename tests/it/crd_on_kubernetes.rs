//! The Instance CRD on real API servers, the oldest supported (1.25) and a current one:
//! it installs, and the server applies its defaults and refuses what its schema and
//! CEL rules refuse, with the messages the CRD defines.

use fasterclaw::crd::Instance;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::cluster::TestCluster;
use crate::support::envtest::Version;

fn instance(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "Instance",
        "metadata": { "name": name },
        "spec": spec,
    })
}

fn refusal(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("expected the API server to refuse, got {other}"),
    }
}

async fn rules_hold_on(version: Version) {
    let cluster = TestCluster::of(version).await;
    let api = cluster.instances();
    let dynamic = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &kube::core::ApiResource::erase::<Instance>(&()),
    );
    let create = |value: Value| {
        let dynamic = dynamic.clone();
        async move {
            let object = serde_json::from_value(value).expect("an object");
            dynamic.create(&PostParams::default(), &object).await
        }
    };

    let created = create(instance(
        "defaults",
        json!({ "displayName": "Bot", "ownerId": "u1",
                "telegramToken": { "secretKeyRef": { "name": "bot", "key": "token" } } }),
    ))
    .await
    .expect("a minimal Instance is accepted");
    assert_eq!(created.data["spec"]["region"], "lax");
    assert_eq!(created.data["spec"]["aiModel"], "claude-sonnet-5");
    assert_eq!(created.data["spec"]["powerState"], "Running");
    assert_eq!(created.data["spec"]["deletionPolicy"], "Delete");
    let typed = api
        .get("defaults")
        .await
        .expect("it reads back as an Instance");
    assert_eq!(typed.spec.display_name.as_str(), "Bot");

    let both = create(instance(
        "both",
        json!({ "displayName": "Bot", "ownerId": "u1", "telegramToken": {
            "secretKeyRef": { "name": "bot", "key": "token" },
            "storedSecretId": "6f1c2a34-5b6d-4e7f-8091-a2b3c4d5e6f7" } }),
    ))
    .await
    .unwrap_err();
    let (code, message) = refusal(both);
    assert_eq!(code, 422);
    assert!(
        message.contains("exactly one of storedSecretId or secretKeyRef must be set"),
        "{message}"
    );

    let neither = create(instance(
        "neither",
        json!({ "displayName": "Bot", "ownerId": "u1", "telegramToken": {} }),
    ))
    .await
    .unwrap_err();
    assert!(refusal(neither).1.contains("exactly one of storedSecretId"));

    let mismatch = create(instance(
        "mismatch",
        json!({ "displayName": "Bot", "ownerId": "u1", "aiModel": "gpt-5.4-mini", "aiProvider": "google",
                "telegramToken": { "secretKeyRef": { "name": "bot", "key": "token" } } }),
    ))
    .await
    .unwrap_err();
    let (code, message) = refusal(mismatch);
    assert_eq!(code, 422);
    assert!(
        message.contains("aiProvider must be the provider"),
        "{message}"
    );

    let bad_model = create(instance(
        "bad-model",
        json!({ "displayName": "Bot", "ownerId": "u1", "aiModel": "llama-3",
                "telegramToken": { "secretKeyRef": { "name": "bot", "key": "token" } } }),
    ))
    .await
    .unwrap_err();
    let (code, message) = refusal(bad_model);
    assert_eq!(code, 422);
    assert!(message.contains("spec.aiModel"), "{message}");

    let moved = api
        .patch(
            "defaults",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "region": "iad" } })),
        )
        .await
        .unwrap_err();
    let (code, message) = refusal(moved);
    assert_eq!(code, 422);
    assert!(
        message.contains("region cannot change after creation"),
        "{message}"
    );

    // The volume grows, never shrinks; fallback regions do not repeat the region.
    let patch = |spec: Value| {
        let api = api.clone();
        async move {
            api.patch(
                "defaults",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
        }
    };
    let grown = patch(json!({ "storageGB": 3, "fallbackRegions": ["iad", "ord"] }))
        .await
        .expect("storageGB set and fallback regions accepted");
    assert_eq!(grown.spec.storage_gb, Some(3));
    patch(json!({ "storageGB": 5 }))
        .await
        .expect("storageGB grows");
    let (code, message) = refusal(patch(json!({ "storageGB": 2 })).await.unwrap_err());
    assert_eq!(code, 422);
    assert!(message.contains("storageGB can only grow"), "{message}");
    let (code, message) = refusal(
        patch(json!({ "fallbackRegions": ["lax"] }))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("fallbackRegions must not repeat region"),
        "{message}"
    );
}

#[tokio::test]
async fn the_crd_installs_and_its_rules_hold_on_the_oldest_supported_kubernetes() {
    rules_hold_on(Version::Oldest).await;
}

#[tokio::test]
async fn the_crd_installs_and_its_rules_hold_on_current_kubernetes() {
    rules_hold_on(Version::Current).await;
}
