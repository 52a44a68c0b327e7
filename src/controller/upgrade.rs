//! An Instance's change of image, as its reconciles make and judge it: started when
//! the machine is updated to another image (with the snapshot taken before), then
//! `Upgraded` once the gateway is healthy there, or `Failed` when it crash-loops, runs
//! out of memory or fails its check. The fleet release reads the verdict.

use chrono::{DateTime, Utc};

use super::health::{self, Verdict};
use crate::crd::{HealthReason, UpgradeResult, UpgradeStatus};
use crate::fly::Machine;

/// How long a change under way is looked at again at the transition pace; after that,
/// at the resync pace like anything else.
const LOOKED_AT_SOON_FOR_MINUTES: i64 = 15;

/// A change from `from` to `to` starting `now`, with the snapshot taken before it and
/// the gateway's health on `from` as the status last told it.
pub fn started(
    from: &str,
    to: &str,
    snapshot: Option<String>,
    now: DateTime<Utc>,
    before: Option<&Verdict>,
) -> UpgradeStatus {
    UpgradeStatus {
        from: from.to_owned(),
        to: to.to_owned(),
        snapshot,
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        result: UpgradeResult::Upgrading,
        message: None,
        healthy_before: healthy_before(before),
    }
}

/// Whether the gateway was healthy on the image it leaves: `Some(false)` only when it
/// was failing there (a crash loop, out of memory, a failing check), `None` when its
/// health was not known or was the owner's business.
fn healthy_before(before: Option<&Verdict>) -> Option<bool> {
    let before = before?;
    match before.healthy {
        Some(true) => Some(true),
        Some(false) if is_gateway_failure(before.reason) => Some(false),
        _ => None,
    }
}

/// The reasons that say the gateway itself fails.
fn is_gateway_failure(reason: HealthReason) -> bool {
    matches!(
        reason,
        HealthReason::CrashLoop | HealthReason::OutOfMemory | HealthReason::CheckFailing
    )
}

/// The change the Instance is in, as this reconcile saw it: the one its update began
/// (`made`), else a machine made again on another image (a replacement, a restore),
/// recorded like an update without a snapshot of its own, since the machine's newest
/// start (its checks report after it).
pub fn observed(
    made: Option<UpgradeStatus>,
    image_before: Option<&str>,
    running: Option<&str>,
    machine: Option<&Machine>,
    before: Option<&Verdict>,
) -> Option<UpgradeStatus> {
    match (image_before, running) {
        (Some(from), Some(to)) if from != to && made.as_ref().is_none_or(|u| u.to != to) => {
            let since = machine
                .and_then(health::started_at)
                .unwrap_or_else(Utc::now);
            Some(started(from, to, None, since, before))
        }
        _ => made,
    }
}

/// Whether the machine's gateway check passed on a probe made since the change began.
pub fn proven_since_it_began(machine: Option<&Machine>, record: Option<&UpgradeStatus>) -> bool {
    match (machine, record) {
        (Some(machine), Some(record)) => DateTime::parse_from_rfc3339(&record.started_at)
            .is_ok_and(|since| health::passed_since(machine, since.with_timezone(&Utc))),
        _ => false,
    }
}

/// Whether the change still waits for its verdict and began recently enough to be
/// looked at again soon.
pub fn awaits_verdict(record: Option<&UpgradeStatus>, now: DateTime<Utc>) -> bool {
    record.is_some_and(|u| {
        u.result == UpgradeResult::Upgrading
            && DateTime::parse_from_rfc3339(&u.started_at).is_ok_and(|at| {
                now - at.with_timezone(&Utc) < chrono::Duration::minutes(LOOKED_AT_SOON_FOR_MINUTES)
            })
    })
}

