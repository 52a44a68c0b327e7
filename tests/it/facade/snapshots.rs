//! Snapshots through the facade: the owner sees what the Instance's status records (and
//! nobody else does), a restore is asked with the `fasterclaw.io/restore` annotation
//! and answered with what the controller wrote back, refused readably when its id, its
//! instance or the moment is wrong, and `Pending` when the controller takes longer than
//! the facade waits. The test plays the controller: it writes the status the way the
//! controller does, so no volume is made on Fly.io.

use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{RestoreState, SnapshotList};
use fasterclaw::crd::annotation::{PAUSED, RECONCILE_REQUESTED_AT, RESTORE};
use fasterclaw::crd::{Instance, InstanceStatus, RetainedVolume};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{sign_up, telegram};
use crate::support::stack::{FacadeProcess, Stack, TOKEN};

/// A signed-in owner with one instance: the client, the instance's id and the name of
/// its Instance.
async fn owner_with_instance(stack: &Stack, facade: &FacadeProcess) -> (ApiClient, String, String) {
    let (owner, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    let request =
        serde_json::from_value(json!({ "name": "Keeper", "telegramBotToken": TOKEN })).unwrap();
    let id = owner.create_instance(&request).await.unwrap().id;
    (owner, id.to_string(), format!("fc-{id}"))
}

/// The storage a controller records for an assistant that ran a few days.
fn storage(phase: &str) -> Value {
    json!({
        "phase": phase,
        "volume": { "id": "vol_current1", "region": "lax", "sizeGb": 3 },
        "snapshots": [
            { "id": "vs_newer2", "createdAt": "2026-11-29T03:00:00Z", "sizeBytes": 52428800u64,
              "volumeSizeGb": 3, "status": "created" },
            { "id": "vs_older1", "createdAt": "2026-11-28T03:00:00Z", "sizeBytes": 41943040u64,
              "volumeSizeGb": 1, "status": "created" },
        ],
        "snapshotsListedAt": "2026-11-29T08:00:00Z",
        "retainedVolumes": [
            { "id": "vol_moved0", "region": "iad", "reason": "Move", "until": "2026-12-05T08:00:00Z" },
        ],
    })
}

/// Writes `status` into the Instance's status, as the controller would.
async fn write_status(instances: &Api<Instance>, name: &str, status: Value) {
    instances
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .expect("the status is written");
}

/// The owner's listing, once `check` holds of it (the facade's cache follows the
/// cluster).
async fn until_listed(
    owner: &ApiClient,
    id: &str,
    check: impl Fn(&SnapshotList) -> bool,
) -> SnapshotList {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = owner.snapshots(id).await.unwrap();
        if check(&listed) {
            return listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listing never got there: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays the controller's part of a restore: for each new `fasterclaw.io/restore`, a
/// `Refused` answer when the source is in `refuse`, else the volume made from it (or
/// the kept volume itself) with the previous one kept.
fn play_controller(
    instances: Api<Instance>,
    name: String,
    refuse: &'static [&'static str],
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(instance) = instances.get(&name).await
                && let Some(asked) = instance.annotation(RESTORE).map(str::to_owned)
            {
                let status = instance.status.clone().unwrap_or_default();
                if status.restore.as_ref().is_none_or(|r| r.source != asked) {
                    write_status(&instances, &name, answer(status, &asked, refuse)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn answer(status: InstanceStatus, asked: &str, refuse: &[&str]) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if refuse.contains(&asked) {
        return json!({ "restore": {
            "source": asked, "result": "Refused", "handledAt": now,
            "message": format!("{asked} is not among the snapshots of this Instance's volume"),
        } });
    }
    let volume = match asked.strip_prefix("vs_") {
        Some(snapshot) => format!("vol_from{snapshot}"),
        None => asked.to_owned(),
    };
    let mut retained: Vec<RetainedVolume> = status
        .retained_volumes
        .into_iter()
        .filter(|r| r.id != volume)
        .collect();
    if let Some(previous) = status.volume {
        retained.push(RetainedVolume {
            id: previous.id,
            region: previous.region,
            reason: "Restore".to_owned(),
            until: "2026-12-06T08:00:00Z".to_owned(),
        });
    }
    json!({
        "volume": { "id": volume, "region": "lax", "sizeGb": 3 },
        "retainedVolumes": retained,
        "restore": { "source": asked, "result": "Restored", "volume": volume, "handledAt": now },
    })
}

/// A raw POST with no body and no Content-Type, as the web app's client sends it.
async fn bare_post(facade: &FacadeProcess, session: &ApiClient, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", facade.url))
        .header(
            "authorization",
            format!("Bearer {}", session.token().unwrap_or_default()),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_lists_the_snapshots_and_kept_volumes_the_status_records() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, id, name) = owner_with_instance(&stack, &facade).await;

    // Nothing recorded yet: every field is there, empty or null.
    let response = reqwest::Client::new()
        .get(format!("{}/instances/{id}/snapshots", facade.url))
        .header(
            "authorization",
            format!("Bearer {}", owner.token().unwrap_or_default()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "snapshots": [], "listedAt": null, "volume": null, "retainedVolumes": [],
                "lastRestore": null })
    );

    write_status(&stack.instances(), &name, storage("RUNNING")).await;
    let listed = until_listed(&owner, &id, |l| !l.snapshots.is_empty()).await;
    assert_eq!(
        serde_json::to_value(&listed).unwrap(),
        json!({
            "snapshots": [
                { "id": "vs_newer2", "createdAt": "2026-11-29T03:00:00Z", "sizeBytes": 52428800,
                  "volumeSizeGb": 3, "status": "created" },
                { "id": "vs_older1", "createdAt": "2026-11-28T03:00:00Z", "sizeBytes": 41943040,
                  "volumeSizeGb": 1, "status": "created" },
            ],
            "listedAt": "2026-11-29T08:00:00Z",
            "volume": { "id": "vol_current1", "region": "lax", "sizeGb": 3 },
            "retainedVolumes": [
                { "id": "vol_moved0", "region": "iad", "reason": "Move",
                  "until": "2026-12-05T08:00:00Z" },
            ],
            "lastRestore": null,
        })
    );

    // A restore an operator asked that the controller has not carried out yet shows as
    // pending; once handled, as the controller wrote it.
    stack.annotate(&name, RESTORE, Some("vs_older1")).await;
    let pending = until_listed(&owner, &id, |l| l.last_restore.is_some()).await;
    let pending = pending.last_restore.unwrap();
    assert_eq!(
        (pending.source.as_str(), pending.result, pending.handled_at),
        ("vs_older1", RestoreState::Pending, None)
    );
    write_status(
        &stack.instances(),
        &name,
        json!({ "restore": { "source": "vs_older1", "result": "Refused",
                             "message": "volume quota reached", "handledAt": "2026-11-29T09:00:00Z" } }),
    )
    .await;
    let handled = until_listed(&owner, &id, |l| {
        l.last_restore
            .as_ref()
            .is_some_and(|r| r.result != RestoreState::Pending)
    })
    .await;
    assert_eq!(
        serde_json::to_value(handled.last_restore).unwrap(),
        json!({ "source": "vs_older1", "result": "Refused", "volume": null,
                "message": "volume quota reached", "handledAt": "2026-11-29T09:00:00Z" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_snapshots_other_users_instances_bad_ids_and_wrong_moments_are_refused() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, id, name) = owner_with_instance(&stack, &facade).await;
    let (stranger, _) = sign_up(&facade.client()).await;
    write_status(&stack.instances(), &name, storage("STOPPED")).await;
    until_listed(&owner, &id, |l| !l.snapshots.is_empty()).await;

    // Another user's instance, even with a snapshot it has: not found.
    let err = stranger.snapshots(&id).await.unwrap_err();
    assert_eq!(err.to_string(), "404: Instance not found");
    let (status, body) = bare_post(
        &facade,
        &stranger,
        &format!("/instances/{id}/snapshots/vs_older1/restore"),
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({ "error": "Instance not found" }))
    );

    // Ids that are not this instance's.
    let err = owner.restore_snapshot(&id, "vs_unknown").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "404: No snapshot vs_unknown for this instance"
    );
    let err = owner
        .restore_snapshot(&id, "vol_unknown")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "404: No kept volume vol_unknown for this instance"
    );
    // The volume in use is no kept volume.
    let err = owner
        .restore_snapshot(&id, "vol_current1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");

    // Ids that are not ids: a 400 that says what one is.
    for (bad, shown) in [
        ("snap-1", "snap-1"),
        ("vs_", "vs_"),
        ("VS_abc", "VS_abc"),
        ("vs_abc%2F..%2Fx", "vs_abc/../x"),
        ("vs_a%20b", "vs_a b"),
    ] {
        let (status, body) = bare_post(
            &facade,
            &owner,
            &format!("/instances/{id}/snapshots/{bad}/restore"),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        let expected = format!(
            "snapshot: {shown:?} is not a snapshot id: a snapshot is vs_ followed by letters and digits"
        );
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with(&expected)),
            "{bad}: {body}"
        );
        assert_eq!(body["details"][0], body["error"], "{bad}");
    }

    // Moments the controller would not act on.
    write_status(&stack.instances(), &name, json!({ "phase": "FAILED" })).await;
    until_phase(&owner, &id, fasterclaw::crd::Phase::Failed).await;
    let err = owner.restore_snapshot(&id, "vs_older1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "409: Instance has failed; retry it before restoring"
    );
    write_status(&stack.instances(), &name, json!({ "phase": "STOPPED" })).await;
    stack.annotate(&name, PAUSED, Some("true")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let err = owner.restore_snapshot(&id, "vs_older1").await.unwrap_err();
        if err.status() == Some(409) && err.to_string().contains("paused") {
            break err;
        }
        assert!(tokio::time::Instant::now() < deadline, "{err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        refused.to_string(),
        "409: Instance is paused by an operator; it can be restored once it is resumed"
    );

    // Nothing of it reached the Instance.
    let instance = stack.instances().get(&name).await.unwrap();
    assert_eq!(instance.annotation(RESTORE), None);
}

async fn until_phase(owner: &ApiClient, id: &str, phase: fasterclaw::crd::Phase) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while owner.get_instance(id).await.unwrap().status != phase {
        assert!(tokio::time::Instant::now() < deadline, "never {phase:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_asked_by_annotation_and_answered_with_what_the_controller_did() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, id, name) = owner_with_instance(&stack, &facade).await;
    write_status(&stack.instances(), &name, storage("STOPPED")).await;
    until_listed(&owner, &id, |l| !l.snapshots.is_empty()).await;
    let controller = play_controller(stack.instances(), name.clone(), &["vs_newer2"]);

    // Body-less, without a Content-Type, as the web app posts it.
    let (status, body) = bare_post(
        &facade,
        &owner,
        &format!("/instances/{id}/snapshots/vs_older1/restore"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let handled_at = body["restore"]["handledAt"].clone();
    assert!(handled_at.is_string(), "{body}");
    assert_eq!(
        body,
        json!({ "restore": { "source": "vs_older1", "result": "Restored",
                             "volume": "vol_fromolder1", "message": null,
                             "handledAt": handled_at } })
    );
    let instance = stack.instances().get(&name).await.unwrap();
    assert_eq!(instance.annotation(RESTORE), Some("vs_older1"));
    assert!(instance.annotation(RECONCILE_REQUESTED_AT).is_some());

    // The same source again would not be carried out: said so.
    let err = owner.restore_snapshot(&id, "vs_older1").await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(
        err.to_string()
            .starts_with("409: The last restore was from vs_older1 (restored at "),
        "{err}"
    );

    // Undone: back to the volume the restore left, now kept.
    let listed = until_listed(&owner, &id, |l| {
        l.retained_volumes.iter().any(|v| v.id == "vol_current1")
    })
    .await;
    assert_eq!(
        listed.volume.map(|v| v.id).as_deref(),
        Some("vol_fromolder1")
    );
    let undone = owner.restore_snapshot(&id, "vol_current1").await.unwrap();
    assert_eq!(
        (
            undone.restore.source.as_str(),
            undone.restore.result,
            undone.restore.volume.as_deref()
        ),
        ("vol_current1", RestoreState::Restored, Some("vol_current1"))
    );

    // Refused by the controller: 409 with its reason.
    let err = owner.restore_snapshot(&id, "vs_newer2").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "409: The restore from vs_newer2 was refused: vs_newer2 is not among the snapshots of this Instance's volume"
    );
    controller.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_the_controller_has_not_carried_out_in_time_is_pending() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    // The facade waits REQUEST_TIMEOUT less 3 s: one second here.
    let facade = stack
        .api(&telegram.base_url(), &[("REQUEST_TIMEOUT", "4s")])
        .await;
    let (owner, id, name) = owner_with_instance(&stack, &facade).await;
    write_status(&stack.instances(), &name, storage("RUNNING")).await;
    until_listed(&owner, &id, |l| !l.snapshots.is_empty()).await;

    let (status, body) = bare_post(
        &facade,
        &owner,
        &format!("/instances/{id}/snapshots/vs_newer2/restore"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["restore"]["source"], "vs_newer2");
    assert_eq!(body["restore"]["result"], "Pending");
    assert_eq!(body["restore"]["handledAt"], Value::Null);
    assert!(
        body["restore"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("lastRestore")),
        "{body}"
    );
    let listed = owner.snapshots(&id).await.unwrap();
    assert_eq!(
        listed.last_restore.map(|r| (r.source, r.result)),
        Some(("vs_newer2".to_owned(), RestoreState::Pending))
    );

    // Asked again, it is still pending; another one waits for it.
    let again = owner.restore_snapshot(&id, "vs_newer2").await.unwrap();
    assert_eq!(again.restore.result, RestoreState::Pending);
    let err = owner.restore_snapshot(&id, "vs_older1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "409: A restore from vs_newer2 is under way; wait until it is done"
    );
    assert_eq!(
        stack
            .instances()
            .get(&name)
            .await
            .unwrap()
            .annotation(RESTORE),
        Some("vs_newer2")
    );
}
