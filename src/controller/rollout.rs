//! The fleet release's decisions, as a pure function of the release and the Instances:
//! which image each Instance should run, which of them change now (at most
//! `maxUpgrading` at a time, snapshotted and health-gated by their own reconciles),
//! whether the rollout halts, and the release's status.
//!
//! An Instance's *assignment* is the image the release gave it
//! (`fasterclaw.io/release-image`), or else the image its machine runs. Its *target* is
//! the stable image, or the candidate when its cohort is within the share or it is on
//! the candidate already (sticky), or the stable image again on a rollback. An
//! Instance whose assignment is not its target waits for a turn; an Instance given an
//! image is *upgrading* until its gateway is healthy on it (*done*) or it fails (its
//! reconcile judged it, or the health deadline passed).

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::crd::{
    ConditionType, FleetRelease, FleetReleaseStatus, ImageCount, Instance, PowerState,
    ReleasePhase, RestoreResult, UpgradeResult, UpgradeStatus, annotation, cohort, in_share,
};

/// How many failed Instances the status names.
const FAILED_SHOWN: usize = 20;

/// How many restored Instances the status names.
const RESTORED_SHOWN: usize = 100;

/// What the rollout needs to know of one Instance.
#[derive(Clone, Debug)]
pub struct Member<'a> {
    /// `namespace/name`.
    pub name: String,
    /// Its uid: its cohort.
    pub uid: &'a str,
    /// `spec.image` pins it outside the release.
    pub pinned: bool,
    /// The image the release gave it.
    pub assigned: Option<&'a str>,
    /// When it was given.
    pub assigned_at: Option<DateTime<Utc>>,
    /// The image its machine runs (`status.image`).
    pub running: Option<&'a str>,
    /// Its `Healthy` condition is `True`.
    pub healthy: bool,
    /// Its last change of image.
    pub upgrade: Option<&'a UpgradeStatus>,
    /// Its last restore brought back a snapshot.
    pub restored_from_snapshot: bool,
    /// Its spec wants it stopped: its machine takes a new image without starting, so
    /// there is no gateway to judge until it starts again.
    pub stopped: bool,
    /// `fasterclaw.io/paused`: its reconciles write nothing, so it is given nothing.
    pub paused: bool,
}

impl<'a> Member<'a> {
    /// What an Instance tells the rollout.
    pub fn of(instance: &'a Instance) -> Self {
        let status = instance.status.as_ref();
        let annotations = instance.annotations();
        Self {
            name: format!(
                "{}/{}",
                instance.namespace().unwrap_or_default(),
                instance.name_any()
            ),
            uid: instance.metadata.uid.as_deref().unwrap_or_default(),
            pinned: instance.spec.image.is_some(),
            assigned: annotations
                .get(annotation::RELEASE_IMAGE)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty()),
            assigned_at: annotations
                .get(annotation::RELEASE_ASSIGNED_AT)
                .and_then(|at| DateTime::parse_from_rfc3339(at.trim()).ok())
                .map(|at| at.with_timezone(&Utc)),
            running: status.and_then(|s| s.image.as_deref()),
            healthy: status
                .and_then(|s| s.condition(ConditionType::Healthy))
                .is_some_and(|c| c.status == "True"),
            upgrade: status.and_then(|s| s.upgrade.as_ref()),
            restored_from_snapshot: status.and_then(|s| s.restore.as_ref()).is_some_and(|r| {
                r.result == RestoreResult::Restored && r.source.starts_with("vs_")
            }),
            stopped: instance.spec.power_state == PowerState::Stopped,
            paused: instance.is_paused(),
        }
    }

    /// The image it is assigned: the release's choice, else what runs.
    fn current(&self) -> Option<&'a str> {
        self.assigned.or(self.running)
    }

    /// The last change of image, if it went to `image`.
    fn upgrade_to(&self, image: &str) -> Option<&'a UpgradeStatus> {
        self.upgrade.filter(|u| u.to == image)
    }

    /// It runs `image`, and if it moved there, its gateway became healthy on it (a
    /// stopped one is done once its machine has the image).
    fn done_on(&self, image: &str) -> bool {
        self.running == Some(image)
            && self.upgrade_to(image).is_none_or(|u| {
                u.result == UpgradeResult::Upgraded
                    || (self.stopped && u.result == UpgradeResult::Upgrading)
            })
    }

    /// The release gave it `image` and it did not become healthy there: its reconcile
    /// said so, or the deadline passed.
    fn failed_on(&self, image: &str, now: DateTime<Utc>, deadline: chrono::Duration) -> bool {
        if self.assigned != Some(image) || self.done_on(image) {
            return false;
        }
        self.upgrade_to(image)
            .is_some_and(|u| u.result == UpgradeResult::Failed)
            || (!self.stopped
                && !self.paused
                && self.assigned_at.is_some_and(|at| now - at > deadline))
    }

    /// Its failure on `image` counts against the budget: its gateway was not already
    /// failing on the image it left.
    fn broken_by(&self, image: &str) -> bool {
        self.upgrade_to(image)
            .is_none_or(|u| u.healthy_before != Some(false))
    }
}

