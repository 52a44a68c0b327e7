//! The status an Instance reports: phase, `Ready` and `Synced` conditions, message,
//! provisioning steps and what is on Fly.io, computed from the last observation. A pure
//! function: the same inputs give the same status, so an unchanged Instance is not
//! written again, and `lastTransitionTime` moves only when a condition's status flips.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{
    ConditionType, InstanceStatus, Phase, PowerState, ProvisioningStep, ProvisioningStepName,
    StepState,
};
use crate::domain::Timestamp;
use crate::fly::{Machine, MachineState};

/// How the reconcile ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Fly.io is as the spec asks, or on its way there.
    Synced,
    /// The Instance is paused; nothing was written to Fly.io.
    Paused,
    /// Something stops the reconcile: a stable reason and a message for people.
    Problem {
        /// A `Synced` reason, such as `PlatformKeyMissing`.
        reason: &'static str,
        /// What happened and what to do.
        message: String,
        /// The Instance is FAILED: only a spec change or a retry starts it over.
        failed: bool,
    },
}

/// Everything the status is computed from.
#[derive(Clone, Debug)]
pub struct ReportInput<'a> {
    /// The status as it is now.
    pub previous: &'a InstanceStatus,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Now.
    pub now: DateTime<Utc>,
    /// The app, once it exists (or was being created).
    pub app: Option<&'a str>,
    /// Whether the app exists.
    pub app_exists: bool,
    /// The machine as last seen.
    pub machine: Option<&'a Machine>,
    /// The power state the spec asks for.
    pub power: PowerState,
    /// The secrets written, as (digest, version).
    pub secrets: Option<(&'a str, Option<u64>)>,
    /// Whether those are the secrets the spec asks for.
    pub secrets_current: bool,
    /// How the reconcile ended.
    pub outcome: &'a Outcome,
    /// The `reconcile-requested-at` annotation handled by this reconcile.
    pub reconcile_requested: Option<&'a str>,
    /// The `retry-requested-at` annotation handled by this reconcile.
    pub retry_requested: Option<&'a str>,
    /// The Instance starts over toward its spec (a new generation, or a retry).
    pub restarted: bool,
}

fn phase(input: &ReportInput<'_>) -> Phase {
    match (input.outcome, input.machine) {
        (Outcome::Problem { failed: true, .. }, _) => Phase::Failed,
        (Outcome::Paused, _) => input.previous.phase.unwrap_or(Phase::Creating),
        (_, Some(machine)) => machine.state.phase(),
        (_, None) if input.app_exists => Phase::Provisioning,
        (_, None) => Phase::Creating,
    }
}

fn condition(
    previous: &InstanceStatus,
    kind: ConditionType,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = previous
        .condition(kind)
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| time(now));
    Condition {
        type_: kind.as_str().to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// A Kubernetes `Time` (whole seconds, as the API server stores it).
pub fn time(at: DateTime<Utc>) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(at.timestamp()).unwrap_or_default())
}

fn ready(input: &ReportInput<'_>, phase: Phase) -> (bool, &'static str, String) {
    let machine = input.machine;
    if matches!(input.outcome, Outcome::Problem { failed: true, .. }) {
        return (
            false,
            "Failed",
            "the instance failed; see Synced".to_owned(),
        );
    }
    match machine {
        Some(m) if m.state.is_settled_as(input.power) => match input.power {
            PowerState::Running => (true, "Running", "the machine is running".to_owned()),
            PowerState::Stopped => (
                true,
                "Stopped",
                "the machine is stopped, as asked".to_owned(),
            ),
        },
        Some(m) => {
            let reason = match phase {
                Phase::Starting | Phase::Creating => "Starting",
                Phase::Stopping => "Stopping",
                Phase::Stopped => "Stopped",
                Phase::Failed => "MachineFailed",
                _ => "Unavailable",
            };
            (false, reason, format!("the machine is {}", m.state))
        }
        None if input.app_exists => (
            false,
            "Provisioning",
            "the machine is being created".to_owned(),
        ),
        None => (false, "Creating", "nothing exists on Fly.io yet".to_owned()),
    }
}