/// The change as this reconcile leaves it, given the image the machine runs, the
/// gateway's health there, and whether its check passed on a probe of the new process
/// (`fresh`: a passing result from before the restart proves nothing). Only a change
/// under way is judged; a judged one stands.
pub fn judge(
    record: Option<UpgradeStatus>,
    running: Option<&str>,
    health: &Verdict,
    fresh: bool,
) -> Option<UpgradeStatus> {
    let mut record = record?;
    if record.result != UpgradeResult::Upgrading || running != Some(record.to.as_str()) {
        return Some(record);
    }
    // An owner's problem (a revoked token) says the gateway runs: the image is fine.
    if fresh && (health.healthy == Some(true) || health.reason.is_owners()) {
        record.result = UpgradeResult::Upgraded;
    } else if is_gateway_failure(health.reason) {
        record.result = UpgradeResult::Failed;
        record.message = Some(format!("{}: {}", health.reason.as_str(), health.message));
    }
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(healthy: Option<bool>, reason: HealthReason) -> Verdict {
        Verdict {
            healthy,
            reason,
            message: "why".to_owned(),
        }
    }

    #[test]
    fn a_change_is_judged_on_the_new_image_only() {
        let record = started("img:1", "img:2", Some("vs_1".into()), Utc::now(), None);
        let healthy = verdict(Some(true), HealthReason::Healthy);
        // Still on the old image: not judged yet.
        let same = judge(Some(record.clone()), Some("img:1"), &healthy, true).unwrap();
        assert_eq!(same.result, UpgradeResult::Upgrading);
        let starting = verdict(None, HealthReason::Starting);
        assert_eq!(
            judge(Some(record.clone()), Some("img:2"), &starting, true)
                .unwrap()
                .result,
            UpgradeResult::Upgrading
        );
        // A passing check from before the restart proves nothing.
        let stale = judge(Some(record.clone()), Some("img:2"), &healthy, false).unwrap();
        assert_eq!(stale.result, UpgradeResult::Upgrading);
        let done = judge(Some(record.clone()), Some("img:2"), &healthy, true).unwrap();
        assert_eq!(done.result, UpgradeResult::Upgraded);
        let crashing = verdict(Some(false), HealthReason::CrashLoop);
        let failed = judge(Some(record.clone()), Some("img:2"), &crashing, true).unwrap();
        assert_eq!(failed.result, UpgradeResult::Failed);
        assert!(failed.message.unwrap().starts_with("CrashLoop"));
        // A verdict does not undo a judged change.
        assert_eq!(
            judge(Some(done), Some("img:2"), &crashing, true)
                .unwrap()
                .result,
            UpgradeResult::Upgraded
        );
        let revoked = verdict(Some(false), HealthReason::TelegramTokenRejected);
        assert_eq!(
            judge(Some(record), Some("img:2"), &revoked, true)
                .unwrap()
                .result,
            UpgradeResult::Upgraded
        );
        assert!(judge(None, Some("img:2"), &healthy, true).is_none());
    }

    #[test]
    fn the_health_before_is_kept_only_when_it_is_known_and_the_gateways() {
        let before = |v: Verdict| started("a", "b", None, Utc::now(), Some(&v)).healthy_before;
        assert_eq!(
            before(verdict(Some(true), HealthReason::Healthy)),
            Some(true)
        );
        assert_eq!(
            before(verdict(Some(false), HealthReason::CrashLoop)),
            Some(false)
        );
        assert_eq!(
            before(verdict(Some(false), HealthReason::OutOfMemory)),
            Some(false)
        );
        assert_eq!(
            before(verdict(Some(false), HealthReason::CheckFailing)),
            Some(false)
        );
        assert_eq!(
            before(verdict(Some(false), HealthReason::TelegramTokenRejected)),
            None
        );
        assert_eq!(before(verdict(None, HealthReason::Starting)), None);
        assert_eq!(
            started("a", "b", None, Utc::now(), None).healthy_before,
            None
        );
    }

    #[test]
    fn a_machine_made_again_on_another_image_is_a_change_and_waits_a_while() {
        let now = Utc::now();
        let made = started("img:1", "img:2", Some("vs_1".into()), now, None);
        // The update's own record stands.
        let kept = observed(Some(made.clone()), Some("img:1"), Some("img:2"), None, None);
        assert_eq!(kept, Some(made.clone()));
        // A replacement on another image, without an update: recorded, no snapshot.
        let replaced = observed(None, Some("img:2"), Some("img:1"), None, None).unwrap();
        assert_eq!(
            (replaced.from.as_str(), replaced.to.as_str()),
            ("img:2", "img:1")
        );
        assert_eq!(replaced.snapshot, None);
        assert_eq!(
            observed(None, Some("img:1"), Some("img:1"), None, None),
            None
        );
        assert!(!proven_since_it_began(None, Some(&made)));

        assert!(awaits_verdict(Some(&made), now));
        assert!(!awaits_verdict(
            Some(&made),
            now + chrono::Duration::minutes(16)
        ));
        let judged = UpgradeStatus {
            result: UpgradeResult::Upgraded,
            ..made
        };
        assert!(!awaits_verdict(Some(&judged), now));
        assert!(!awaits_verdict(None, now));
    }
}
