//! An Instance's volume through the controller on a real API server and the Fly
//! simulator: made before the machine and mounted where OpenClaw keeps its state,
//! grown, snapshotted before an image change, restored and the restore undone, found
//! again by its name, never replaced by an empty disk after a loss, a full region
//! answered with the fallback regions, a stranded assistant moved by a fork, and the
//! volumes gone with a deleted Instance (left with an orphaned one).

use std::time::Duration;

use fasterclaw::crd::{Instance, RestoreResult};
use fasterclaw_sim::fly::RegionFaults;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::stack::{Stack, TOKEN, condition, phase, running};

const SOON: Duration = Duration::from_secs(45);

fn volume_id(instance: &Instance) -> String {
    instance
        .status
        .as_ref()
        .and_then(|s| s.volume.as_ref())
        .map(|v| v.id.clone())
        .expect("status.volume")
}

fn app_of(instance: &Instance) -> String {
    instance
        .status
        .as_ref()
        .and_then(|s| s.fly_app_name.clone())
        .expect("an app")
}

fn live_volumes(stack: &Stack, app: &str) -> Vec<Value> {
    stack
        .fly
        .volumes(app)
        .into_iter()
        .filter(|v| {
            !matches!(
                v["state"].as_str(),
                Some("pending_destroy" | "destroyed" | "scheduling_destroy")
            )
        })
        .collect()
}

