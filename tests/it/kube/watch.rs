//! Watches: resuming from a resourceVersion, synthetic ADDED events, bookmarks, initial
//! events, timeouts, selectors, 410 Expired, and kube-rs's watcher recovering from cut
//! connections and expired versions.

use std::time::Duration;

use fasterclaw_sim::kube::{KubeFaults, KubeSimConfig};
use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::{dynamic, instance, kube, kube_with};

/// The events of a raw watch, read until `count` arrive or the stream ends.
async fn raw_watch(kube: &super::Kube, query: &str, count: usize) -> Vec<Value> {
    let url = format!(
        "{}/apis/fasterclaw.io/v1alpha1/namespaces/default/instances?watch=true&{query}",
        kube.sim.url()
    );
    let mut response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    while events.len() < count {
        let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_secs(10), response.chunk()).await
        else {
            break;
        };
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            events.push(serde_json::from_slice(&line).unwrap());
        }
    }
    events
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_watch_from_a_version_sees_exactly_the_changes_after_it() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("a")))
        .await
        .unwrap();
    let since = kube.sim.revision();
    api.create(&PostParams::default(), &dynamic(instance("b")))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "displayName": "A2" } })),
    )
    .await
    .unwrap();
    api.delete("b", &DeleteParams::default()).await.unwrap();
    let events = raw_watch(
        &kube,
        &format!("resourceVersion={since}&timeoutSeconds=5"),
        3,
    )
    .await;
    assert_eq!(
        summary(&events),
        [
            ("ADDED".into(), "b".into()),
            ("MODIFIED".into(), "a".into()),
            ("DELETED".into(), "b".into())
        ]
    );
    let versions: Vec<u64> = events
        .iter()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
}

#[tokio::test]
async fn a_watch_from_nothing_starts_with_what_exists() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("x")))
        .await
        .unwrap();
    api.create(&PostParams::default(), &dynamic(instance("y")))
        .await
        .unwrap();
    let events = raw_watch(&kube, "timeoutSeconds=2", 2).await;
    assert_eq!(
        summary(&events),
        [("ADDED".into(), "x".into()), ("ADDED".into(), "y".into())]
    );
}

#[tokio::test]
async fn initial_events_end_with_a_marked_bookmark_and_bookmarks_follow() {
    let kube = kube_with(KubeSimConfig {
        bookmark_interval: Duration::from_millis(200),
        ..KubeSimConfig::default()
    })
    .await;
    kube.sim
        .install_crds_from_yaml(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/instance.yaml"))
                .unwrap(),
        )
        .unwrap();
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("p")))
        .await
        .unwrap();
    let events = raw_watch(
        &kube,
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5",
        3,
    )
    .await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(events[2]["type"], "BOOKMARK", "a periodic bookmark");
    assert!(events[2]["object"]["metadata"]["annotations"].is_null());
}

#[tokio::test]
async fn watches_end_at_their_timeout() {
    let kube = kube().await;
    let started = std::time::Instant::now();
    let events = raw_watch(&kube, "timeoutSeconds=1", 1).await;
    assert!(events.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(8),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn an_object_leaving_a_selector_is_deleted_for_that_watch() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    let mut body = instance("labelled");
    body["metadata"]["labels"] = json!({ "tier": "gold" });
    api.create(&PostParams::default(), &dynamic(body))
        .await
        .unwrap();
    let since = kube.sim.revision();
    api.patch(
        "labelled",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "tier": "tin" } } })),
    )
    .await
    .unwrap();
    api.patch(
        "labelled",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "tier": "gold" } } })),
    )
    .await
    .unwrap();
    let events = raw_watch(
        &kube,
        &format!("resourceVersion={since}&labelSelector=tier%3Dgold&timeoutSeconds=5"),
        2,
    )
    .await;
    assert_eq!(
        summary(&events),
        [
            ("DELETED".into(), "labelled".into()),
            ("ADDED".into(), "labelled".into())
        ]
    );
}

#[tokio::test]
async fn a_version_older_than_the_log_is_410_expired() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("old")))
        .await
        .unwrap();
    let old = kube.sim.revision() - 1;
    kube.sim.compact();
    let events = raw_watch(&kube, &format!("resourceVersion={old}&timeoutSeconds=5"), 1).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");

    // kube-rs sees it as an error event of the watch.
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &old.to_string())
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => assert_eq!(status.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

/// The names a kube-rs watcher knows after its events so far.
fn apply(
    known: &mut std::collections::BTreeSet<String>,
    event: watcher::Event<kube::api::DynamicObject>,
) -> bool {
    match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
            known.insert(o.metadata.name.unwrap());
            false
        }
        watcher::Event::Delete(o) => {
            known.remove(&o.metadata.name.unwrap());
            false
        }
        watcher::Event::Init => {
            known.clear();
            true
        }
        watcher::Event::InitDone => false,
    }
}

#[tokio::test]
async fn the_kube_rs_watcher_recovers_from_cut_watches_and_expired_versions() {
    let kube = kube().await;
    let api = kube.dynamic_instances();
    api.create(&PostParams::default(), &dynamic(instance("w0")))
        .await
        .unwrap();
    // Every watch is cut after a fraction of a second.
    kube.sim.set_faults(KubeFaults {
        drop_watch_after_ms: Some((100, 200)),
        ..KubeFaults::default()
    });
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut known = std::collections::BTreeSet::new();
    let mut inits = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(watcher::Event::InitDone))) => break,
            Ok(Some(Ok(event))) => inits += usize::from(apply(&mut known, event)),
            Ok(Some(Err(_))) => {}
            Ok(None) | Err(_) => panic!("the watcher never finished its first list"),
        }
    }
    // While the watcher is not polled its watch is cut; changes happen and the log is
    // compacted past what it saw, so its next watch gets 410 and it lists again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for n in 1..6 {
        api.create(&PostParams::default(), &dynamic(instance(&format!("w{n}"))))
            .await
            .unwrap();
    }
    kube.sim.compact();
    let want: std::collections::BTreeSet<String> = (0..6).map(|n| format!("w{n}")).collect();
    while known != want || inits < 2 {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(event))) => inits += usize::from(apply(&mut known, event)),
            Ok(Some(Err(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(known, want, "the watcher lost objects");
    assert!(inits >= 2, "the watcher never listed again after the 410");
}

#[tokio::test]
async fn injected_errors_and_conflicts_answer_with_statuses() {
    let kube = kube().await;
    kube.sim.set_faults(KubeFaults {
        conflict: 1.0,
        ..KubeFaults::default()
    });
    let err = kube
        .dynamic_instances()
        .create(&PostParams::default(), &dynamic(instance("c")))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    // kube-rs retries 429s by itself, so this one is checked over plain HTTP.
    kube.sim.set_faults(KubeFaults {
        throttle: 1.0,
        ..KubeFaults::default()
    });
    let (status, body) = kube
        .raw(
            reqwest::Method::GET,
            "/api/v1/namespaces/default/secrets",
            "",
            None,
        )
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (429, Some("TooManyRequests"))
    );
    kube.sim.set_faults(KubeFaults {
        latency_ms: 300,
        ..KubeFaults::default()
    });
    let started = std::time::Instant::now();
    assert!(
        kube.dynamic_instances()
            .list(&Default::default())
            .await
            .is_ok()
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}