/// An Instance given an image now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Its index among the members.
    pub member: usize,
    /// The image.
    pub image: String,
    /// The snapshot its volume goes back to first (a rollback).
    pub restore: Option<String>,
}

/// The rollout's decisions in one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    /// Instances given an image now.
    pub grants: Vec<Grant>,
    /// The release's status.
    pub status: FleetReleaseStatus,
    /// The rollout halted in this pass.
    pub halted_now: bool,
}

/// Decides one pass of the rollout of `release` over `members` at `now`.
pub fn plan(release: &FleetRelease, members: &[Member<'_>], now: DateTime<Utc>) -> Rollout {
    let spec = &release.spec;
    let previous = release.status.clone().unwrap_or_default();
    let generation = release.metadata.generation;
    let stable = spec.stable.as_str();
    let candidate = spec.candidate.as_deref();
    let rolling_back = spec.rollback && candidate.is_some();
    let deadline = chrono::Duration::seconds(i64::from(spec.health_deadline_seconds));
    // What the rollout moves Instances to: a failure there counts against the budget.
    let rollout_image = match candidate {
        Some(c) if !rolling_back => c,
        _ => stable,
    };

    let target = |m: &Member<'_>| -> &str {
        match candidate {
            Some(c) if !rolling_back && (m.current() == Some(c) || in_share(m.uid, spec.share)) => {
                c
            }
            _ => stable,
        }
    };

    let mut status = FleetReleaseStatus {
        observed_generation: generation,
        ..FleetReleaseStatus::default()
    };
    let mut images: Vec<ImageCount> = Vec::new();
    let mut counted_failures = 0u32;
    let mut waiting: Vec<(u32, usize)> = Vec::new();
    for (index, member) in members.iter().enumerate() {
        if member.pinned {
            status.pinned += 1;
            continue;
        }
        status.instances += 1;
        if let Some(image) = member.running {
            let count = match images.iter_mut().position(|c| c.image == image) {
                Some(at) => &mut images[at],
                None => {
                    images.push(ImageCount {
                        image: image.to_owned(),
                        ..ImageCount::default()
                    });
                    let last = images.len() - 1;
                    &mut images[last]
                }
            };
            count.instances += 1;
            count.healthy += u32::from(member.healthy);
        }
        let wanted = target(member);
        if Some(wanted) == candidate {
            status.wanted_on_candidate += 1;
        }
        // An Instance not running yet starts on the stable image; it waits for a turn
        // like the others once it runs.
        let Some(current) = member.current() else {
            continue;
        };
        if Some(current) == candidate {
            status.on_candidate += 1;
        }
        if member.failed_on(current, now, deadline) {
            status.failed += 1;
            if status.failed_instances.len() < FAILED_SHOWN {
                status.failed_instances.push(member.name.clone());
            }
            if current == rollout_image && member.broken_by(current) {
                counted_failures += 1;
            }
        } else if member.assigned == Some(current) && !member.done_on(current) {
            status.upgrading += 1;
        } else if current == wanted && member.done_on(current) && member.healthy {
            status.upgraded += 1;
        }
        if current != wanted {
            waiting.push((cohort(member.uid), index));
        }
        if Some(current) == Some(stable)
            && member.running == Some(stable)
            && member.restored_from_snapshot
            && candidate.is_some_and(|c| member.upgrade.is_some_and(|u| u.from == c))
            && status.restored.len() < RESTORED_SHOWN
        {
            status.restored.push(member.name.clone());
        }
    }
    images.sort_by(|a, b| b.instances.cmp(&a.instances).then(a.image.cmp(&b.image)));
    status.images = images;

    let halted_before =
        previous.halted_generation.is_some() && previous.halted_generation == generation;
    let halted = !rolling_back && (halted_before || counted_failures > spec.failure_budget);
    let halted_now = halted && !halted_before;
    if halted {
        status.halted_generation = generation;
    }

    // Lowest cohorts first: the order is the same on every pass and every controller.
    waiting.sort_unstable();
    let mut grants = Vec::new();
    if !halted && !spec.paused {
        let slots = spec.max_upgrading.saturating_sub(status.upgrading) as usize;
        // A paused Instance's reconciles write nothing: it keeps waiting.
        let turns = waiting.iter().filter(|(_, index)| !members[*index].paused);
        for &(_, index) in turns.take(slots) {
            let member = &members[index];
            let image = target(member).to_owned();
            let restore = if rolling_back {
                candidate
                    .filter(|c| member.running == Some(*c))
                    .and_then(|c| member.upgrade_to(c))
                    .and_then(|u| u.snapshot.clone())
            } else {
                None
            };
            grants.push(Grant {
                member: index,
                image,
                restore,
            });
        }
    }
    status.upgrading += grants.len() as u32;
    status.waiting = (waiting.len() - grants.len()) as u32;
    status.progress = Some(format!("{}/{}", status.upgraded, status.instances));

    let moving = status.upgrading > 0 || status.waiting > 0;
    let (phase, message) = if rolling_back {
        let left = members
            .iter()
            .filter(|m| {
                !m.pinned
                    && candidate.is_some()
                    && (m.current() == candidate || m.running == candidate)
            })
            .count();
        if left > 0 {
            (
                ReleasePhase::RollingBack,
                format!(
                    "{left} Instances are going back to {stable} on their pre-upgrade snapshots"
                ),
            )
        } else {
            (
                ReleasePhase::RolledBack,
                format!(
                    "every Instance that ran {} is back on {stable}; {} restored from a snapshot",
                    candidate.unwrap_or_default(),
                    status.restored.len()
                ),
            )
        }
    } else if halted {
        (
            ReleasePhase::Halted,
            format!(
                "{counted_failures} Instances did not become healthy on {rollout_image}, more than the failure budget of {}: no other Instance is touched until the spec changes (rollback: true, a new candidate, or a larger budget)",
                spec.failure_budget
            ),
        )
    } else if spec.paused {
        (
            ReleasePhase::Paused,
            format!(
                "paused: {} Instances wait, {} are finishing their change",
                status.waiting, status.upgrading
            ),
        )
    } else if moving {
        (
            ReleasePhase::Progressing,
            format!(
                "{} Instances changing image, {} waiting, {} done",
                status.upgrading, status.waiting, status.upgraded
            ),
        )
    } else {
        (
            ReleasePhase::Complete,
            match candidate {
                Some(c) => format!(
                    "{} Instances on {c} ({}%), the others on {stable}",
                    status.on_candidate, spec.share
                ),
                None => format!("every Instance runs {stable}"),
            },
        )
    };
    status.last_transition_time = if previous.phase == Some(phase) {
        previous.last_transition_time.clone()
    } else {
        Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    status.phase = Some(phase);
    status.message = Some(message);
    Rollout {
        grants,
        status,
        halted_now,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::FleetReleaseSpec;

    const STABLE: &str = "ghcr.io/openclaw/openclaw:2026.8.1";
    const CANDIDATE: &str = "ghcr.io/openclaw/openclaw:2026.9.6";

    fn release(spec: serde_json::Value) -> FleetRelease {
        let spec: FleetReleaseSpec = serde_json::from_value(spec).unwrap();
        let mut release = FleetRelease::new("fleet", spec);
        release.metadata.generation = Some(1);
        release
    }

    fn uids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect()
    }

    fn on<'a>(uid: &'a str, image: &'a str) -> Member<'a> {
        Member {
            name: format!("ns/{uid}"),
            uid,
            pinned: false,
            assigned: None,
            assigned_at: None,
            running: Some(image),
            healthy: true,
            upgrade: None,
            restored_from_snapshot: false,
            stopped: false,
            paused: false,
        }
    }

    /// A change from the stable image to the candidate, begun `now`, standing at `result`.
    fn to_candidate(result: UpgradeResult, now: DateTime<Utc>) -> UpgradeStatus {
        UpgradeStatus {
            from: STABLE.into(),
            to: CANDIDATE.into(),
            snapshot: Some("vs_1".into()),
            started_at: now.to_rfc3339(),
            result,
            message: (result == UpgradeResult::Failed).then(|| "CrashLoop".into()),
            healthy_before: None,
        }
    }

    #[test]
    fn half_the_cohorts_move_a_few_at_a_time_lowest_cohort_first() {
        let uids = uids(200);
        let members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        let release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 50, "maxUpgrading": 3}),
        );
        let rollout = plan(&release, &members, Utc::now());
        let wanted = uids.iter().filter(|u| in_share(u, 50)).count() as u32;
        assert_eq!(rollout.status.wanted_on_candidate, wanted);
        assert_eq!(rollout.grants.len(), 3);
        assert!(
            rollout
                .grants
                .iter()
                .all(|g| g.image == CANDIDATE && g.restore.is_none())
        );
        let cohorts: Vec<u32> = rollout
            .grants
            .iter()
            .map(|g| cohort(members[g.member].uid))
            .collect();
        let lowest = uids.iter().map(|u| cohort(u)).min().unwrap();
        assert_eq!(cohorts[0], lowest);
        assert_eq!(rollout.status.phase, Some(ReleasePhase::Progressing));
        assert_eq!(rollout.status.upgrading, 3);
        assert_eq!(rollout.status.waiting, wanted - 3);
        assert_eq!(
            rollout.status.images,
            vec![ImageCount {
                image: STABLE.into(),
                instances: 200,
                healthy: 200
            }]
        );
    }

    #[test]
    fn instances_changing_image_hold_their_slots_until_healthy_there() {
        let uids = uids(50);
        let now = Utc::now();
        let upgrading = to_candidate(UpgradeResult::Upgrading, now);
        let upgraded = to_candidate(UpgradeResult::Upgraded, now);
        let release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 100, "maxUpgrading": 2}),
        );
        let mut members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        members[0].assigned = Some(CANDIDATE);
        members[0].assigned_at = Some(now);
        members[0].running = Some(CANDIDATE);
        members[0].upgrade = Some(&upgrading);
        members[1].assigned = Some(CANDIDATE);
        members[1].assigned_at = Some(now);
        let rollout = plan(&release, &members, now);
        assert!(rollout.grants.is_empty(), "{:?}", rollout.grants);
        assert_eq!(rollout.status.upgrading, 2);

        members[0].upgrade = Some(&upgraded);
        let rollout = plan(&release, &members, now);
        assert_eq!(rollout.grants.len(), 1);
        assert_eq!(rollout.status.upgraded, 1);
        assert_eq!(rollout.status.on_candidate, 2);
    }

    #[test]
    fn failures_beyond_the_budget_halt_and_the_halt_holds() {
        let uids = uids(20);
        let now = Utc::now();
        let failed = to_candidate(UpgradeResult::Failed, now);
        let mut release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 100, "maxUpgrading": 5, "failureBudget": 1, "healthDeadlineSeconds": 60}),
        );
        let mut members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        members[0].assigned = Some(CANDIDATE);
        members[0].running = Some(CANDIDATE);
        members[0].upgrade = Some(&failed);
        let rollout = plan(&release, &members, now);
        assert_eq!(rollout.status.failed, 1);
        assert!(!rollout.halted_now && !rollout.grants.is_empty());

        // A second failure, past its deadline without a word from its reconcile.
        members[1].assigned = Some(CANDIDATE);
        members[1].assigned_at = Some(now - chrono::Duration::seconds(61));
        let rollout = plan(&release, &members, now);
        assert!(rollout.halted_now);
        assert!(rollout.grants.is_empty());
        assert_eq!(rollout.status.phase, Some(ReleasePhase::Halted));
        assert_eq!(rollout.status.failed, 2);
        assert_eq!(rollout.status.failed_instances.len(), 2);

        // Halted until the spec changes, even if a failure clears.
        release.status = Some(rollout.status);
        members[1].assigned_at = Some(now);
        let rollout = plan(&release, &members, now);
        assert!(!rollout.halted_now && rollout.grants.is_empty());
        assert_eq!(rollout.status.phase, Some(ReleasePhase::Halted));
        release.metadata.generation = Some(2);
        assert!(!plan(&release, &members, now).grants.is_empty());
    }

    #[test]
    fn a_gateway_already_failing_before_its_change_does_not_spend_the_budget() {
        let uids = uids(10);
        let now = Utc::now();
        let failing_before = UpgradeStatus {
            healthy_before: Some(false),
            ..to_candidate(UpgradeResult::Failed, now)
        };
        let release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 100, "maxUpgrading": 2}),
        );
        let mut members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        members[0].assigned = Some(CANDIDATE);
        members[0].running = Some(CANDIDATE);
        members[0].healthy = false;
        members[0].upgrade = Some(&failing_before);
        let rollout = plan(&release, &members, now);
        assert!(!rollout.halted_now, "{:?}", rollout.status.message);
        assert_eq!(rollout.status.failed, 1);
        assert_eq!(
            rollout.status.failed_instances,
            vec![members[0].name.clone()]
        );
        assert_eq!(rollout.grants.len(), 2);

        // The same failure from a gateway healthy before (or of unknown health) halts.
        for before in [Some(true), None] {
            let broken = UpgradeStatus {
                healthy_before: before,
                ..failing_before.clone()
            };
            let mut members = members.clone();
            members[0].upgrade = Some(&broken);
            let rollout = plan(&release, &members, now);
            assert!(
                rollout.halted_now && rollout.grants.is_empty(),
                "{before:?}"
            );
        }
    }

    #[test]
    fn a_rollback_restores_the_pre_upgrade_snapshot_and_pins_are_never_touched() {
        let uids = uids(6);
        let now = Utc::now();
        let upgraded = UpgradeStatus {
            snapshot: Some("vs_before".into()),
            ..to_candidate(UpgradeResult::Upgraded, now)
        };
        let release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 100, "rollback": true}),
        );
        let mut members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        members[0].assigned = Some(CANDIDATE);
        members[0].running = Some(CANDIDATE);
        members[0].upgrade = Some(&upgraded);
        members[1].pinned = true;
        members[1].running = Some(CANDIDATE);
        let rollout = plan(&release, &members, now);
        assert_eq!(
            rollout.grants,
            vec![Grant {
                member: 0,
                image: STABLE.into(),
                restore: Some("vs_before".into())
            }]
        );
        assert_eq!(rollout.status.phase, Some(ReleasePhase::RollingBack));
        assert_eq!(rollout.status.pinned, 1);

        let back = UpgradeStatus {
            from: CANDIDATE.into(),
            to: STABLE.into(),
            snapshot: None,
            result: UpgradeResult::Upgraded,
            ..upgraded.clone()
        };
        members[0].assigned = Some(STABLE);
        members[0].running = Some(STABLE);
        members[0].upgrade = Some(&back);
        members[0].restored_from_snapshot = true;
        let rollout = plan(&release, &members, now);
        assert!(rollout.grants.is_empty());
        assert_eq!(rollout.status.phase, Some(ReleasePhase::RolledBack));
        assert_eq!(rollout.status.restored, vec![members[0].name.clone()]);
    }

    #[test]
    fn a_lower_share_moves_nobody_back() {
        let uids = uids(100);
        let members: Vec<Member> = uids.iter().map(|u| on(u, CANDIDATE)).collect();
        let release = release(json!({"stable": STABLE, "candidate": CANDIDATE, "share": 0}));
        let rollout = plan(&release, &members, Utc::now());
        assert!(rollout.grants.is_empty());
        assert_eq!(rollout.status.phase, Some(ReleasePhase::Complete));
        assert_eq!(rollout.status.on_candidate, 100);
    }

    #[test]
    fn stopped_instances_move_without_a_gateway_to_judge_and_paused_ones_wait() {
        let uids = uids(3);
        let now = Utc::now();
        let moved = UpgradeStatus {
            snapshot: None,
            ..to_candidate(UpgradeResult::Upgrading, now)
        };
        let release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 100, "healthDeadlineSeconds": 60}),
        );
        let mut members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        members[0].stopped = true;
        members[0].assigned = Some(CANDIDATE);
        members[0].assigned_at = Some(now - chrono::Duration::hours(1));
        members[0].running = Some(CANDIDATE);
        members[0].upgrade = Some(&moved);
        members[1].paused = true;
        let rollout = plan(&release, &members, now);
        assert_eq!(
            rollout.status.failed, 0,
            "a stopped Instance is not failed by the deadline"
        );
        assert_eq!(
            rollout.status.upgrading, 1,
            "only the third is given the candidate"
        );
        assert_eq!(
            rollout.grants.iter().map(|g| g.member).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(rollout.status.waiting, 1, "the paused one waits");
    }

    #[test]
    fn a_paused_release_starts_nothing() {
        let uids = uids(10);
        let members: Vec<Member> = uids.iter().map(|u| on(u, STABLE)).collect();
        let release = release(
            json!({"stable": STABLE, "candidate": CANDIDATE, "share": 100, "paused": true}),
        );
        let rollout = plan(&release, &members, Utc::now());
        assert!(rollout.grants.is_empty());
        assert_eq!(rollout.status.phase, Some(ReleasePhase::Paused));
        assert_eq!(rollout.status.waiting, 10);
    }
}
