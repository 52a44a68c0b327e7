//! The simulator answers as a real kube-apiserver does where a client would notice.
//! Each test states the real server's answer (kube-apiserver 1.35, from the same
//! requests) and checks the simulator gives it.

use std::time::Duration;

use fasterclaw::crd::Instance;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Kube, dynamic, instance, kube};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const APPLY: &str = "application/apply-patch+yaml";
const INSTANCES: &str = "/apis/fasterclaw.io/v1alpha1/namespaces/default/instances";

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The watch lines from `resourceVersion`, read for a second.
async fn changes_since(kube: &Kube, path: &str, resource_version: &str) -> Vec<Value> {
    let url = format!(
        "{}{path}?watch=1&resourceVersion={resource_version}&timeoutSeconds=1",
        kube.sim.url()
    );
    let text = reqwest::get(url)
        .await
        .expect("the watch starts")
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn applied(display_name: &str) -> String {
    json!({
        "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance",
        "metadata": { "name": "quiet" },
        "spec": { "displayName": display_name },
    })
    .to_string()
}

#[tokio::test]
async fn a_write_that_changes_nothing_stores_nothing() {
    // Real: same resourceVersion, no watch event, managedFields times untouched, for
    // merge and JSON patches, PUT, /status patches and repeated server-side apply.
    let kube = kube().await;
    kube.raw(Method::POST, INSTANCES, JSON, Some(instance("quiet")))
        .await;
    let path = format!("{INSTANCES}/quiet");
    let apply_path = format!("{path}?fieldManager=tests&force=true");
    let (status, first) =
        raw_text(&kube, Method::PATCH, &apply_path, APPLY, applied("Quiet")).await;
    assert_eq!(status, 200, "{first}");
    let (_, with_status) = kube
        .raw(
            Method::PATCH,
            &format!("{path}/status"),
            MERGE,
            Some(json!({ "status": { "phase": "RUNNING" } })),
        )
        .await;
    let before = rv(&with_status);
    assert_ne!(before, rv(&first));
    // Managed-field times have a resolution of a second: a write a second later that
    // refreshed them would show.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let writes: Vec<(Method, String, &str, Value)> = vec![
        (
            Method::PATCH,
            apply_path.clone(),
            APPLY,
            json!(applied("Quiet")),
        ),
        (
            Method::PATCH,
            path.clone(),
            MERGE,
            json!({ "spec": { "displayName": "Quiet" } }),
        ),
        (
            Method::PATCH,
            path.clone(),
            JSON_PATCH,
            json!([{ "op": "replace", "path": "/spec/ownerId", "value": "ops-team" }]),
        ),
        (
            Method::PATCH,
            format!("{path}/status"),
            MERGE,
            json!({ "status": { "phase": "RUNNING" } }),
        ),
        (Method::PUT, path.clone(), JSON, with_status.clone()),
    ];
    for (method, target, content_type, body) in writes {
        let (status, answer) = if content_type == APPLY {
            let text = body.as_str().unwrap_or_default().to_owned();
            raw_text(&kube, method, &target, content_type, text).await
        } else {
            kube.raw(method, &target, content_type, Some(body)).await
        };
        assert_eq!(status, 200, "{target}: {answer}");
        assert_eq!(
            rv(&answer),
            before,
            "{content_type} to {target} stored a change"
        );
        assert_eq!(
            answer["metadata"]["managedFields"], with_status["metadata"]["managedFields"],
            "{content_type} to {target} refreshed managed fields"
        );
    }
    let events = changes_since(&kube, INSTANCES, &before).await;
    assert!(
        events.is_empty(),
        "no-op writes made watch events: {events:?}"
    );
}

