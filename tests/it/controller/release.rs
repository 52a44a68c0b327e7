//! Fleet releases through the controller on a real API server and the Fly simulator: a
//! candidate at 50 % moves the Instances of its cohorts (the same after a controller
//! restart), never more than `maxUpgrading` at once, each snapshotted first; a lower
//! share moves nobody back; a pinned Instance is never touched; the release's status
//! counts what runs.

use std::collections::BTreeSet;
use std::time::Duration;

use fasterclaw::crd::{FleetRelease, Instance, ReleasePhase, UpgradeResult, annotation, in_share};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::stack::{Stack, TOKEN, running};

pub(crate) const STABLE: &str = "ghcr.io/openclaw/openclaw:2026.8.2";
pub(crate) const CANDIDATE: &str = "ghcr.io/openclaw/openclaw:2026.9.6";
const PINNED: &str = "ghcr.io/openclaw/openclaw:2026.9.5";
const SOON: Duration = Duration::from_secs(60);

/// A release of the test's own name (releases are cluster-wide; the API server is
/// shared between tests), deleted when dropped.
pub(crate) struct Release {
    pub api: Api<FleetRelease>,
    pub name: String,
}

impl Release {
    pub async fn create(stack: &Stack, spec: Value) -> Self {
        Self::create_named(stack, &format!("fleet-{}", stack.cluster.namespace), spec).await
    }

    pub async fn create_named(stack: &Stack, name: &str, spec: Value) -> Self {
        let api: Api<FleetRelease> = Api::all(stack.cluster.client.clone());
        let name = name.to_owned();
        let release: FleetRelease = serde_json::from_value(json!({
            "apiVersion": "fasterclaw.io/v1alpha1",
            "kind": "FleetRelease",
            "metadata": { "name": name },
            "spec": spec,
        }))
        .expect("a FleetRelease");
        api.create(&PostParams::default(), &release)
            .await
            .expect("the release is created");
        Self { api, name }
    }

    pub async fn set(&self, spec: Value) {
        self.api
            .patch(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("the release changes");
    }

    pub async fn get(&self) -> FleetRelease {
        self.api.get(&self.name).await.expect("the release reads")
    }

    /// Waits until `check` holds of the release.
    pub async fn until(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&FleetRelease) -> bool,
    ) -> FleetRelease {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            let release = self.get().await;
            if check(&release) {
                return release;
            }
            last = Some(release);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "timed out after {timeout:?} waiting until {what}; the release: {}",
            serde_json::to_string_pretty(
                &last.map(|r| json!({"spec": r.spec, "status": r.status}))
            )
            .unwrap_or_default()
        );
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let api = self.api.clone();
        let name = self.name.clone();
        // Best effort, on a runtime of its own: the test's may be shutting down.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Runtime::new() {
                runtime.block_on(async {
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                });
            }
        })
        .join();
    }
}

pub(crate) fn phase_of(release: &FleetRelease) -> Option<ReleasePhase> {
    release.status.as_ref().and_then(|s| s.phase)
}

pub(crate) fn image_of(instance: &Instance) -> Option<&str> {
    instance.status.as_ref().and_then(|s| s.image.as_deref())
}

/// Instances given `image` whose change is not judged healthy yet.
fn changing(instances: &[Instance], image: &str) -> usize {
    instances
        .iter()
        .filter(|i| {
            i.annotations()
                .get(annotation::RELEASE_IMAGE)
                .map(String::as_str)
                == Some(image)
        })
        .filter(|i| {
            !(image_of(i) == Some(image)
                && i.status
                    .as_ref()
                    .and_then(|s| s.upgrade.as_ref())
                    .is_some_and(|u| u.to == image && u.result == UpgradeResult::Upgraded))
        })
        .count()
}

