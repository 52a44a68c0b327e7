//! The reconcile's decisions, as pure functions of what it knows: whether it may go on
//! (the gates), whether a transition has lasted too long, when to look again, and which
//! Events to publish. Tested as tables; the reconcile performs what they decide.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::events::{EventReason, Note};
use super::health;
use super::images::AllowedImages;
use super::naming;
use super::outcome::{Outcome, Problem};
use super::settings::PlatformKeys;
use crate::crd::{
    Adoption, ConditionType, HealthReason, InstanceStatus, Phase, PowerState, ProvisioningStepName,
    SyncedReason,
};
use crate::domain::{AiModel, AiProvider};
use crate::runtime::models;

/// What the gates look at.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// The status as it is.
    pub previous: &'a InstanceStatus,
    /// The Instance's uid.
    pub uid: &'a str,
    /// What the Instance adopts, if anything.
    pub adopt: Option<&'a Adoption>,
    /// The `fasterclaw.io/paused` annotation is on.
    pub paused: bool,
    /// A new retry annotation asks to start over.
    pub retried: bool,
    /// The Instance starts over toward its spec (a new generation, or a retry).
    pub restarted: bool,
    /// The `fasterclaw.io/imported-failed` annotation's message.
    pub imported_failed: Option<&'a str>,
    /// `spec.image`.
    pub image: Option<&'a str>,
    /// The images the platform's keys may go to.
    pub allowed_images: &'a AllowedImages,
    /// `spec.aiModel`.
    pub model: &'a AiModel,
}

/// Whether a reconcile may go on to Fly.io.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Paused: report it, write nothing.
    Paused,
    /// FAILED, and nothing asks to start over: report it again as it is.
    StayFailed(Problem),
    /// Imported FAILED from the original: report it so, holding the app it adopts.
    ImportedFailed(Problem),
    /// Something must change first.
    Stop(Problem),
    /// Go on.
    Go,
}

/// The gates, in order.
pub fn gate(facts: &Facts<'_>) -> Gate {
    let previous = facts.previous;
    if facts.paused {
        return Gate::Paused;
    }
    if let Some(recorded) = previous.fly_app_name.as_deref()
        && !naming::is_own_app_name(recorded, facts.uid)
        && facts.adopt.is_none_or(|a| a.app_name != recorded)
    {
        // Only the controller writes the status; an edit that names another app does
        // not hand that app to this Instance.
        return Gate::Stop(Problem::new(
            SyncedReason::AppNameConflict,
            format!(
                "status.flyAppName names {recorded}, which this Instance neither made nor adopts; the controller leaves it alone"
            ),
        ));
    }
    // FAILED by a problem of the sync (not by the owner's token, which a new token
    // mends while Fly.io stays in sync).
    let failed_by_sync = previous
        .condition(ConditionType::Synced)
        .is_none_or(|c| c.status != "True");
    if previous.phase == Some(Phase::Failed) && failed_by_sync && !facts.restarted {
        // FAILED waits for a spec change or a retry; a sync request is echoed.
        let reason = previous
            .condition(ConditionType::Synced)
            .map_or(SyncedReason::Failed, |c| SyncedReason::of_failed(&c.reason));
        return Gate::StayFailed(Problem::new(
            reason,
            previous.message.clone().unwrap_or_default(),
        ));
    }
    if previous.phase.is_none()
        && !facts.retried
        && let Some(message) = facts.imported_failed
    {
        return Gate::ImportedFailed(Problem::new(
            SyncedReason::ImportedFailed,
            format!("{message}; retry to provision it again"),
        ));
    }
    if let Some(image) = facts.image
        && !facts.allowed_images.allows(image)
    {
        return Gate::Stop(Problem::new(
            SyncedReason::ImageNotAllowed,
            format!(
                "spec.image {image:?} is not from a repository the controller allows ({}); the platform's keys go to those images only, so nothing runs until the image changes",
                facts.allowed_images.describe()
            ),
        ));
    }
    if let Some(refusal) = models::refusal(facts.model) {
        return Gate::Stop(Problem::new(
            SyncedReason::ModelNotOffered,
            format!("spec.aiModel: {refusal}"),
        ));
    }
    Gate::Go
}

/// The problem of a controller without the key of the model's provider (the gate after
/// [`gate`]).
pub fn platform_key_missing(provider: AiProvider) -> Problem {
    Problem::new(
        SyncedReason::PlatformKeyMissing,
        format!(
            "{} is not set on the controller, so no {} assistant can run; set it and restart the controller",
            PlatformKeys::variable(provider),
            provider.as_str()
        ),
    )
}