async fn raw_text(
    kube: &Kube,
    method: Method,
    path: &str,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", kube.sim.url()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn deletes_answer_as_the_real_server() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    // Real: no finalizers → Status Success naming the object; kube-rs yields Right.
    api.create(&PostParams::default(), &dynamic(instance("plain")))
        .await
        .unwrap();
    let answer = api.delete("plain", &DeleteParams::default()).await.unwrap();
    let status = answer.right().expect("a Status, not the object");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let details = status.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("plain", "instances")
    );

    // Real: with a finalizer → the object, marked for deletion.
    let mut held = instance("held");
    held["metadata"]["finalizers"] = json!(["fasterclaw.io/test"]);
    api.create(&PostParams::default(), &dynamic(held))
        .await
        .unwrap();
    let marked = api
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the object");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let last_rv = marked.metadata.resource_version.clone().unwrap();

    // Real: the patch that removes the last finalizer answers without it, and the
    // DELETED event carries the last stored state (with it).
    let (status, answer) = kube
        .raw(
            Method::PATCH,
            &format!("{INSTANCES}/held"),
            JSON_PATCH,
            Some(json!([{ "op": "remove", "path": "/metadata/finalizers/0" }])),
        )
        .await;
    assert_eq!(status, 200);
    assert!(answer["metadata"].get("finalizers").is_none(), "{answer}");
    let events = changes_since(&kube, INSTANCES, &last_rv).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "DELETED");
    assert_eq!(
        events[0]["object"]["metadata"]["finalizers"],
        json!(["fasterclaw.io/test"])
    );
}

#[tokio::test]
async fn propagation_policies_and_owner_references() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    for name in ["fore", "orph", "owner"] {
        api.create(&PostParams::default(), &dynamic(instance(name)))
            .await
            .unwrap();
    }
    // Real: 422 naming DeleteOptions.
    let (status, answer) = kube
        .raw(
            Method::DELETE,
            &format!("{INSTANCES}/fore"),
            JSON,
            Some(json!({ "propagationPolicy": "Sideways" })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
    );
    // Real: Foreground and Orphan add their finalizer and leave the object marked.
    for (name, policy, finalizer) in [
        ("fore", PropagationPolicy::Foreground, "foregroundDeletion"),
        ("orph", PropagationPolicy::Orphan, "orphan"),
    ] {
        let params = DeleteParams {
            propagation_policy: Some(policy),
            ..DeleteParams::default()
        };
        let marked = api.delete(name, &params).await.unwrap().left().unwrap();
        assert_eq!(marked.metadata.finalizers, Some(vec![finalizer.to_owned()]));
        assert!(
            api.get(name)
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
        );
    }
    // Real: an owner reference needs a uid.
    let mut orphan = instance("no-uid");
    orphan["metadata"]["ownerReferences"] =
        json!([{ "apiVersion": "v1", "kind": "Secret", "name": "s" }]);
    let (status, answer) = kube.raw(Method::POST, INSTANCES, JSON, Some(orphan)).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "Instance.fasterclaw.io \"no-uid\" is invalid: metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
    );
    // A cluster's garbage collector deletes the dependents of a deleted owner.
    let owner_uid = api.get("owner").await.unwrap().metadata.uid.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(kube.client.clone(), "default");
    let dependent: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "owned", "ownerReferences": [{
            "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance", "name": "owner", "uid": owner_uid }] },
        "data": { "a": "1" }
    }))
    .unwrap();
    maps.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        maps.get_opt("owned").await.unwrap().is_none(),
        "the dependent is collected"
    );
}

