//! A kube-rs Controller with a trivial reconciler runs against the server: it sees
//! creates, spec updates and deletions, adds and removes its finalizer, and writes status
//! with server-side apply; a spec change bumps `generation` and a status patch does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fasterclaw::crd::Instance;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{dynamic, instance, kube};

const FINALIZER: &str = "fasterclaw.io/test-cleanup";

#[derive(Default)]
struct Seen {
    applies: AtomicUsize,
    cleanups: AtomicUsize,
}

struct Context {
    api: Api<Instance>,
    seen: Seen,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<kube::Error>>),
}

async fn reconcile(instance: Arc<Instance>, ctx: Arc<Context>) -> Result<Action, Error> {
    finalizer(&ctx.api, FINALIZER, instance, |event| async {
        match event {
            Event::Apply(instance) => {
                ctx.seen.applies.fetch_add(1, Ordering::SeqCst);
                let status = json!({
                    "apiVersion": "fasterclaw.io/v1alpha1",
                    "kind": "Instance",
                    "status": {
                        "phase": "RUNNING",
                        "observedGeneration": instance.meta().generation,
                        "conditions": [{
                            "type": "Ready", "status": "True", "reason": "Reconciled", "message": "",
                            "lastTransitionTime": "2026-11-26T00:00:00Z",
                            "observedGeneration": instance.meta().generation,
                        }],
                    },
                });
                ctx.api
                    .patch_status(&instance.name_any(), &PatchParams::apply("fasterclaw-test").force(), &Patch::Apply(status))
                    .await?;
                Ok(Action::await_change())
            }
            Event::Cleanup(_) => {
                ctx.seen.cleanups.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(_: Arc<Instance>, _: &Error, _: Arc<Context>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_reconciles_creates_updates_and_deletions() {
    let kube = kube().await;
    let api = kube.instances();
    let ctx = Arc::new(Context {
        api: api.clone(),
        seen: Seen::default(),
    });
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    kube.dynamic_instances()
        .create(&PostParams::default(), &dynamic(instance("reconciled")))
        .await
        .unwrap();
    eventually("the first generation is reconciled", || async {
        api.get("reconciled").await.ok().is_some_and(|i| {
            i.finalizers().contains(&FINALIZER.to_owned())
                && i.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
        })
    })
    .await;
    let first = api.get("reconciled").await.unwrap();
    assert_eq!(
        first.metadata.generation,
        Some(1),
        "status patches and the finalizer did not bump it"
    );
    assert_eq!(first.status.as_ref().unwrap().conditions[0].type_, "Ready");

    api.patch(
        "reconciled",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "displayName": "Updated" } })),
    )
    .await
    .unwrap();
    eventually("the spec change is reconciled", || async {
        api.get("reconciled")
            .await
            .ok()
            .and_then(|i| i.status)
            .and_then(|s| s.observed_generation)
            == Some(2)
    })
    .await;
    assert_eq!(
        api.get("reconciled").await.unwrap().metadata.generation,
        Some(2)
    );
    assert!(ctx.seen.applies.load(Ordering::SeqCst) >= 2);

    api.delete("reconciled", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deletion is cleaned up and the object gone", || async {
        matches!(api.get("reconciled").await, Err(kube::Error::Api(ref e)) if e.code == 404)
    })
    .await;
    assert_eq!(ctx.seen.cleanups.load(Ordering::SeqCst), 1);
    running.abort();
}