pub(super) async fn all(stack: &Stack) -> Vec<Instance> {
    stack
        .instances()
        .list(&Default::default())
        .await
        .expect("Instances list")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_at_half_moves_its_cohorts_a_few_at_a_time_and_pins_stay() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let release = Release::create(&stack, json!({ "stable": STABLE })).await;
    let settings = [
        ("FLEET_RELEASE", release.name.as_str()),
        ("ROLLOUT_INTERVAL", "300ms"),
        ("RESYNC_INTERVAL", "2s"),
        ("HEALTH_STARTUP_GRACE", "1s"),
    ];
    let mut controller = stack.controller(&settings);
    let token =
        json!({ "telegramToken": { "secretKeyRef": { "name": "bot-telegram", "key": "token" } } });
    let names: Vec<String> = (0..16).map(|i| format!("bot-{i}")).collect();
    for name in &names {
        stack.instance(name, token.clone()).await;
    }
    let mut pinned_spec = token.clone();
    pinned_spec["image"] = json!(PINNED);
    stack.instance("pinned", pinned_spec).await;
    for name in &names {
        let bot = stack
            .until(name, SOON, "RUNNING on the stable image", |i| {
                running(i) && image_of(i) == Some(STABLE)
            })
            .await;
        assert_eq!(stack.machine_of(&bot)["config"]["image"], STABLE);
    }
    stack
        .until("pinned", SOON, "RUNNING its own image", |i| {
            running(i) && image_of(i) == Some(PINNED)
        })
        .await;
    let settled = release
        .until(SOON, "Complete on the stable image", |r| {
            phase_of(r) == Some(ReleasePhase::Complete)
        })
        .await;
    let counts = settled.status.unwrap();
    assert_eq!(
        (counts.instances, counts.pinned, counts.on_candidate),
        (16, 1, 0)
    );

    release
        .set(json!({ "candidate": CANDIDATE, "share": 50, "maxUpgrading": 2 }))
        .await;
    let instances = all(&stack).await;
    let cohort: BTreeSet<String> = instances
        .iter()
        .filter(|i| i.name_any() != "pinned" && in_share(i.metadata.uid.as_deref().unwrap(), 50))
        .map(|i| i.name_any())
        .collect();
    assert!(
        !cohort.is_empty() && cohort.len() < 16,
        "16 random uids leave some on each side of 50 %: {cohort:?}"
    );

    // Never more than two changing at once, as the Instances themselves show it; the
    // controller is restarted halfway.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut restarted = false;
    loop {
        let instances = all(&stack).await;
        let now_changing = changing(&instances, CANDIDATE);
        assert!(now_changing <= 2, "{now_changing} Instances change at once");
        let release_now = release.get().await;
        if let Some(status) = &release_now.status {
            assert!(
                status.upgrading <= 2,
                "the release counts {} upgrading",
                status.upgrading
            );
        }
        let moved = instances
            .iter()
            .filter(|i| image_of(i) == Some(CANDIDATE))
            .count();
        if !restarted && moved * 2 >= cohort.len() {
            controller.kill();
            controller = stack.controller(&settings);
            restarted = true;
        }
        if phase_of(&release_now) == Some(ReleasePhase::Complete)
            && release_now
                .status
                .as_ref()
                .is_some_and(|s| s.observed_generation == release_now.metadata.generation)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rollout did not complete: {:?}",
            release_now.status
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(restarted, "the controller was restarted during the rollout");

    let instances = all(&stack).await;
    let on_candidate: BTreeSet<String> = instances
        .iter()
        .filter(|i| image_of(i) == Some(CANDIDATE))
        .map(|i| i.name_any())
        .collect();
    assert_eq!(
        on_candidate, cohort,
        "exactly the cohorts within 50 % moved"
    );
    for instance in instances
        .iter()
        .filter(|i| on_candidate.contains(&i.name_any()))
    {
        let status = instance.status.as_ref().unwrap();
        let upgrade = status.upgrade.as_ref().expect("the change is recorded");
        assert_eq!(
            (upgrade.from.as_str(), upgrade.to.as_str()),
            (STABLE, CANDIDATE)
        );
        assert_eq!(upgrade.result, UpgradeResult::Upgraded);
        let snapshot = upgrade
            .snapshot
            .as_deref()
            .expect("a snapshot was taken before");
        assert!(
            status.snapshots.iter().any(|s| s.id == snapshot),
            "{snapshot} is listed"
        );
        assert_eq!(stack.machine_of(instance)["config"]["image"], CANDIDATE);
        assert!(running(instance));
    }
    let pinned = instances.iter().find(|i| i.name_any() == "pinned").unwrap();
    assert_eq!(image_of(pinned), Some(PINNED));
    assert!(
        pinned
            .annotations()
            .get(annotation::RELEASE_IMAGE)
            .is_none(),
        "a pinned Instance is never given an image"
    );
    assert!(pinned.status.as_ref().unwrap().upgrade.is_none());

    let status = release.get().await.status.unwrap();
    assert_eq!(status.on_candidate as usize, cohort.len());
    assert_eq!(status.wanted_on_candidate as usize, cohort.len());
    assert_eq!(
        (
            status.instances,
            status.pinned,
            status.failed,
            status.upgrading,
            status.waiting
        ),
        (16, 1, 0, 0, 0)
    );
    assert_eq!(status.upgraded, 16);
    assert_eq!(status.progress.as_deref(), Some("16/16"));
    let count_of = |image: &str| {
        status
            .images
            .iter()
            .find(|c| c.image == image)
            .map(|c| c.instances)
    };
    assert_eq!(count_of(CANDIDATE), Some(cohort.len() as u32));
    assert_eq!(count_of(STABLE), Some(16 - cohort.len() as u32));

    // A lower share moves nobody back.
    let calls = stack.fly.calls_of("Machines_update");
    release.set(json!({ "share": 0 })).await;
    release
        .until(SOON, "the lower share observed", |r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.observed_generation == r.metadata.generation)
                && phase_of(r) == Some(ReleasePhase::Complete)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: BTreeSet<String> = all(&stack)
        .await
        .iter()
        .filter(|i| image_of(i) == Some(CANDIDATE))
        .map(|i| i.name_any())
        .collect();
    assert_eq!(after, cohort);
    assert_eq!(
        stack.fly.calls_of("Machines_update"),
        calls,
        "no machine changed"
    );
    drop(controller);
}

/// The candidate's version with a digest no registry has: the simulator's machines of
/// it exit at start, as a release whose gateway refuses to start would.
pub(crate) const BROKEN: &str = "ghcr.io/openclaw/openclaw:2026.9.6@sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_candidate_halts_after_its_budget_and_a_rollback_restores_the_snapshot() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let release = Release::create(&stack, json!({ "stable": STABLE })).await;
    let controller = stack.controller(&[
        ("FLEET_RELEASE", release.name.as_str()),
        ("ROLLOUT_INTERVAL", "300ms"),
        ("RESYNC_INTERVAL", "2s"),
        ("HEALTH_STARTUP_GRACE", "1s"),
        ("CRASH_LOOP_EXITS", "3"),
    ]);
    let token =
        json!({ "telegramToken": { "secretKeyRef": { "name": "bot-telegram", "key": "token" } } });
    let names: Vec<String> = (0..8).map(|i| format!("bot-{i}")).collect();
    for name in &names {
        stack.instance(name, token.clone()).await;
    }
    for name in &names {
        stack
            .until(name, SOON, "RUNNING on the stable image", |i| {
                running(i) && image_of(i) == Some(STABLE)
            })
            .await;
    }
    stack.fly.set_broken_images([BROKEN.to_owned()]);
    release
        .set(json!({
            "candidate": BROKEN, "share": 100, "maxUpgrading": 2, "failureBudget": 1,
            "healthDeadlineSeconds": 120,
        }))
        .await;
    let halted = release
        .until(Duration::from_secs(150), "Halted", |r| {
            phase_of(r) == Some(ReleasePhase::Halted)
        })
        .await;
    let status = halted.status.unwrap();
    // Two failed, more than the budget of one; the first failure freed a slot, so a
    // third may have been given the candidate before the second failed.
    assert_eq!(status.failed, 2, "{status:?}");
    assert_eq!(status.failed_instances.len(), 2);
    let given_at_halt = status.on_candidate;
    assert!((2..=3).contains(&given_at_halt), "{status:?}");
    assert_eq!((status.waiting, status.upgraded), (8 - given_at_halt, 0));
    assert!(
        status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("failure budget of 1"),
        "{:?}",
        status.message
    );

    // Nothing else is touched: the others never get the candidate and keep running the
    // stable image; those given it fail on it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let instances = all(&stack).await;
    let given: Vec<&Instance> = instances
        .iter()
        .filter(|i| i.annotations().contains_key(annotation::RELEASE_IMAGE))
        .collect();
    assert_eq!(
        given.len() as u32,
        given_at_halt,
        "a halted rollout gives no more"
    );
    let mut failed: Vec<String> = given.iter().map(|i| i.name_any()).collect();
    failed.sort();
    for instance in &instances {
        if failed.contains(&instance.name_any()) {
            continue;
        }
        assert!(running(instance) && image_of(instance) == Some(STABLE));
    }
    let mut given = Vec::new();
    for name in &failed {
        let instance = stack
            .until(name, SOON, "its change judged Failed", |i| {
                i.status
                    .as_ref()
                    .and_then(|s| s.upgrade.as_ref())
                    .is_some_and(|u| u.to == BROKEN && u.result == UpgradeResult::Failed)
            })
            .await;
        assert!(
            instance
                .status
                .as_ref()
                .unwrap()
                .upgrade
                .as_ref()
                .unwrap()
                .snapshot
                .is_some()
        );
        given.push(instance);
    }
    let metrics = controller.metrics().await;
    assert!(
        metrics.contains("fasterclaw_controller_release_halts_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "fasterclaw_controller_upgrades_total{{result=\"failed\"}} {given_at_halt}"
    )));

    // The rollback: back on the stable image, on the snapshot taken before the candidate.
    let before: Vec<(String, String, String)> = given
        .iter()
        .map(|i| {
            let status = i.status.as_ref().unwrap();
            (
                i.name_any(),
                status.upgrade.as_ref().unwrap().snapshot.clone().unwrap(),
                status.volume.as_ref().unwrap().id.clone(),
            )
        })
        .collect();
    release.set(json!({ "rollback": true })).await;
    let rolled = release
        .until(Duration::from_secs(120), "RolledBack", |r| {
            phase_of(r) == Some(ReleasePhase::RolledBack)
        })
        .await;
    for (name, snapshot, volume) in &before {
        let back = stack
            .until(name, SOON, "RUNNING on the stable image again", |i| {
                running(i) && image_of(i) == Some(STABLE)
            })
            .await;
        let status = back.status.as_ref().unwrap();
        let restore = status.restore.as_ref().expect("a restore");
        assert_eq!(&restore.source, snapshot, "the pre-upgrade snapshot");
        assert_ne!(
            &status.volume.as_ref().unwrap().id,
            volume,
            "a volume made from it"
        );
        assert_eq!(stack.machine_of(&back)["config"]["image"], STABLE);
    }
    let mut restored: Vec<String> = rolled
        .status
        .unwrap()
        .restored
        .iter()
        .map(|n| n.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    restored.sort();
    assert_eq!(restored, failed);
    let untouched = all(&stack)
        .await
        .into_iter()
        .filter(|i| !failed.contains(&i.name_any()))
        .filter(|i| i.annotations().contains_key(annotation::RELEASE_IMAGE))
        .count();
    assert_eq!(
        untouched, 0,
        "the rollback moves only the candidate's Instances"
    );
}
