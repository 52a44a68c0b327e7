//! The Instance CRD on a Kubernetes API server: it becomes Established, the example is
//! accepted, and the server itself rejects what the contract forbids.

use std::path::Path;

use fasterclaw::crd::{Instance, instance_crd};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use reqwest::Method;
use serde_json::{Value, json};

use super::{dynamic, instance, kube, kube_with};

async fn rejected(kube: &super::Kube, body: Value) -> Vec<(String, String)> {
    let (status, answer) = kube
        .raw(
            Method::POST,
            "/apis/fasterclaw.io/v1alpha1/namespaces/default/instances",
            "application/json",
            Some(body),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["kind"], "Status");
    assert_eq!(answer["reason"], "Invalid");
    assert_eq!(answer["details"]["kind"], "Instance");
    answer["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_owned(),
                c["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_crd_applied_through_the_api_becomes_established() {
    let kube = kube_with(Default::default()).await;
    let crds: Api<CustomResourceDefinition> = Api::all(kube.client.clone());
    let created = crds
        .create(&PostParams::default(), &instance_crd())
        .await
        .unwrap();
    let conditions = created.status.unwrap().conditions.unwrap();
    let established = conditions
        .iter()
        .find(|c| c.type_ == "Established")
        .unwrap();
    assert_eq!(established.status, "True");

    // Served at once: the example Instance is accepted, with the schema's defaults.
    let example: Value = yaml_serde::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/instance.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let accepted = kube
        .dynamic_instances()
        .create(&PostParams::default(), &dynamic(example))
        .await
        .unwrap();
    assert_eq!(accepted.data["spec"]["aiModel"], "claude-sonnet-5");
    let typed: Instance = kube.instances().get("support-bot").await.unwrap();
    assert_eq!(typed.spec.region.as_str(), "lax");
    assert_eq!(typed.metadata.generation, Some(1));
}

#[tokio::test]
async fn defaults_are_applied_by_the_server() {
    let kube = kube().await;
    let created = kube
        .dynamic_instances()
        .create(&PostParams::default(), &dynamic(instance("defaults")))
        .await
        .unwrap();
    let spec = &created.data["spec"];
    assert_eq!(spec["region"], "lax");
    assert_eq!(spec["aiModel"], "claude-sonnet-5");
    assert_eq!(spec["powerState"], "Running");
    assert_eq!(spec["deletionPolicy"], "Delete");
}

#[tokio::test]
async fn a_51_character_display_name_is_rejected() {
    let kube = kube().await;
    let mut body = instance("long-name");
    body["spec"]["displayName"] = json!("x".repeat(51));
    let causes = rejected(&kube, body).await;
    // The second cause says the CEL rules were skipped, as the real server says.
    assert_eq!(causes.len(), 2, "{causes:?}");
    assert_eq!(causes[0].0, "spec.displayName");
    assert!(causes[0].1.contains("Too long"), "{causes:?}");
    assert_eq!(causes[1].0, "<nil>");
    let mut at_bound = instance("fifty");
    at_bound["spec"]["displayName"] = json!("x".repeat(50));
    kube.dynamic_instances()
        .create(&PostParams::default(), &dynamic(at_bound))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_model_family_is_rejected() {
    let kube = kube().await;
    let mut body = instance("llama");
    body["spec"]["aiModel"] = json!("llama-3");
    let causes = rejected(&kube, body).await;
    assert_eq!(causes[0].0, "spec.aiModel");
    assert!(causes[0].1.contains("should match"), "{causes:?}");
}

#[tokio::test]
async fn two_token_sources_or_none_are_rejected_by_cel() {
    let kube = kube().await;
    let mut both = instance("both");
    both["spec"]["telegramToken"]["storedSecretId"] = json!("6f1c2a34-5b6d-4e7f-8091-a2b3c4d5e6f7");
    let causes = rejected(&kube, both).await;
    assert_eq!(causes[0].0, "spec.telegramToken");
    assert!(
        causes[0]
            .1
            .contains("exactly one of storedSecretId or secretKeyRef"),
        "{causes:?}"
    );
    let mut none = instance("none");
    none["spec"]["telegramToken"] = json!({});
    assert_eq!(rejected(&kube, none).await[0].0, "spec.telegramToken");
}

#[tokio::test]
async fn a_provider_that_contradicts_the_model_is_rejected_by_cel() {
    let kube = kube().await;
    let mut body = instance("mismatch");
    body["spec"]["aiModel"] = json!("gpt-5.4-mini");
    body["spec"]["aiProvider"] = json!("anthropic");
    let causes = rejected(&kube, body).await;
    assert_eq!(causes[0].0, "spec");
    assert!(
        causes[0].1.contains("aiProvider must be the provider"),
        "{causes:?}"
    );
}

#[tokio::test]
async fn the_region_cannot_change_after_creation() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("moving")))
        .await
        .unwrap();
    let err = api
        .patch(
            "moving",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "region": "iad" } })),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(status.message.contains("spec.region"), "{}", status.message);
    assert!(
        status
            .message
            .contains("region cannot change after creation"),
        "{}",
        status.message
    );
    // Other changes go through, and the region stays.
    let changed = api
        .patch(
            "moving",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "displayName": "Renamed" } })),
        )
        .await
        .unwrap();
    assert_eq!(changed.data["spec"]["region"], "lax");
}