#[tokio::test]
async fn server_side_apply_with_a_stale_resource_version_is_a_conflict() {
    let kube = kube().await;
    kube.raw(Method::POST, INSTANCES, JSON, Some(instance("stale")))
        .await;
    let config = json!({
        "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance",
        "metadata": { "name": "stale", "resourceVersion": "1" },
        "spec": { "displayName": "Changed" },
    });
    let (status, answer) = raw_text(
        &kube,
        Method::PATCH,
        &format!("{INSTANCES}/stale?fieldManager=tests&force=true"),
        APPLY,
        config.to_string(),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        answer["message"],
        "Operation cannot be fulfilled on instances.fasterclaw.io \"stale\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn lists_and_watches_at_earlier_versions_are_served_while_retained() {
    let kube = kube().await;
    let api = kube.instances();
    let dynamic_api = kube.dynamic_instances();
    let created = dynamic_api
        .create(&PostParams::default(), &dynamic(instance("old")))
        .await
        .unwrap();
    let at_create = created.metadata.resource_version.clone().unwrap();
    api.patch(
        "old",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "displayName": "Newer" } })),
    )
    .await
    .unwrap();
    // Real: resourceVersionMatch=Exact at an older retained version shows that state.
    let (status, list) = kube
        .raw(
            Method::GET,
            &format!("{INSTANCES}?resourceVersion={at_create}&resourceVersionMatch=Exact"),
            JSON,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["metadata"]["resourceVersion"], at_create.as_str());
    assert_eq!(list["items"][0]["spec"]["displayName"], "Support bot");
    // Once compacted: 410 Expired, for lists and for watches.
    kube.sim.compact();
    let (status, expired) = kube
        .raw(
            Method::GET,
            &format!("{INSTANCES}?resourceVersion={at_create}&resourceVersionMatch=Exact"),
            JSON,
            None,
        )
        .await;
    assert_eq!((status, expired["reason"].as_str()), (410, Some("Expired")));
    let events = changes_since(&kube, INSTANCES, &at_create).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
}

#[tokio::test]
async fn events_are_one_store_seen_through_two_versions() {
    let kube = kube().await;
    let core = "/api/v1/namespaces/default/events";
    let v1 = "/apis/events.k8s.io/v1/namespaces/default/events";
    let (status, _) = kube
        .raw(
            Method::POST,
            core,
            JSON,
            Some(json!({
                "apiVersion": "v1", "kind": "Event", "metadata": { "name": "e1" },
                "involvedObject": { "kind": "Instance", "name": "bot", "namespace": "default" },
                "reason": "Created", "message": "hello", "type": "Normal",
            })),
        )
        .await;
    assert_eq!(status, 201);
    // Real: the same Event through events.k8s.io/v1, renamed.
    let (_, seen) = kube.raw(Method::GET, &format!("{v1}/e1"), JSON, None).await;
    assert_eq!(seen["apiVersion"], "events.k8s.io/v1");
    assert_eq!(seen["note"], "hello");
    assert_eq!(seen["regarding"]["name"], "bot");
    // Real: involvedObject.* selects on core, regarding.* on events.k8s.io, and each
    // refuses the other's labels.
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let (_, by_core) = kube
        .raw(
            Method::GET,
            &format!("{core}?fieldSelector=involvedObject.name%3Dbot"),
            JSON,
            None,
        )
        .await;
    assert_eq!(names(&by_core), ["e1"]);
    let (_, by_v1) = kube
        .raw(
            Method::GET,
            &format!("{v1}?fieldSelector=regarding.name%3Dbot"),
            JSON,
            None,
        )
        .await;
    assert_eq!(names(&by_v1), ["e1"]);
    let (status, refused) = kube
        .raw(
            Method::GET,
            &format!("{v1}?fieldSelector=involvedObject.name%3Dbot"),
            JSON,
            None,
        )
        .await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (400, Some("field label not supported: involvedObject.name"))
    );
    // Real: invalid Events are 422.
    let (status, invalid) = kube
        .raw(
            Method::POST,
            v1,
            JSON,
            Some(json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": { "name": "e2" },
                "regarding": { "kind": "Instance", "name": "bot", "namespace": "default" },
                "reason": "X", "note": "n", "type": "Normal",
            })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        invalid["message"],
        "Event \"e2\" is invalid: eventTime: Required value"
    );
    let (status, elsewhere) = kube
        .raw(
            Method::POST,
            core,
            JSON,
            Some(json!({
                "apiVersion": "v1", "kind": "Event", "metadata": { "name": "e3" },
                "involvedObject": { "kind": "Instance", "name": "bot", "namespace": "other" },
                "reason": "X", "message": "n", "type": "Normal",
            })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        elsewhere["message"],
        "Event \"e3\" is invalid: involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"
    );
}

