//! Get, list, create, update and delete with the real semantics; the status
//! subresource, generation and finalizers.

use fasterclaw::crd::Instance;
use futures::TryStreamExt;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, WatchEvent,
    WatchParams,
};
use reqwest::Method;
use serde_json::json;

use super::{dynamic, instance, kube};

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn create_fills_in_server_metadata_and_refuses_duplicates() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let mut body = instance("");
    body["metadata"] = json!({ "generateName": "bot-", "namespace": "default" });
    let created = api
        .create(&PostParams::default(), &dynamic(body))
        .await
        .unwrap();
    let meta = &created.metadata;
    let name = meta.name.clone().unwrap();
    assert!(name.starts_with("bot-") && name.len() == 9, "{name}");
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert!(
        meta.resource_version
            .as_ref()
            .is_some_and(|rv| rv.parse::<u64>().is_ok())
    );
    assert_eq!(meta.generation, Some(1));

    api.create(&PostParams::default(), &dynamic(instance("twin")))
        .await
        .unwrap();
    let err = api_error(
        api.create(&PostParams::default(), &dynamic(instance("twin")))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(
        err.message,
        "instances.fasterclaw.io \"twin\" already exists"
    );

    let missing = api_error(api.get("nobody").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_not_found() {
    let kube = kube().await;
    let mut body = instance("lost");
    body["metadata"]["namespace"] = json!("nowhere");
    let (status, answer) = kube
        .raw(
            Method::POST,
            "/apis/fasterclaw.io/v1alpha1/namespaces/nowhere/instances",
            "application/json",
            Some(body),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["message"], "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn lists_filter_by_labels_and_fields_and_page_through_a_consistent_snapshot() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    for (name, team) in [("a", "red"), ("b", "blue"), ("c", "red"), ("d", "red")] {
        let mut body = instance(name);
        body["metadata"]["labels"] = json!({ "team": team });
        api.create(&PostParams::default(), &dynamic(body))
            .await
            .unwrap();
    }
    let names = |list: &kube::api::ObjectList<kube::api::DynamicObject>| {
        list.items
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    let red = api
        .list(&ListParams::default().labels("team=red"))
        .await
        .unwrap();
    assert_eq!(names(&red), ["a", "c", "d"]);
    let not_red = api
        .list(&ListParams::default().labels("team notin (red)"))
        .await
        .unwrap();
    assert_eq!(names(&not_red), ["b"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=c"))
        .await
        .unwrap();
    assert_eq!(names(&by_name), ["c"]);
    assert_eq!(
        red.metadata.resource_version,
        Some(kube.sim.revision().to_string())
    );

    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    let token = first.metadata.continue_.clone().unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(2));
    // Created after the first page: not part of this list.
    api.create(&PostParams::default(), &dynamic(instance("e")))
        .await
        .unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    assert_eq!(second.metadata.continue_.as_deref(), Some(""));
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );

    kube.sim.compact();
    let err = api_error(
        api.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn updates_need_the_current_resource_version() {
    let kube = kube().await;
    let api = kube.instances();
    let created: Instance = serde_json::from_value(json!(
        kube.dynamic_instances()
            .create(&PostParams::default(), &dynamic(instance("versioned")))
            .await
            .unwrap()
    ))
    .unwrap();
    let mut fresh = created.clone();
    fresh.spec.display_name = fasterclaw::domain::DisplayName::parse("First").unwrap();
    let updated = api
        .replace("versioned", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut stale = created.clone();
    stale.spec.display_name = fasterclaw::domain::DisplayName::parse("Second").unwrap();
    let err = api_error(
        api.replace("versioned", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    let mut unversioned = updated.clone();
    unversioned.metadata.resource_version = None;
    let err = api_error(
        api.replace("versioned", &PostParams::default(), &unversioned)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("metadata.resourceVersion"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn the_status_subresource_and_generation_behave_as_on_a_real_server() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("gen")))
        .await
        .unwrap();

    // A status change through the main resource is ignored.
    let ignored = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": "RUNNING" } })),
        )
        .await
        .unwrap();
    assert!(ignored.data.get("status").is_none(), "{:?}", ignored.data);
    assert_eq!(ignored.metadata.generation, Some(1));

    // The status subresource changes the status only, and not the generation.
    let status = api
        .patch_status(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "status": { "phase": "RUNNING" }, "spec": { "displayName": "Ignored" } }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "RUNNING");
    assert_eq!(status.data["spec"]["displayName"], "Support bot");
    assert_eq!(status.metadata.generation, Some(1));

    // Labels are metadata: no new generation.
    let labelled = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "a": "b" } } })),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));

    // A spec change is a new generation, and the status survives it.
    let changed = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "displayName": "New" } })),
        )
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    assert_eq!(changed.data["status"]["phase"], "RUNNING");
}

#[tokio::test]
async fn finalizers_hold_a_deleted_object_until_the_last_one_goes() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let mut body = instance("held");
    body["metadata"]["finalizers"] = json!(["fasterclaw.io/cleanup"]);
    api.create(&PostParams::default(), &dynamic(body))
        .await
        .unwrap();

    let deleted = api.delete("held", &DeleteParams::default()).await.unwrap();
    let pending = deleted
        .left()
        .expect("the object is kept while a finalizer remains");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(
        pending.metadata.generation,
        Some(2),
        "marking for deletion is a new generation"
    );
    assert!(api.get("held").await.is_ok());

    let err = api_error(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "finalizers": ["fasterclaw.io/cleanup", "another/one"] } }),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("no new finalizers can be added"),
        "{}",
        err.message
    );

    let before = pending.metadata.resource_version.clone().unwrap();
    let events = api
        .watch(&WatchParams::default().timeout(5), &before)
        .await
        .unwrap();
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);

    let mut events = std::pin::pin!(events);
    let first = events.try_next().await.unwrap().expect("a watch event");
    match first {
        WatchEvent::Deleted(object) => {
            assert_eq!(object.metadata.name.as_deref(), Some("held"));
            assert!(object.metadata.deletion_timestamp.is_some());
        }
        other => panic!("removing the last finalizer must delete the object, got {other:?}"),
    }
}

#[tokio::test]
async fn deletes_honour_preconditions_and_answer_as_the_real_server() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let created = api
        .create(&PostParams::default(), &dynamic(instance("gone")))
        .await
        .unwrap();
    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    assert_eq!(
        api_error(api.delete("gone", &wrong).await.unwrap_err()).code,
        409
    );
    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    // An object deleted at once is answered with a Status of success.
    let answer = api.delete("gone", &right).await.unwrap();
    assert!(answer.is_right());
    assert_eq!(
        api_error(
            api.delete("gone", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .code,
        404
    );
}

#[tokio::test]
async fn secrets_turn_string_data_into_base64_data() {
    let kube = kube().await;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(kube.client.clone(), "default");
    let created = secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "bot-token" },
                "stringData": { "token": "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let data = created.data.unwrap();
    assert_eq!(
        data["token"].0,
        b"110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    );
    assert!(created.string_data.is_none());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    // A built-in object deleted at once is answered with a Status.
    assert!(
        secrets
            .delete("bot-token", &DeleteParams::default())
            .await
            .unwrap()
            .is_right()
    );
}

#[tokio::test]
async fn dry_runs_store_nothing() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let answer = api
        .create(
            &PostParams {
                dry_run: true,
                field_manager: None,
            },
            &dynamic(instance("dry")),
        )
        .await
        .unwrap();
    assert_eq!(answer.data["spec"]["region"], "lax");
    assert_eq!(api_error(api.get("dry").await.unwrap_err()).code, 404);
}
