//! Merge, JSON and strategic merge patches, server-side apply with managed fields and
//! conflicts, and field validation.

use kube::api::{Patch, PatchParams, PostParams};
use reqwest::Method;
use serde_json::{Value, json};

use super::{dynamic, instance, kube};

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other}"),
    }
}

fn apply_config(spec: Value) -> Value {
    json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "Instance",
        "metadata": { "name": "applied" },
        "spec": spec,
    })
}

fn base_spec() -> Value {
    json!({
        "displayName": "Applied",
        "ownerId": "ops",
        "telegramToken": { "secretKeyRef": { "name": "s", "key": "k" } }
    })
}

fn managers(object: &kube::api::DynamicObject) -> Vec<(String, String)> {
    object
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn json_patch_test_operations_guard_changes() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("guarded")))
        .await
        .unwrap();
    let add: json_patch::Patch = serde_json::from_value(json!([
        { "op": "test", "path": "/metadata/finalizers", "value": null },
        { "op": "add", "path": "/metadata/finalizers", "value": ["one"] }
    ]))
    .unwrap();
    let patched = api
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::<()>::Json(add.clone()),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.finalizers, Some(vec!["one".to_owned()]));
    // The same patch again: the test fails, nothing changes.
    let err = api_error(
        api.patch("guarded", &PatchParams::default(), &Patch::<()>::Json(add))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let remove: json_patch::Patch = serde_json::from_value(json!([
        { "op": "test", "path": "/metadata/finalizers/0", "value": "one" },
        { "op": "remove", "path": "/metadata/finalizers/0" }
    ]))
    .unwrap();
    let removed = api
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::<()>::Json(remove),
        )
        .await
        .unwrap();
    assert_eq!(
        removed.metadata.finalizers.unwrap_or_default(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn server_side_apply_creates_owns_conflicts_and_forces() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let mut spec = base_spec();
    spec["image"] = json!("ghcr.io/openclaw/openclaw:1");
    let created = api
        .patch(
            "applied",
            &PatchParams::apply("alice"),
            &Patch::Apply(apply_config(spec.clone())),
        )
        .await
        .unwrap();
    assert_eq!(
        managers(&created),
        [("alice".to_owned(), "Apply".to_owned())]
    );
    assert_eq!(
        created.data["spec"]["region"], "lax",
        "defaults apply to applied objects"
    );

    // Bob sets a field Alice owns, to another value: a conflict naming the field.
    let mut bobs = base_spec();
    bobs["image"] = json!("ghcr.io/openclaw/openclaw:2");
    let err = api_error(
        api.patch(
            "applied",
            &PatchParams::apply("bob"),
            &Patch::Apply(apply_config(bobs.clone())),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"alice\""),
        "{}",
        err.message
    );
    assert!(err.message.contains(".spec.image"), "{}", err.message);

    // The same values are shared, not contested.
    let shared = api
        .patch(
            "applied",
            &PatchParams::apply("carol"),
            &Patch::Apply(apply_config(base_spec())),
        )
        .await
        .unwrap();
    assert_eq!(managers(&shared).len(), 2);

    // Forced, Bob takes the image from Alice.
    let forced = api
        .patch(
            "applied",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(apply_config(bobs)),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["image"], "ghcr.io/openclaw/openclaw:2");
    let alice = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("alice"))
        .unwrap();
    let alice_fields = serde_json::to_value(alice.fields_v1.unwrap()).unwrap();
    assert!(
        alice_fields["f:spec"].get("f:image").is_none(),
        "{alice_fields}"
    );
}

#[tokio::test]
async fn fields_a_manager_stops_applying_are_removed() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let mut spec = base_spec();
    spec["image"] = json!("ghcr.io/openclaw/openclaw:1");
    api.patch(
        "applied",
        &PatchParams::apply("alice"),
        &Patch::Apply(apply_config(spec)),
    )
    .await
    .unwrap();
    let without = api
        .patch(
            "applied",
            &PatchParams::apply("alice"),
            &Patch::Apply(apply_config(base_spec())),
        )
        .await
        .unwrap();
    assert!(
        without.data["spec"].get("image").is_none(),
        "{}",
        without.data
    );
    assert_eq!(without.metadata.generation, Some(2));
    // Applying the same configuration again changes nothing.
    let again = api
        .patch(
            "applied",
            &PatchParams::apply("alice"),
            &Patch::Apply(apply_config(base_spec())),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        without.metadata.resource_version
    );
}