#[tokio::test]
async fn patches_whose_result_is_not_an_object_are_refused_and_the_server_stays_up() {
    let kube = kube().await;
    kube.raw(Method::POST, INSTANCES, JSON, Some(instance("shape")))
        .await;
    let path = format!("{INSTANCES}/shape");
    // Real: a merge patch that is not an object does not decode (400); a patch whose
    // result is not an object of the resource is 422 Invalid on the field `patch`.
    let (status, answer) = kube
        .raw(Method::PATCH, &path, MERGE, Some(json!([1, 2])))
        .await;
    assert_eq!(status, 400, "{answer}");
    for (content_type, patch) in [
        (MERGE, json!({ "metadata": "oops" })),
        (
            JSON_PATCH,
            json!([{ "op": "replace", "path": "", "value": [1] }]),
        ),
        (
            JSON_PATCH,
            json!([{ "op": "add", "path": "/metadata/labels", "value": "x" }]),
        ),
    ] {
        let (status, answer) = kube
            .raw(Method::PATCH, &path, content_type, Some(patch))
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["details"]["causes"][0]["field"], "patch");
    }
    // Real: a JSON patch operation that fails is 422 with no reason given.
    let (status, answer) = kube
        .raw(
            Method::PATCH,
            &path,
            JSON_PATCH,
            Some(json!([{ "op": "test", "path": "/spec/displayName", "value": "nope" }])),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "the server rejected our request due to an error in our request"
    );
    let (status, _) = kube.raw(Method::GET, &path, JSON, None).await;
    assert_eq!(status, 200, "the server still serves");
}

#[tokio::test]
async fn creates_and_updates_keep_identity() {
    let kube = kube().await;
    // Real: a create that sets resourceVersion is an internal error, with no reason.
    let mut versioned = instance("versioned");
    versioned["metadata"]["resourceVersion"] = json!("5");
    let (status, answer) = kube
        .raw(Method::POST, INSTANCES, JSON, Some(versioned))
        .await;
    assert_eq!(status, 500);
    assert_eq!(
        answer["message"],
        "resourceVersion should not be set on objects to be created"
    );
    assert!(answer.get("reason").is_none());
    // Real: a kind other than the URL's is 422; an apiVersion other than it is 400.
    let mut other_kind = instance("kinded");
    other_kind["kind"] = json!("Other");
    let (status, answer) = kube
        .raw(Method::POST, INSTANCES, JSON, Some(other_kind))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "Other.fasterclaw.io \"kinded\" is invalid: kind: Invalid value: \"Other\": must be Instance"
    );
    let mut other_version = instance("versioned");
    other_version["apiVersion"] = json!("v1");
    let (status, answer) = kube
        .raw(Method::POST, INSTANCES, JSON, Some(other_version))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "the API version in the data (v1) does not match the expected API version (fasterclaw.io/v1alpha1)"
    );
    // Real: a PUT that changes the uid is 409, its uid a failed precondition.
    let (_, created) = kube
        .raw(Method::POST, INSTANCES, JSON, Some(instance("same")))
        .await;
    let mut changed = created.clone();
    changed["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    let (status, answer) = kube
        .raw(
            Method::PUT,
            &format!("{INSTANCES}/same"),
            JSON,
            Some(changed),
        )
        .await;
    assert_eq!(status, 409);
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            "Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn lists_page_as_the_real_server() {
    let kube = kube().await;
    for (name, team) in [("a", "red"), ("b", "red"), ("c", "red")] {
        let mut body = instance(name);
        body["metadata"]["labels"] = json!({ "team": team });
        kube.raw(Method::POST, INSTANCES, JSON, Some(body)).await;
    }
    let get = |query: String| {
        let kube = &kube;
        async move {
            kube.raw(Method::GET, &format!("{INSTANCES}?{query}"), JSON, None)
                .await
        }
    };
    // Real: remainingItemCount only without selectors; `continue` always in a custom
    // resource list, empty on its last page.
    let (_, plain) = get("limit=1".into()).await;
    assert_eq!(plain["metadata"]["remainingItemCount"], 2);
    let (_, selected) = get("limit=1&labelSelector=team%3Dred".into()).await;
    assert!(selected["metadata"].get("remainingItemCount").is_none());
    assert!(
        selected["metadata"]["continue"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    let (_, all) = get(String::new()).await;
    assert_eq!(all["metadata"]["continue"], "");
    // Real: the next page is the list as it was, from the key after the last item.
    let token = plain["metadata"]["continue"].as_str().unwrap().to_owned();
    kube.raw(Method::POST, INSTANCES, JSON, Some(instance("aa")))
        .await;
    let (_, next) = get(format!("limit=5&continue={token}")).await;
    let names: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["b", "c"],
        "created after the first page: not in this list"
    );
    assert_eq!(
        next["metadata"]["resourceVersion"],
        plain["metadata"]["resourceVersion"]
    );
    // Real: continue with a resourceVersion is 400; so is a token that does not decode.
    let (status, answer) = get(format!("limit=1&continue={token}&resourceVersion=1")).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (
            400,
            Some("specifying resource version is not allowed when using continue")
        )
    );
    let (status, answer) = get("limit=1&continue=abc".into()).await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid continue token")
    );
    // Real: limit=-1 is no limit, and so is any limit with resourceVersion=0.
    let (_, unlimited) = get("limit=-1".into()).await;
    assert_eq!(unlimited["items"].as_array().unwrap().len(), 4);
    let (_, cached) = get("limit=1&resourceVersion=0".into()).await;
    assert_eq!(cached["items"].as_array().unwrap().len(), 4);
    assert_eq!(cached["metadata"]["continue"], "");
    // Real: resourceVersionMatch without resourceVersion is 422.
    let (status, answer) = get("resourceVersionMatch=NotOlderThan".into()).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    );
}