/// A transition that has lasted longer than `timeout`, as a problem; a restart starts
/// the clock over.
pub fn timed_out(
    previous: &InstanceStatus,
    power: PowerState,
    restarted: bool,
    now: DateTime<Utc>,
    timeout: Duration,
) -> Option<Problem> {
    let since = previous.progressing_since?;
    let phase = previous.phase?;
    let transitional = matches!(
        phase,
        Phase::Creating | Phase::Provisioning | Phase::Starting | Phase::Stopping
    );
    let elapsed = (now - since.0).to_std().ok()?;
    (transitional && !restarted && elapsed > timeout).then(|| {
        Problem::new(
            SyncedReason::Timeout,
            format!(
                "{} for more than {}: the machine did not reach {}; retry to start over",
                phase.as_str(),
                humantime::format_duration(timeout),
                match power {
                    PowerState::Running => "started",
                    PowerState::Stopped => "stopped",
                }
            ),
        )
    })
}

/// When to look at the Instance again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// When it (or what it waits for) changes.
    ForChange,
    /// Soon: it is on its way.
    Transition,
    /// At the next resync, jittered.
    Resync,
}

/// When to look again after a reconcile that ended with `outcome`: a machine still
/// moving, or not yet where the spec wants it, soon; a settled one at the next resync;
/// a paused one at the next resync too; a problem when something changes. (Errors go
/// to the backoff.)
pub fn wait_after(outcome: &Outcome, still_moving: bool, ready: bool) -> Wait {
    match outcome {
        Outcome::Paused => Wait::Resync,
        Outcome::Problem(_) | Outcome::Error(_) => Wait::ForChange,
        Outcome::Synced if still_moving || !ready => Wait::Transition,
        Outcome::Synced => Wait::Resync,
    }
}

/// The Events a status written for `outcome` calls for, and whether the Instance is
/// Ready for the first time in its life (for the time-to-ready metric).
pub fn announcements(
    name: &str,
    previous: &InstanceStatus,
    next: &InstanceStatus,
    outcome: &Outcome,
    reconcile_requested: Option<&str>,
) -> (Vec<Note>, bool) {
    let mut notes = Vec::new();
    if let Outcome::Problem(problem) = outcome {
        // Once per change of the problem.
        let before = previous.condition(ConditionType::Synced);
        if before
            .is_none_or(|c| c.reason != problem.reason.as_str() || c.message != problem.message)
        {
            notes.push(Note::new(
                EventReason::Problem(problem.reason),
                problem.message.clone(),
            ));
        }
    }
    let is_ready = |s: &InstanceStatus| {
        s.condition(ConditionType::Ready)
            .is_some_and(|c| c.status == "True")
    };
    let became_ready = *outcome == Outcome::Synced && is_ready(next) && !is_ready(previous);
    let first_ready = became_ready
        && !previous
            .provisioning_steps
            .iter()
            .any(|s| s.name == ProvisioningStepName::MachineStarted && s.completed_at.is_some());
    if became_ready {
        notes.push(Note::new(
            EventReason::Ready,
            format!(
                "{name} is {}",
                next.phase.map(Phase::as_str).unwrap_or("ready")
            ),
        ));
    }
    notes.extend(health_notes(previous, next));
    if reconcile_requested.is_some()
        && reconcile_requested != previous.last_handled_reconcile_at.as_deref()
    {
        notes.push(Note::new(
            EventReason::ReconcileRequestHandled,
            "synced on request",
        ));
    }
    (notes, first_ready)
}

