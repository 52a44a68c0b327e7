//! A fleet release with the real OpenClaw of two versions (the previous npm package as
//! the stable image, the pinned one as the candidate) and an image whose gateway exits
//! at start: the assistant moves to the candidate and answers on it; rolled back, it
//! goes to the older version on the snapshot taken before (which that version opens;
//! the state the newer one migrated it would refuse) and answers again; a broken
//! candidate halts the rollout.

use fasterclaw::crd::{Phase, ReleasePhase, UpgradeResult};
use fasterclaw_sim::fly::ImageRun;
use serde_json::json;

use super::{Assistants, BOOT, FIRST_TOKEN, OWNER};
use crate::controller::release::{BROKEN, CANDIDATE, Release, STABLE, image_of, phase_of};
use crate::support::openclaw::OpenClaw;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_moves_a_real_assistant_to_the_new_version_back_on_its_snapshot_and_halts_on_a_broken_one()
 {
    let previous = OpenClaw::previous();
    let cluster_release = format!("fleet-{}", uuid::Uuid::new_v4().simple());
    let world = Assistants::start_on(
        &[
            ("FLEET_RELEASE", cluster_release.as_str()),
            ("ROLLOUT_INTERVAL", "1s"),
            ("CRASH_LOOP_EXITS", "3"),
        ],
        vec![
            (
                STABLE.to_owned(),
                ImageRun::Package(previous.package.clone()),
            ),
            (BROKEN.to_owned(), ImageRun::ExitsAtStart),
        ],
    )
    .await;
    let release = Release::create_named(
        &world.stack,
        &cluster_release,
        json!({ "stable": STABLE, "healthDeadlineSeconds": 600 }),
    )
    .await;

    // Made on the stable image: the previous version answers.
    let created = world.create(FIRST_TOKEN, &[OWNER]).await;
    let id = created.id.to_string();
    let running = world.until(&id, Phase::Running, BOOT).await;
    let instance = world.only_instance().await;
    assert_eq!(image_of(&instance), Some(STABLE));
    world
        .assert_answers(
            FIRST_TOKEN,
            "claude-sonnet-5",
            "hello, old friend",
            &running,
        )
        .await;

    // The candidate: snapshot, update, healthy on the new version, answering.
    release
        .set(json!({ "candidate": CANDIDATE, "share": 100, "maxUpgrading": 1 }))
        .await;
    release
        .until(BOOT, "Complete on the candidate", |r| {
            phase_of(r) == Some(ReleasePhase::Complete)
                && r.status
                    .as_ref()
                    .is_some_and(|s| s.upgraded == 1 && s.on_candidate == 1)
        })
        .await;
    let upgraded = world.only_instance().await;
    let upgrade = upgraded
        .status
        .as_ref()
        .and_then(|s| s.upgrade.clone())
        .expect("recorded");
    assert_eq!(
        (upgrade.from.as_str(), upgrade.to.as_str()),
        (STABLE, CANDIDATE)
    );
    assert_eq!(upgrade.result, UpgradeResult::Upgraded);
    let before_upgrade = upgrade
        .snapshot
        .clone()
        .expect("a snapshot before the upgrade");
    world
        .assert_answers(FIRST_TOKEN, "claude-sonnet-5", "still there?", &running)
        .await;

    // Rolled back: the older version on the snapshot taken before the upgrade.
    release.set(json!({ "rollback": true })).await;
    let rolled = release
        .until(BOOT, "RolledBack", |r| {
            phase_of(r) == Some(ReleasePhase::RolledBack)
        })
        .await;
    let back = world.until(&id, Phase::Running, BOOT).await;
    let instance = world.only_instance().await;
    let status = instance.status.as_ref().expect("a status");
    assert_eq!(image_of(&instance), Some(STABLE));
    let restore = status.restore.as_ref().expect("restored");
    assert_eq!(restore.source, before_upgrade);
    assert_eq!(rolled.status.unwrap().restored.len(), 1);
    world
        .assert_answers(FIRST_TOKEN, "claude-sonnet-5", "back again?", &back)
        .await;

    // A candidate whose gateway exits at start: the Instance fails on it and the
    // rollout halts (a budget of none).
    release
        .set(json!({ "candidate": BROKEN, "rollback": false, "failureBudget": 0 }))
        .await;
    let halted = release
        .until(BOOT, "Halted", |r| {
            phase_of(r) == Some(ReleasePhase::Halted)
        })
        .await;
    let status = halted.status.unwrap();
    assert_eq!(status.failed, 1, "{status:?}");
    let failed = world.only_instance().await;
    let upgrade = failed
        .status
        .as_ref()
        .and_then(|s| s.upgrade.clone())
        .expect("recorded");
    assert_eq!(
        (upgrade.to.as_str(), upgrade.result),
        (BROKEN, UpgradeResult::Failed)
    );
    assert!(
        upgrade
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("CrashLoop"),
        "{upgrade:?}"
    );
}