#[tokio::test]
async fn built_in_types_are_validated_as_on_a_real_server() {
    let kube = kube().await;
    let secrets = "/api/v1/namespaces/default/secrets";
    let secret = |name: &str, extra: Value| {
        let mut body =
            json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name } });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    // Real: data that is not base64 does not decode (400); bad keys are 422.
    let (status, answer) = kube
        .raw(
            Method::POST,
            secrets,
            JSON,
            Some(secret("s1", json!({ "data": { "k": "not base64!" } }))),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
    );
    let (status, answer) = kube
        .raw(
            Method::POST,
            secrets,
            JSON,
            Some(secret("s1", json!({ "data": { "bad key": "YQ==" } }))),
        )
        .await;
    assert_eq!(
        (status, answer["details"]["causes"][0]["field"].as_str()),
        (422, Some("data[bad key]"))
    );
    // Real: an immutable Secret keeps its data, and its immutability; type never changes.
    kube.raw(
        Method::POST,
        secrets,
        JSON,
        Some(secret(
            "s2",
            json!({ "immutable": true, "data": { "k": "YQ==" } }),
        )),
    )
    .await;
    for (patch, message) in [
        (
            json!({ "data": { "k": "Yg==" } }),
            "Secret \"s2\" is invalid: data: Forbidden: field is immutable when `immutable` is set",
        ),
        (
            json!({ "immutable": false }),
            "Secret \"s2\" is invalid: immutable: Forbidden: field is immutable when `immutable` is set",
        ),
        (
            json!({ "type": "other" }),
            "Secret \"s2\" is invalid: type: Invalid value: \"other\": field is immutable",
        ),
    ] {
        let (status, answer) = kube
            .raw(Method::PATCH, &format!("{secrets}/s2"), MERGE, Some(patch))
            .await;
        assert_eq!((status, answer["message"].as_str()), (422, Some(message)));
    }
    // Real: Secrets are selected by type.
    let (_, typed) = kube
        .raw(
            Method::GET,
            &format!("{secrets}?fieldSelector=type%3DOpaque"),
            JSON,
            None,
        )
        .await;
    assert_eq!(typed["items"].as_array().unwrap().len(), 1);
    // Real: Lease times are MicroTimes (six fractional digits), durations positive.
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    let lease = |name: &str, spec: Value| json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": name }, "spec": spec });
    let (status, answer) = kube
        .raw(
            Method::POST,
            leases,
            JSON,
            Some(lease(
                "l1",
                json!({ "renewTime": "2026-11-30T21:00:00.123Z" }),
            )),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2026-11-30T21:00:00.123Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \".123Z\" as \".000000\""
    );
    let (status, answer) = kube
        .raw(
            Method::POST,
            leases,
            JSON,
            Some(lease("l2", json!({ "leaseDurationSeconds": 0 }))),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "Lease.coordination.k8s.io \"l2\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    );
    // Real: namespaces carry their name as a label.
    let (_, namespace) = kube
        .raw(Method::POST, "/api/v1/namespaces", JSON, Some(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "labelled" } })))
        .await;
    assert_eq!(
        namespace["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "labelled"
    );
    // Real: paths that serve nothing answer a plain-text 404.
    for path in [
        "/apis/nothing.io/v1/things",
        "/apis/fasterclaw.io/v1alpha1/nothings",
    ] {
        let response = reqwest::get(format!("{}{path}", kube.sim.url()))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(response.text().await.unwrap(), "404 page not found\n");
    }
}

