//! A cluster-scoped custom resource (the FleetRelease CRD from `crds/fleetrelease.yaml`)
//! as the real server serves one: at `/apis/<group>/<version>/<plural>/<name>`, never
//! under a namespace; a namespace in the body is dropped; defaults and CEL rules apply;
//! get, list and watch through `Api::all`; server-side apply of its `/status` writes the
//! status alone and leaves the generation as it was.

use std::path::Path;

use fasterclaw::crd::{FleetRelease, ReleasePhase, field_manager};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use reqwest::Method;
use serde_json::json;

use super::kube;

const COLLECTION: &str = "/apis/fasterclaw.io/v1alpha1/fleetreleases";

async fn with_releases() -> super::Kube {
    let kube = kube().await;
    kube.sim
        .install_crds_from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/fleetrelease.yaml"),
        )
        .expect("the committed FleetRelease CRD installs");
    kube
}

fn release(name: &str, spec: serde_json::Value) -> FleetRelease {
    serde_json::from_value(json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "FleetRelease",
        // A namespace in the body of a cluster-scoped object is dropped, not refused.
        "metadata": { "name": name, "namespace": "default" },
        "spec": spec,
    }))
    .expect("a FleetRelease")
}

/// Creates the release `fleet` with a stable image alone.
async fn create_fleet(api: &Api<FleetRelease>) -> FleetRelease {
    api.create(
        &PostParams::default(),
        &release(
            "fleet",
            json!({ "stable": "ghcr.io/openclaw/openclaw:2026.8.2" }),
        ),
    )
    .await
    .expect("the release is created")
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn a_cluster_scoped_resource_is_served_without_a_namespace() {
    let kube = with_releases().await;
    let (status, list) = kube
        .raw(Method::GET, "/apis/fasterclaw.io/v1alpha1", "", None)
        .await;
    assert_eq!(status, 200);
    let served = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "fleetreleases")
        .expect("fleetreleases is discovered");
    assert_eq!(served["namespaced"], false);
    assert_eq!(served["kind"], "FleetRelease");

    let api: Api<FleetRelease> = Api::all(kube.client.clone());
    let created = create_fleet(&api).await;
    assert_eq!(created.metadata.namespace, None);
    assert_eq!(created.metadata.generation, Some(1));
    // The schema's defaults.
    assert_eq!(created.spec.max_upgrading, 5);
    assert_eq!(created.spec.health_deadline_seconds, 600);

    let (status, body) = kube
        .raw(Method::GET, &format!("{COLLECTION}/fleet"), "", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metadata"]["name"], "fleet");
    assert!(body["metadata"].get("namespace").is_none(), "{body}");
    let (status, _) = kube
        .raw(
            Method::GET,
            "/apis/fasterclaw.io/v1alpha1/namespaces/default/fleetreleases/fleet",
            "",
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "a cluster-scoped object has no namespaced path"
    );
    let (status, _) = kube
        .raw(
            Method::POST,
            "/apis/fasterclaw.io/v1alpha1/namespaces/default/fleetreleases",
            "application/json",
            Some(json!({
                "apiVersion": "fasterclaw.io/v1alpha1", "kind": "FleetRelease",
                "metadata": { "name": "elsewhere" },
                "spec": { "stable": "ghcr.io/openclaw/openclaw:2026.8.2" }
            })),
        )
        .await;
    assert_eq!(status, 404);

    let got = api.get("fleet").await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid);
    assert!(api.get_opt("elsewhere").await.unwrap().is_none());
    let missing = api_error(api.get("nobody").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        missing.message,
        "fleetreleases.fasterclaw.io \"nobody\" not found"
    );

    // The CRD's CEL rule, on a cluster-scoped object too.
    let refused = api_error(
        api.create(
            &PostParams::default(),
            &release(
                "same",
                json!({ "stable": "ghcr.io/openclaw/openclaw:2026.8.2",
                        "candidate": "ghcr.io/openclaw/openclaw:2026.8.2" }),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(refused.code, 422);
    assert!(
        refused
            .message
            .contains("candidate must differ from stable"),
        "{}",
        refused.message
    );

    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert_eq!(names, ["fleet"]);
}

#[tokio::test]
async fn server_side_apply_of_a_cluster_scoped_status_writes_the_status_alone() {
    let kube = with_releases().await;
    let api: Api<FleetRelease> = Api::all(kube.client.clone());
    let created = create_fleet(&api).await;
    let version = created.metadata.resource_version.clone().unwrap();
    let mut watch = api
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap()
        .boxed();

    // As the controller writes it: apply, forced, under its field manager; a spec in
    // the body of a status write is ignored.
    let params = PatchParams::apply(field_manager::CONTROLLER).force();
    let status = json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "FleetRelease",
        "spec": { "stable": "ghcr.io/openclaw/openclaw:2026.9.6" },
        "status": { "phase": "Complete", "instances": 3, "upgraded": 3, "progress": "3/3",
                    "observedGeneration": 1 },
    });
    let written = api
        .patch_status("fleet", &params, &Patch::Apply(&status))
        .await
        .unwrap();
    let written_status = written.status.clone().expect("a status");
    assert_eq!(written_status.phase, Some(ReleasePhase::Complete));
    assert_eq!((written_status.instances, written_status.upgraded), (3, 3));
    assert_eq!(written.spec.stable, "ghcr.io/openclaw/openclaw:2026.8.2");
    assert_eq!(written.metadata.generation, Some(1));
    let managers: Vec<(String, Option<String>)> = written
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.operation.as_deref() == Some("Apply"))
        .map(|m| (m.manager.unwrap_or_default(), m.subresource))
        .collect();
    assert_eq!(
        managers,
        [(
            field_manager::CONTROLLER.to_owned(),
            Some("status".to_owned())
        )]
    );

    // Fields the manager no longer applies leave the status.
    let smaller = json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "FleetRelease",
        "status": { "phase": "Progressing", "upgrading": 2 },
    });
    let applied = api
        .patch_status("fleet", &params, &Patch::Apply(&smaller))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(applied.phase, Some(ReleasePhase::Progressing));
    assert_eq!((applied.upgrading, applied.upgraded), (2, 0));
    assert_eq!(applied.progress, None);

    // A spec change is a new generation; the status stays.
    let changed = api
        .patch(
            "fleet",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "candidate": "ghcr.io/openclaw/openclaw:2026.9.6", "share": 100 } })),
        )
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    assert_eq!(
        changed.status.and_then(|s| s.phase),
        Some(ReleasePhase::Progressing)
    );

    // The status of an object that does not exist is not created by an apply.
    let missing = api_error(
        api.patch_status("nobody", &params, &Patch::Apply(&smaller))
            .await
            .unwrap_err(),
    );
    assert_eq!(missing.code, 404);

    // A watch of the collection saw the three changes, in order.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), watch.try_next())
            .await
            .expect("the watch goes on")
            .unwrap()
            .expect("an event");
        if let WatchEvent::Modified(object) = event {
            seen.push((
                object.metadata.generation,
                object.status.and_then(|s| s.phase),
            ));
        }
    }
    assert_eq!(
        seen,
        [
            (Some(1), Some(ReleasePhase::Complete)),
            (Some(1), Some(ReleasePhase::Progressing)),
            (Some(2), Some(ReleasePhase::Progressing)),
        ]
    );
}