async fn set_spec(stack: &Stack, name: &str, spec: Value) {
    stack
        .instances()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .expect("the spec changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_volume_comes_first_grows_is_snapshotted_restored_and_goes_with_the_instance() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let controller = stack.controller(&[("RESYNC_INTERVAL", "2s")]);
    stack.instance("bot", json!({ "storageGB": 2 })).await;
    let bot = stack.until("bot", SOON, "RUNNING", running).await;
    let app = app_of(&bot);
    let first = volume_id(&bot);
    let volume = bot.status.as_ref().and_then(|s| s.volume.clone()).unwrap();
    assert_eq!((volume.size_gb, volume.region.as_str()), (2, "lax"));
    // Mounted where OpenClaw keeps its state, in the volume's region, attached to it.
    let machine = stack.machine_of(&bot);
    assert_eq!(machine["config"]["mounts"][0]["volume"], first.as_str());
    assert_eq!(machine["config"]["mounts"][0]["path"], "/data");
    assert_eq!(
        machine["config"]["env"]["OPENCLAW_STATE_DIR"],
        "/data/openclaw"
    );
    assert_eq!(machine["region"], "lax");
    let volumes = live_volumes(&stack, &app);
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_eq!(volumes[0]["attached_machine_id"], machine["id"]);
    assert_eq!(volumes[0]["name"], "openclaw_data");
    assert_eq!(stack.fly.calls_of("Volumes_create"), 1);

    // Growing: the volume is extended, never shrunk.
    set_spec(&stack, "bot", json!({ "storageGB": 4 })).await;
    stack
        .until("bot", SOON, "the volume has 4 GB", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.volume.as_ref())
                .is_some_and(|v| v.size_gb == 4)
        })
        .await;
    assert_eq!(live_volumes(&stack, &app)[0]["size_gb"], 4);

    // An image change is preceded by a snapshot, once.
    let image = "ghcr.io/openclaw/openclaw:2026.9.7";
    set_spec(&stack, "bot", json!({ "image": image })).await;
    let moved = stack
        .until(
            "bot",
            SOON,
            "RUNNING the new image with a snapshot listed",
            |i| {
                running(i)
                    && i.status.as_ref().is_some_and(|s| {
                        !s.snapshots.is_empty()
                            && s.volume
                                .as_ref()
                                .and_then(|v| v.snapshot_before_image.as_deref())
                                == Some(image)
                    })
            },
        )
        .await;
    assert_eq!(stack.machine_of(&moved)["config"]["image"], image);
    assert_eq!(stack.fly.calls_of("createVolumeSnapshot"), 1);
    let snapshot = moved.status.as_ref().unwrap().snapshots[0].id.clone();
    assert!(snapshot.starts_with("vs_"), "{snapshot}");
    let machine_before = moved.status.as_ref().unwrap().fly_machine_id.clone();

    // Restoring: a new volume from the snapshot, the machine made again on it, the
    // previous volume kept.
    stack
        .annotate("bot", "fasterclaw.io/restore", Some(&snapshot))
        .await;
    let restored = stack
        .until("bot", SOON, "restored and RUNNING on a new machine", |i| {
            running(i)
                && i.status.as_ref().is_some_and(|s| {
                    s.restore
                        .as_ref()
                        .is_some_and(|r| r.result == RestoreResult::Restored)
                        && s.volume.as_ref().is_some_and(|v| v.id != first)
                        && s.fly_machine_id != machine_before
                })
        })
        .await;
    let status = restored.status.clone().unwrap();
    let second = volume_id(&restored);
    assert!(status.volume.as_ref().is_some_and(|v| v.size_gb >= 4));
    assert!(
        status
            .retained_volumes
            .iter()
            .any(|r| r.id == first && r.reason == "Restore"),
        "{:?}",
        status.retained_volumes
    );
    assert_ne!(status.fly_machine_id, machine_before);
    assert_eq!(
        stack.machine_of(&restored)["config"]["mounts"][0]["volume"],
        second.as_str()
    );
    // Undone: back to the kept volume.
    stack
        .annotate("bot", "fasterclaw.io/restore", Some(&first))
        .await;
    let machine_restored = restored.status.as_ref().unwrap().fly_machine_id.clone();
    let undone = stack
        .until("bot", SOON, "back on the first volume", |i| {
            running(i)
                && i.status.as_ref().is_some_and(|s| {
                    s.volume.as_ref().is_some_and(|v| v.id == first)
                        && s.fly_machine_id != machine_restored
                })
        })
        .await;
    assert_eq!(
        stack.machine_of(&undone)["config"]["mounts"][0]["volume"],
        first.as_str()
    );
    assert!(
        undone
            .status
            .as_ref()
            .unwrap()
            .retained_volumes
            .iter()
            .any(|r| r.id == second)
    );
    // A restore of something that is not this Instance's is refused, and says so.
    stack
        .annotate("bot", "fasterclaw.io/restore", Some("vs_notours"))
        .await;
    let refused = stack
        .until("bot", SOON, "the restore refused", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.restore.as_ref())
                .is_some_and(|r| r.source == "vs_notours" && r.result == RestoreResult::Refused)
        })
        .await;
    assert_eq!(volume_id(&refused), first);
    stack
        .assert_events(
            "bot",
            &[
                "VolumeCreated",
                "VolumeExtended",
                "SnapshotTaken",
                "Restored",
                "MachineReplaced",
                "RestoreRefused",
            ],
        )
        .await;

    // Deleted: the machine, every volume (kept ones too), then the app.
    stack
        .instances()
        .delete("bot", &DeleteParams::default())
        .await
        .unwrap();
    stack.until_gone("bot", SOON).await;
    assert!(!stack.fly.app_names().contains(&app));
    assert!(stack.fly.calls_of("Volume_delete") >= 2);
    drop(controller);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_volume_is_found_by_name_or_stops_the_instance_until_the_loss_is_accepted() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let controller = stack.controller(&[("RESYNC_INTERVAL", "1s")]);
    stack
        .instance("bot", json!({ "deletionPolicy": "Orphan" }))
        .await;
    let bot = stack.until("bot", SOON, "RUNNING", running).await;
    let app = app_of(&bot);
    let volume = volume_id(&bot);

    // A recorded id Fly.io does not know (an edited or restored status): the volume is
    // found again by its name, and nothing new is made.
    stack
        .instances()
        .patch_status(
            "bot",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "volume": { "id": "vol_notknown00000" } } })),
        )
        .await
        .expect("the status is edited");
    stack
        .until("bot", SOON, "the volume found again by its name", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.volume.as_ref())
                .is_some_and(|v| v.id == volume)
        })
        .await;
    assert_eq!(stack.fly.calls_of("Volumes_create"), 1);
    assert!(stack.fly.calls_of("Volumes_list") >= 1);

    // The machine and the volume vanish behind the controller's back.
    let http = reqwest::Client::new();
    let base = stack.fly.base_url();
    let auth = format!("Bearer {}", stack.fly.token());
    let machine = bot.status.as_ref().unwrap().fly_machine_id.clone().unwrap();
    for path in [
        format!("/v1/apps/{app}/machines/{machine}?force=true"),
        format!("/v1/apps/{app}/volumes/{volume}"),
    ] {
        let answer = http
            .delete(format!("{base}{path}"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lost = stack
        .until("bot", SOON, "Synced=False VolumeLost", |i| {
            condition(i, "Synced").is_some_and(|(_, reason)| reason == "VolumeLost")
        })
        .await;
    let message = lost
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap();
    assert!(
        message.contains(&volume) && message.contains("fasterclaw.io/accept-data-loss"),
        "{message}"
    );
    // Nothing empty was made in its place, however long it waits.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stack.fly.calls_of("Volumes_create"), 1);
    assert!(live_volumes(&stack, &app).is_empty());

    // The operator accepts the loss: a new, empty volume, and it runs again.
    stack
        .annotate("bot", "fasterclaw.io/accept-data-loss", Some(&volume))
        .await;
    let again = stack.until("bot", SOON, "RUNNING again", running).await;
    let fresh = volume_id(&again);
    assert_ne!(fresh, volume);
    assert_eq!(live_volumes(&stack, &app).len(), 1);

    // Orphaned: the app, the machine and the volume stay.
    stack
        .instances()
        .delete("bot", &DeleteParams::default())
        .await
        .unwrap();
    stack.until_gone("bot", SOON).await;
    assert!(stack.fly.app_names().contains(&app));
    assert_eq!(live_volumes(&stack, &app).len(), 1);
    drop(controller);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_region_sends_the_assistant_to_a_fallback_and_a_stranded_one_moves_by_a_fork() {
    let stack = Stack::new().await;
    stack.token_secret("fresh-telegram", TOKEN).await;
    stack.token_secret("stranded-telegram", TOKEN).await;
    let controller = stack.controller(&[("RESYNC_INTERVAL", "2s")]);

    // lax is full and ord over quota: a new assistant lands in iad.
    stack.fly.set_region(
        "lax",
        RegionFaults {
            full: true,
            quota: false,
        },
    );
    stack.fly.set_region(
        "ord",
        RegionFaults {
            full: false,
            quota: true,
        },
    );
    stack
        .instance("fresh", json!({ "fallbackRegions": ["ord", "iad"] }))
        .await;
    let fresh = stack.until("fresh", SOON, "RUNNING", running).await;
    let status = fresh.status.clone().unwrap();
    assert_eq!(status.region.as_deref(), Some("iad"));
    assert_eq!(
        status.volume.as_ref().map(|v| v.region.as_str()),
        Some("iad")
    );
    assert_eq!(stack.machine_of(&fresh)["region"], "iad");
    let full = stack
        .events("fresh")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RegionFull"))
        .filter_map(|e| e.note)
        .collect::<Vec<_>>();
    // (Events of one reason fold into a series: the first note stands for them.)
    assert!(
        full.iter().any(|n| n.starts_with("lax has no room")),
        "{full:?}"
    );
    let metrics = controller.metrics().await;
    assert!(
        metrics.contains(
            r#"fasterclaw_controller_region_shortages_total{region="ord",kind="quota"} 1"#
        ) && metrics.contains(
            r#"fasterclaw_controller_region_shortages_total{region="lax",kind="no_capacity"}"#
        ),
        "{metrics}"
    );

    // A stopped assistant in lax whose host fills up moves with its data on start.
    stack.fly.set_region("lax", RegionFaults::default());
    stack
        .instance("stranded", json!({ "fallbackRegions": ["ewr"] }))
        .await;
    stack.until("stranded", SOON, "RUNNING", running).await;
    set_spec(&stack, "stranded", json!({ "powerState": "Stopped" })).await;
    let stopped = stack
        .until("stranded", SOON, "STOPPED", |i| phase(i) == "STOPPED")
        .await;
    let old = volume_id(&stopped);
    let app = app_of(&stopped);
    stack.fly.set_region(
        "lax",
        RegionFaults {
            full: true,
            quota: false,
        },
    );
    set_spec(&stack, "stranded", json!({ "powerState": "Running" })).await;
    let moved = stack
        .until("stranded", SOON, "RUNNING in ewr", |i| {
            running(i) && i.status.as_ref().and_then(|s| s.region.as_deref()) == Some("ewr")
        })
        .await;
    let status = moved.status.clone().unwrap();
    let fork = volume_id(&moved);
    assert_ne!(fork, old);
    assert!(
        status
            .retained_volumes
            .iter()
            .any(|r| r.id == old && r.reason == "Move" && r.region == "lax"),
        "{:?}",
        status.retained_volumes
    );
    // The new volume is a fork of the old one, not an empty disk.
    let forked = stack
        .fly
        .volumes(&app)
        .into_iter()
        .find(|v| v["id"] == fork.as_str())
        .expect("the fork");
    assert_eq!(forked["region"], "ewr");
    assert!(
        stack
            .event_reasons("stranded")
            .await
            .iter()
            .any(|r| r == "VolumeMoved")
    );
    drop(controller);
}