#[tokio::test]
async fn legacy_watch_paths_watch_a_collection_or_one_object() {
    let kube = kube().await;
    for name in ["w1", "w2"] {
        kube.raw(Method::POST, INSTANCES, JSON, Some(instance(name)))
            .await;
    }
    let read = |path: String| async move {
        reqwest::get(path)
            .await
            .unwrap()
            .text()
            .await
            .unwrap_or_default()
    };
    let base = format!(
        "{}/apis/fasterclaw.io/v1alpha1/watch/namespaces/default/instances",
        kube.sim.url()
    );
    let all = read(format!("{base}?timeoutSeconds=1")).await;
    assert_eq!(all.lines().count(), 2, "{all}");
    let one = read(format!("{base}/w2?timeoutSeconds=1")).await;
    let events: Vec<Value> = one
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["object"]["metadata"]["name"], "w2");
}

#[tokio::test]
async fn cosmetics_a_client_may_read() {
    let kube = kube().await;
    // Real: a label map emptied by a patch is removed, not left `{}`.
    let mut labelled = instance("cosmetic");
    labelled["metadata"]["labels"] = json!({ "a": "b" });
    kube.raw(Method::POST, INSTANCES, JSON, Some(labelled))
        .await;
    let (_, patched) = kube
        .raw(
            Method::PATCH,
            &format!("{INSTANCES}/cosmetic"),
            MERGE,
            Some(json!({ "metadata": { "labels": { "a": null } } })),
        )
        .await;
    assert!(patched["metadata"].get("labels").is_none(), "{patched}");
    // Real: managed fields mark the maps a write created with ".".
    let created = &patched["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(created["f:spec"]["."], json!({}));
    assert_eq!(created["f:spec"]["f:telegramToken"]["."], json!({}));
    assert!(created.get(".").is_none());
    // Real: the CRD's accepted names include listKind and singular.
    let (_, crd) = kube
        .raw(
            Method::GET,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/instances.fasterclaw.io",
            JSON,
            None,
        )
        .await;
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "InstanceList");
    assert_eq!(crd["status"]["acceptedNames"]["singular"], "instance");
    // Real: validation causes worded as the API server words them, and the CEL rules
    // reported as skipped when the schema already refuses the object.
    let mut invalid = instance("worded");
    invalid["spec"]["powerState"] = json!("Off");
    invalid["spec"]["displayName"] = json!("x".repeat(60));
    let (status, answer) = kube.raw(Method::POST, INSTANCES, JSON, Some(invalid)).await;
    assert_eq!(status, 422);
    let causes: Vec<(String, String)> = answer["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_owned(),
                c["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        (
            "spec.displayName",
            "Too long: may not be more than 50 bytes",
        ),
        (
            "spec.powerState",
            "Unsupported value: \"Off\": supported values: \"Running\", \"Stopped\"",
        ),
        (
            "<nil>",
            "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ),
    ] {
        assert!(
            causes
                .iter()
                .any(|(f, m)| f == expected.0 && m == expected.1),
            "missing {expected:?} in {causes:?}"
        );
    }
    let _ = Api::<Instance>::namespaced(kube.client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
}