fn steps(input: &ReportInput<'_>, done: [bool; 4]) -> Vec<ProvisioningStep> {
    const NAMES: [ProvisioningStepName; 4] = [
        ProvisioningStepName::AppCreated,
        ProvisioningStepName::SecretsSet,
        ProvisioningStepName::MachineCreated,
        ProvisioningStepName::MachineStarted,
    ];
    let now = Timestamp::from(input.now);
    let first_open = done.iter().position(|d| !d);
    NAMES
        .iter()
        .zip(done)
        .enumerate()
        .map(|(i, (name, is_done))| {
            let before = input
                .previous
                .provisioning_steps
                .iter()
                .find(|s| s.name == *name);
            let started_at = before.and_then(|s| s.started_at);
            let completed_at = before.and_then(|s| s.completed_at);
            if is_done {
                return ProvisioningStep {
                    name: *name,
                    state: StepState::Done,
                    started_at: started_at.or(Some(now)),
                    completed_at: completed_at.or(Some(now)),
                    message: None,
                };
            }
            let (state, message) = match (Some(i) == first_open, input.outcome) {
                (true, Outcome::Problem { message, .. }) => {
                    (StepState::Failed, Some(message.clone()))
                }
                (true, Outcome::Synced) => (StepState::InProgress, None),
                _ => (StepState::Pending, None),
            };
            let started_at = match state {
                StepState::Pending => None,
                _ => started_at.or(Some(now)),
            };
            ProvisioningStep {
                name: *name,
                state,
                started_at,
                completed_at: None,
                message,
            }
        })
        .collect()
}