/// The Events a change of the `Healthy` condition calls for: a Warning naming the
/// reason once per new reason, and a note when the gateway is healthy again.
fn health_notes(previous: &InstanceStatus, next: &InstanceStatus) -> Option<Note> {
    let before = previous.condition(ConditionType::Healthy);
    let after = next.condition(ConditionType::Healthy)?;
    if before.is_some_and(|b| b.reason == after.reason) {
        return None;
    }
    match after.status.as_str() {
        "False" => HealthReason::parse(&after.reason)
            .map(|reason| Note::new(EventReason::Unhealthy(reason), after.message.clone())),
        "True" if health::recovered_from(previous, next).is_some() => Some(Note::new(
            EventReason::Recovered,
            "the gateway is healthy again",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    use super::*;
    use crate::crd::{ProvisioningStep, StepState};
    use crate::domain::Timestamp;

    const UID: &str = "6f1c2a34-5b6d-4e7f-8091-a2b3c4d5e6f7";

    fn condition(kind: ConditionType, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: kind.as_str().to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            observed_generation: None,
            last_transition_time: super::super::report::time(chrono::Utc::now()),
        }
    }

    fn failed(reason: &str) -> InstanceStatus {
        InstanceStatus {
            phase: Some(Phase::Failed),
            message: Some("it broke".to_owned()),
            conditions: vec![condition(
                ConditionType::Synced,
                "False",
                reason,
                "it broke",
            )],
            ..InstanceStatus::default()
        }
    }

    #[test]
    fn the_gates_in_order() {
        let images = AllowedImages::new(&[], "ghcr.io/openclaw/openclaw:1").unwrap();
        let fresh = InstanceStatus::default();
        let owners_failed = InstanceStatus {
            phase: Some(Phase::Failed),
            conditions: vec![
                condition(ConditionType::Synced, "True", "ReconcileSuccess", ""),
                condition(
                    ConditionType::Healthy,
                    "False",
                    "TelegramTokenRejected",
                    "Telegram refuses the bot's token",
                ),
            ],
            ..InstanceStatus::default()
        };
        let forged = InstanceStatus {
            fly_app_name: Some("someone-elses-app".to_owned()),
            ..InstanceStatus::default()
        };
        let own = InstanceStatus {
            fly_app_name: Some("fasterclaw-6f1c2a345b6d4e7f8091a2b3c4d5e6f7".to_owned()),
            phase: Some(Phase::Running),
            ..InstanceStatus::default()
        };
        let timed_out_failed = failed("Timeout");
        let sonnet = AiModel::default();
        let retired = AiModel::parse("gpt-4o").unwrap();
        let odd_failed = failed("ReconcileError");
        let base = Facts {
            previous: &fresh,
            uid: UID,
            adopt: None,
            paused: false,
            retried: false,
            restarted: false,
            imported_failed: None,
            image: None,
            allowed_images: &images,
            model: &sonnet,
        };
        let reason = |gate: Gate| match gate {
            Gate::Paused => "Paused".to_owned(),
            Gate::Go => "Go".to_owned(),
            Gate::StayFailed(p) => format!("StayFailed {}", p.reason),
            Gate::ImportedFailed(p) => format!("ImportedFailed {}", p.reason),
            Gate::Stop(p) => format!("Stop {}", p.reason),
        };
        let table: Vec<(Facts<'_>, &str)> = vec![
            (base.clone(), "Go"),
            (
                Facts {
                    previous: &own,
                    ..base.clone()
                },
                "Go",
            ),
            // Paused wins over everything.
            (
                Facts {
                    paused: true,
                    previous: &forged,
                    ..base.clone()
                },
                "Paused",
            ),
            (
                Facts {
                    previous: &forged,
                    ..base.clone()
                },
                "Stop AppNameConflict",
            ),
            (
                Facts {
                    previous: &timed_out_failed,
                    ..base.clone()
                },
                "StayFailed Timeout",
            ),
            (
                Facts {
                    previous: &odd_failed,
                    ..base.clone()
                },
                "StayFailed Failed",
            ),
            (
                // FAILED by the owner's token while Fly.io is in sync: a new token
                // mends it, so reconciles go on.
                Facts {
                    previous: &owners_failed,
                    ..base.clone()
                },
                "Go",
            ),
            (
                Facts {
                    previous: &timed_out_failed,
                    restarted: true,
                    ..base.clone()
                },
                "Go",
            ),
            (
                Facts {
                    imported_failed: Some("x"),
                    ..base.clone()
                },
                "ImportedFailed ImportedFailed",
            ),
            (
                Facts {
                    imported_failed: Some("x"),
                    retried: true,
                    ..base.clone()
                },
                "Go",
            ),
            (
                Facts {
                    imported_failed: Some("x"),
                    previous: &own,
                    ..base.clone()
                },
                "Go",
            ),
            (
                Facts {
                    image: Some("ghcr.io/else/bot:1"),
                    ..base.clone()
                },
                "Stop ImageNotAllowed",
            ),
            (
                Facts {
                    image: Some("ghcr.io/openclaw/openclaw:2"),
                    ..base.clone()
                },
                "Go",
            ),
            (
                Facts {
                    model: &retired,
                    ..base.clone()
                },
                "Stop ModelNotOffered",
            ),
            // A paused Instance with a retired model stays paused.
            (
                Facts {
                    model: &retired,
                    paused: true,
                    ..base.clone()
                },
                "Paused",
            ),
        ];
        for (n, (facts, expected)) in table.into_iter().enumerate() {
            assert_eq!(reason(gate(&facts)), expected, "row {n}");
        }
        let missing = platform_key_missing(AiProvider::Anthropic);
        assert_eq!(missing.reason, SyncedReason::PlatformKeyMissing);
        assert!(
            missing.message.starts_with("ANTHROPIC_API_KEY is not set"),
            "{}",
            missing.message
        );
    }

    #[test]
    fn a_transition_times_out_unless_it_started_over() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let since = |minutes: i64| InstanceStatus {
            phase: Some(Phase::Starting),
            progressing_since: Some(Timestamp::from(now - chrono::Duration::minutes(minutes))),
            ..InstanceStatus::default()
        };
        let timeout = Duration::from_secs(600);
        let late = timed_out(&since(11), PowerState::Running, false, now, timeout).unwrap();
        assert_eq!(late.reason, SyncedReason::Timeout);
        assert_eq!(
            late.message,
            "STARTING for more than 10m: the machine did not reach started; retry to start over"
        );
        assert_eq!(
            timed_out(&since(9), PowerState::Running, false, now, timeout),
            None
        );
        assert_eq!(
            timed_out(&since(11), PowerState::Running, true, now, timeout),
            None
        );
        let mut running = since(60);
        running.phase = Some(Phase::Running);
        assert_eq!(
            timed_out(&running, PowerState::Running, false, now, timeout),
            None
        );
    }

    #[test]
    fn when_to_look_again() {
        let problem = Outcome::Problem(Problem::new(SyncedReason::TokenUnavailable, "x"));
        for (outcome, moving, ready, wait) in [
            (Outcome::Synced, false, true, Wait::Resync),
            (Outcome::Synced, true, true, Wait::Transition),
            (Outcome::Synced, false, false, Wait::Transition),
            (Outcome::Paused, false, false, Wait::Resync),
            (problem, false, false, Wait::ForChange),
            (
                Outcome::Error("x".to_owned()),
                false,
                false,
                Wait::ForChange,
            ),
        ] {
            assert_eq!(wait_after(&outcome, moving, ready), wait, "{outcome:?}");
        }
    }

    #[test]
    fn events_tell_each_change_once() {
        let ready = |flag: &str| InstanceStatus {
            phase: Some(Phase::Running),
            conditions: vec![condition(ConditionType::Ready, flag, "Running", "")],
            ..InstanceStatus::default()
        };
        let reasons = |notes: Vec<Note>| notes.into_iter().map(|n| n.reason).collect::<Vec<_>>();

        // Ready for the first time: an Event and the metric.
        let (notes, first) = announcements(
            "bot",
            &ready("False"),
            &ready("True"),
            &Outcome::Synced,
            None,
        );
        assert_eq!(reasons(notes), [EventReason::Ready]);
        assert!(first);
        // Again after a restart of the machine: the Event, not the metric.
        let mut started_before = ready("False");
        started_before.provisioning_steps.push(ProvisioningStep {
            name: ProvisioningStepName::MachineStarted,
            state: StepState::Done,
            started_at: None,
            completed_at: Some(Timestamp::now()),
            message: None,
        });
        let (notes, first) = announcements(
            "bot",
            &started_before,
            &ready("True"),
            &Outcome::Synced,
            None,
        );
        assert_eq!(reasons(notes), [EventReason::Ready]);
        assert!(!first);
        // Still Ready: nothing.
        let (notes, _) = announcements(
            "bot",
            &ready("True"),
            &ready("True"),
            &Outcome::Synced,
            None,
        );
        assert!(notes.is_empty());
        // Paused while Ready: not a new Ready.
        let (notes, _) = announcements(
            "bot",
            &ready("False"),
            &ready("True"),
            &Outcome::Paused,
            None,
        );
        assert!(notes.is_empty());

        // A problem: once per change of reason or message.
        let missing = Outcome::Problem(Problem::new(SyncedReason::TokenUnavailable, "no Secret"));
        let (notes, _) = announcements(
            "bot",
            &InstanceStatus::default(),
            &InstanceStatus::default(),
            &missing,
            None,
        );
        assert_eq!(
            reasons(notes),
            [EventReason::Problem(SyncedReason::TokenUnavailable)]
        );
        let told = InstanceStatus {
            conditions: vec![condition(
                ConditionType::Synced,
                "False",
                "TokenUnavailable",
                "no Secret",
            )],
            ..InstanceStatus::default()
        };
        let (notes, _) = announcements("bot", &told, &told, &missing, None);
        assert!(notes.is_empty());
        // Errors that may pass are not announced.
        let (notes, _) = announcements("bot", &told, &told, &Outcome::Error("x".to_owned()), None);
        assert!(notes.is_empty());

        // A sync request, once per value.
        let (notes, _) = announcements("bot", &told, &told, &Outcome::Synced, Some("t1"));
        assert_eq!(reasons(notes), [EventReason::ReconcileRequestHandled]);
        let handled = InstanceStatus {
            last_handled_reconcile_at: Some("t1".to_owned()),
            ..InstanceStatus::default()
        };
        let (notes, _) = announcements("bot", &handled, &handled, &Outcome::Synced, Some("t1"));
        assert!(notes.is_empty());
    }
}