#[tokio::test]
async fn status_conditions_merge_by_type_across_managers() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("conditions")))
        .await
        .unwrap();
    let condition = |kind: &str, status: &str| json!({ "type": kind, "status": status, "reason": "Test", "message": "", "lastTransitionTime": "2026-11-26T00:00:00Z" });
    let status = |conditions: Value| json!({ "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance", "status": { "conditions": conditions } });
    api.patch_status(
        "conditions",
        &PatchParams::apply("controller").force(),
        &Patch::Apply(status(json!([condition("Ready", "False")]))),
    )
    .await
    .unwrap();
    api.patch_status(
        "conditions",
        &PatchParams::apply("prober").force(),
        &Patch::Apply(status(json!([condition("Synced", "True")]))),
    )
    .await
    .unwrap();
    let merged = api
        .patch_status(
            "conditions",
            &PatchParams::apply("controller").force(),
            &Patch::Apply(status(json!([condition("Ready", "True")]))),
        )
        .await
        .unwrap();
    let conditions: Vec<(String, String)> = merged.data["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        conditions,
        [
            ("Ready".to_owned(), "True".to_owned()),
            ("Synced".to_owned(), "True".to_owned())
        ]
    );
    assert_eq!(merged.metadata.generation, Some(1));
    let entry = merged
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("controller"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
}

#[tokio::test]
async fn apply_needs_a_field_manager_and_the_right_kind() {
    let kube = kube().await;
    let path = "/apis/fasterclaw.io/v1alpha1/namespaces/default/instances/applied";
    let (status, answer) = kube
        .raw(
            Method::PATCH,
            path,
            "application/apply-patch+yaml",
            Some(apply_config(base_spec())),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("fieldManager"),
        "{answer}"
    );
    let mut wrong = apply_config(base_spec());
    wrong["kind"] = json!("Secret");
    let (status, _) = kube
        .raw(
            Method::PATCH,
            &format!("{path}?fieldManager=x"),
            "application/apply-patch+yaml",
            Some(wrong),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_fields_are_pruned_warned_about_or_refused() {
    let kube = kube().await;
    let mut body = instance("strict");
    body["spec"]["colour"] = json!("blue");
    let collection = "/apis/fasterclaw.io/v1alpha1/namespaces/default/instances";
    let (status, answer) = kube
        .raw(
            Method::POST,
            &format!("{collection}?fieldValidation=Strict"),
            "application/json",
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.colour\""),
        "{answer}"
    );

    let response = reqwest::Client::new()
        .post(format!("{}{collection}", kube.sim.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let warning = response
        .headers()
        .get("warning")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(warning.contains("spec.colour"), "{warning}");
    let created: Value = response.json().await.unwrap();
    assert!(created["spec"].get("colour").is_none(), "pruned");
}

#[tokio::test]
async fn secrets_take_strategic_merge_patches_and_custom_resources_refuse_them() {
    let kube = kube().await;
    let (status, _) = kube
        .raw(
            Method::POST,
            "/api/v1/namespaces/default/secrets",
            "application/json",
            Some(json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "s" }, "data": { "a": "YQ==" } })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, patched) = kube
        .raw(
            Method::PATCH,
            "/api/v1/namespaces/default/secrets/s",
            "application/strategic-merge-patch+json",
            Some(json!({ "data": { "b": "Yg==" }, "metadata": { "$setElementOrder/finalizers": [] } })),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["data"], json!({ "a": "YQ==", "b": "Yg==" }));

    kube.dynamic_instances()
        .create(&PostParams::default(), &dynamic(instance("no-smp")))
        .await
        .unwrap();
    let (status, _) = kube
        .raw(
            Method::PATCH,
            "/apis/fasterclaw.io/v1alpha1/namespaces/default/instances/no-smp",
            "application/strategic-merge-patch+json",
            Some(json!({ "spec": { "displayName": "x" } })),
        )
        .await;
    assert_eq!(status, 415);
}