/// The status to write.
pub fn status(input: &ReportInput<'_>) -> InstanceStatus {
    let phase = phase(input);
    let previous = input.previous;
    let (is_ready, ready_reason, ready_message) = ready(input, phase);
    let (synced, synced_reason, synced_message) = match input.outcome {
        Outcome::Synced => (
            true,
            "ReconcileSuccess",
            "Fly.io matches the spec".to_owned(),
        ),
        Outcome::Paused => (
            false,
            "ReconcilePaused",
            "paused by the fasterclaw.io/paused annotation: nothing is written to Fly.io"
                .to_owned(),
        ),
        Outcome::Problem {
            reason, message, ..
        } => (false, *reason, message.clone()),
    };
    let conditions = vec![
        condition(
            previous,
            ConditionType::Ready,
            is_ready,
            ready_reason,
            ready_message,
            input.generation,
            input.now,
        ),
        condition(
            previous,
            ConditionType::Synced,
            synced,
            synced_reason,
            synced_message.clone(),
            input.generation,
            input.now,
        ),
    ];
    let machine = input.machine.filter(|m| m.state != MachineState::Destroyed);
    let done = [
        input.app_exists,
        input.secrets_current,
        machine.is_some(),
        machine.is_some_and(|m| m.state.is_settled_as(input.power)),
    ];
    let progressing_since = if is_ready {
        None
    } else if input.restarted || previous.progressing_since.is_none() {
        Some(Timestamp::from(input.now))
    } else {
        previous.progressing_since
    };
    InstanceStatus {
        phase: Some(phase),
        progressing_since,
        fly_app_name: input.app.map(str::to_owned),
        fly_machine_id: machine.map(|m| m.id.clone()),
        ip_address: machine
            .map(|m| m.private_ip.clone())
            .filter(|ip| !ip.is_empty()),
        region: machine.map(|m| m.region.clone()).filter(|r| !r.is_empty()),
        observed_generation: input.generation,
        conditions,
        message: match input.outcome {
            Outcome::Synced => None,
            _ => Some(synced_message),
        },
        provisioning_steps: steps(input, done),
        last_handled_reconcile_at: input
            .reconcile_requested
            .map(str::to_owned)
            .or_else(|| previous.last_handled_reconcile_at.clone()),
        last_handled_retry_at: input
            .retry_requested
            .map(str::to_owned)
            .or_else(|| previous.last_handled_retry_at.clone()),
        secrets_digest: input
            .secrets
            .map(|(digest, _)| digest.to_owned())
            .or_else(|| previous.secrets_digest.clone()),
        secrets_version: input
            .secrets
            .and_then(|(_, version)| version)
            .or(previous.secrets_version),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn machine(state: &str) -> Machine {
        Machine {
            id: "m1".to_owned(),
            state: MachineState::parse(state),
            region: "lax".to_owned(),
            private_ip: "fdaa::1".to_owned(),
            ..Machine::default()
        }
    }

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 0)
            .single()
            .unwrap()
    }

    fn input<'a>(
        previous: &'a InstanceStatus,
        machine: Option<&'a Machine>,
        outcome: &'a Outcome,
        now: DateTime<Utc>,
    ) -> ReportInput<'a> {
        ReportInput {
            previous,
            generation: Some(1),
            now,
            app: Some("fasterclaw-abc"),
            app_exists: true,
            machine,
            power: PowerState::Running,
            secrets: Some(("d1", Some(3))),
            secrets_current: true,
            outcome,
            reconcile_requested: None,
            retry_requested: None,
            restarted: false,
        }
    }

    #[test]
    fn running_as_asked_is_ready_and_steps_are_done() {
        let m = machine("started");
        let status = status(&input(
            &InstanceStatus::default(),
            Some(&m),
            &Outcome::Synced,
            at(0),
        ));
        assert_eq!(status.phase, Some(Phase::Running));
        let ready = status.condition(ConditionType::Ready).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Running")
        );
        assert_eq!(status.ip_address.as_deref(), Some("fdaa::1"));
        assert!(
            status
                .provisioning_steps
                .iter()
                .all(|s| s.state == StepState::Done)
        );
        assert_eq!(status.message, None);
    }

    #[test]
    fn the_same_inputs_later_give_the_same_status() {
        let m = machine("started");
        let first = status(&input(
            &InstanceStatus::default(),
            Some(&m),
            &Outcome::Synced,
            at(0),
        ));
        let again = status(&input(&first, Some(&m), &Outcome::Synced, at(600)));
        assert_eq!(first, again, "nothing changed, so nothing is written");
    }

    #[test]
    fn transition_times_move_only_when_a_condition_flips() {
        let starting = machine("starting");
        let first = status(&input(
            &InstanceStatus::default(),
            Some(&starting),
            &Outcome::Synced,
            at(0),
        ));
        let ready_since = |s: &InstanceStatus| {
            s.condition(ConditionType::Ready)
                .unwrap()
                .last_transition_time
                .clone()
        };
        let still = status(&input(&first, Some(&starting), &Outcome::Synced, at(5)));
        assert_eq!(ready_since(&still), ready_since(&first));
        let started = machine("started");
        let flipped = status(&input(&still, Some(&started), &Outcome::Synced, at(9)));
        assert_eq!(ready_since(&flipped), time(at(9)));
        assert_eq!(
            flipped
                .condition(ConditionType::Synced)
                .unwrap()
                .last_transition_time,
            time(at(0))
        );
        assert_eq!(first.progressing_since, Some(Timestamp::from(at(0))));
        assert_eq!(
            still.progressing_since, first.progressing_since,
            "the clock keeps running"
        );
        assert_eq!(flipped.progressing_since, None, "ready: not progressing");
    }

    #[test]
    fn problems_name_their_reason_and_mark_the_step() {
        let outcome = Outcome::Problem {
            reason: "PlatformKeyMissing",
            message: "ANTHROPIC_API_KEY is not set on the controller".to_owned(),
            failed: false,
        };
        let empty = InstanceStatus::default();
        let mut fresh = input(&empty, None, &outcome, at(0));
        fresh.app = None;
        fresh.app_exists = false;
        fresh.secrets = None;
        fresh.secrets_current = false;
        let status = status(&fresh);
        assert_eq!(status.phase, Some(Phase::Creating));
        let synced = status.condition(ConditionType::Synced).unwrap();
        assert_eq!(
            (synced.status.as_str(), synced.reason.as_str()),
            ("False", "PlatformKeyMissing")
        );
        assert_eq!(
            status.message.as_deref(),
            Some("ANTHROPIC_API_KEY is not set on the controller")
        );
        assert_eq!(status.provisioning_steps[0].state, StepState::Failed);
        assert_eq!(status.provisioning_steps[1].state, StepState::Pending);

        let failed = Outcome::Problem {
            reason: "Timeout",
            message: "stuck".to_owned(),
            failed: true,
        };
        let m = machine("starting");
        let status = super::status(&input(&InstanceStatus::default(), Some(&m), &failed, at(0)));
        assert_eq!(status.phase, Some(Phase::Failed));
        assert_eq!(
            status.condition(ConditionType::Ready).unwrap().reason,
            "Failed"
        );
    }

    #[test]
    fn a_stopped_instance_asked_to_stop_is_ready() {
        let m = machine("stopped");
        let empty = InstanceStatus::default();
        let mut stopped = input(&empty, Some(&m), &Outcome::Synced, at(0));
        stopped.power = PowerState::Stopped;
        let status = status(&stopped);
        assert_eq!(status.phase, Some(Phase::Stopped));
        assert_eq!(
            status.condition(ConditionType::Ready).unwrap().status,
            "True"
        );
    }
}
