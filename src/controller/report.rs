//! The status an Instance reports: phase, `Ready` and `Synced` conditions, message,
//! provisioning steps and what is on Fly.io, computed from the last observation. A pure
//! function: the same inputs give the same status, so an unchanged Instance is not
//! written again, and `lastTransitionTime` moves only when a condition's status flips.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::health::{ExitBook, Verdict};
use super::outcome::{Outcome, Problem};
use super::world::StorageRecord;
use crate::crd::{
    ConditionType, HealRecord, HealthReason, InstanceStatus, PairingStatus, Phase, PowerState,
    ProvisioningStep, ProvisioningStepName, ReadyReason, StepState, UpgradeStatus,
};
use crate::domain::Timestamp;
use crate::fly::{Machine, MachineState};
use crate::runtime::machine::{CONFIG_REFUSED_EXIT, HEALTH_CHECK, READY_CHECK};

/// Everything the status is computed from.
#[derive(Clone, Debug)]
pub struct ReportInput<'a> {
    /// The status as it is now.
    pub previous: &'a InstanceStatus,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Now.
    pub now: DateTime<Utc>,
    /// The name of the Instance's app.
    pub app: &'a str,
    /// Whether the app exists.
    pub app_exists: bool,
    /// The machine as last seen.
    pub machine: Option<&'a Machine>,
    /// The power state the spec asks for.
    pub power: PowerState,
    /// The digest of the secrets the spec asks for, when they are known.
    pub wanted_secrets: Option<&'a str>,
    /// The secrets written in this reconcile, as (digest, version).
    pub written_secrets: Option<(&'a str, u64)>,
    /// The key the gateway token in the wanted secrets was derived with.
    pub gateway_token_key: Option<&'a str>,
    /// Pairing as the machine reported it in this reconcile.
    pub pairing: Option<&'a PairingStatus>,
    /// The storage part of the status.
    pub storage: &'a StorageRecord,
    /// How the reconcile ended.
    pub outcome: &'a Outcome,
    /// The `reconcile-requested-at` annotation.
    pub reconcile_requested: Option<&'a str>,
    /// The `retry-requested-at` annotation.
    pub retry_requested: Option<&'a str>,
    /// The Instance starts over toward its spec (a new generation, or a retry).
    pub restarted: bool,
    /// The gateway's health, as this reconcile leaves it.
    pub health: &'a Verdict,
    /// The exits nobody asked for.
    pub exits: &'a ExitBook,
    /// The heal carried out in this reconcile, if any.
    pub heal: Option<&'a HealRecord>,
    /// The last change of the machine's image, judged by this reconcile.
    pub upgrade: Option<&'a UpgradeStatus>,
}

impl ReportInput<'_> {
    /// The app, once it exists, was recorded, or is being made.
    fn app(&self) -> Option<&str> {
        let named = self.app_exists
            || self.previous.fly_app_name.is_some()
            || *self.outcome == Outcome::Synced;
        named.then_some(self.app)
    }

    /// Whether the app holds the secrets the spec asks for.
    fn secrets_current(&self) -> bool {
        match (
            self.wanted_secrets,
            self.previous.secrets_digest.as_deref(),
            self.written_secrets,
        ) {
            (Some(want), _, Some((written, _))) => want == written,
            (Some(want), Some(applied), None) => want == applied,
            // Not looked at in this reconcile: as recorded.
            (None, Some(_), _) => true,
            _ => false,
        }
    }

    /// The retry this reconcile handled: one that reached a definite outcome, not one
    /// an error that may pass interrupted.
    fn retry_handled(&self) -> Option<&str> {
        self.retry_requested
            .filter(|_| !matches!(self.outcome, Outcome::Error(_)))
    }
}

fn phase(input: &ReportInput<'_>) -> Phase {
    match (input.outcome, input.machine) {
        (outcome, _) if outcome.fails() => Phase::Failed,
        (Outcome::Paused, _) => input.previous.phase.unwrap_or(Phase::Creating),
        // RUNNING means the assistant answers: a started machine whose gateway does not
        // pass its health check is still starting.
        // Made without being started, as a stopped Instance asks: at rest.
        (_, Some(machine))
            if input.power == PowerState::Stopped && machine.state == MachineState::Created =>
        {
            Phase::Stopped
        }
        (_, Some(machine)) => match machine.state.phase() {
            // The owner's problem (a refused or shared token): it cannot answer until
            // the owner acts, whatever the controller does.
            Phase::Running if input.health.reason.is_owners() => Phase::Failed,
            Phase::Running if gateway_trouble(machine).is_some() => Phase::Starting,
            phase => phase,
        },
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

fn ready(input: &ReportInput<'_>, phase: Phase) -> (bool, ReadyReason, String) {
    let machine = input.machine;
    if input.outcome.fails() {
        return (
            false,
            ReadyReason::Failed,
            "the instance failed; see Synced".to_owned(),
        );
    }
    match machine {
        Some(m) if m.state.is_settled_as(input.power) => match input.power {
            PowerState::Running => match gateway_trouble(m) {
                None => (
                    true,
                    ReadyReason::Running,
                    "the machine is running and its gateway passes its health checks".to_owned(),
                ),
                Some(_) if input.health.healthy == Some(false) => (
                    false,
                    ReadyReason::GatewayUnhealthy,
                    input.health.message.clone(),
                ),
                Some(trouble) => (false, ReadyReason::GatewayUnhealthy, trouble),
            },
            PowerState::Stopped => (
                true,
                ReadyReason::Stopped,
                "the machine is stopped, as asked".to_owned(),
            ),
        },
        Some(m) if input.power == PowerState::Running && config_refused(m) => (
            false,
            ReadyReason::ConfigRefused,
            format!(
                "OpenClaw refused its configuration: the start command exited {CONFIG_REFUSED_EXIT} (the machine's log names what is wrong); the machine is {}",
                m.state
            ),
        ),
        Some(m) => {
            let reason = match phase {
                Phase::Starting | Phase::Creating => ReadyReason::Starting,
                Phase::Stopping => ReadyReason::Stopping,
                Phase::Stopped => ReadyReason::Stopped,
                Phase::Failed => ReadyReason::MachineFailed,
                _ => ReadyReason::Unavailable,
            };
            (false, reason, format!("the machine is {}", m.state))
        }
        None if input.app_exists => (
            false,
            ReadyReason::Provisioning,
            "the machine is being created".to_owned(),
        ),
        None => (
            false,
            ReadyReason::Creating,
            "nothing exists on Fly.io yet".to_owned(),
        ),
    }
}

/// What keeps a started machine's gateway from being usable: its health check (or its
/// readiness check) not passing, or not reported yet. `None` for a machine whose config
/// has no such checks.
pub fn gateway_trouble(machine: &Machine) -> Option<String> {
    [(HEALTH_CHECK, "health"), (READY_CHECK, "readiness")]
        .into_iter()
        .filter(|(name, _)| machine.config.checks.contains_key(*name))
        .find_map(|(name, what)| {
            let Some(check) = machine.checks.iter().find(|c| c.name == name) else {
                return Some(format!(
                    "the machine runs; its gateway's {what} check has not reported yet"
                ));
            };
            (check.status != "passing").then(|| {
                let output: String = check.output.chars().take(200).collect();
                format!(
                    "the machine runs; its gateway's {what} check is {}: {}",
                    if check.status.is_empty() {
                        "unknown"
                    } else {
                        &check.status
                    },
                    output.trim()
                )
            })
        })
}

/// Whether the machine's last exit was OpenClaw refusing its configuration, and it is
/// not running since.
fn config_refused(machine: &Machine) -> bool {
    !matches!(
        machine.state,
        MachineState::Started | MachineState::Starting
    ) && machine
        .events
        .iter()
        .filter(|e| e.kind == "exit" || e.kind == "start" || e.kind == "launch")
        .max_by_key(|e| e.timestamp)
        .and_then(|e| e.exit_code())
        == Some(CONFIG_REFUSED_EXIT)
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
                (true, Outcome::Problem(Problem { message, .. }) | Outcome::Error(message)) => {
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
    let synced_message = match input.outcome {
        Outcome::Synced => "Fly.io matches the spec".to_owned(),
        Outcome::Paused => {
            "paused by the fasterclaw.io/paused annotation: nothing is written to Fly.io".to_owned()
        }
        Outcome::Problem(Problem { message, .. }) | Outcome::Error(message) => message.clone(),
    };
    let synced = *input.outcome == Outcome::Synced;
    let conditions = vec![
        condition(
            previous,
            ConditionType::Ready,
            is_ready,
            ready_reason.as_str(),
            ready_message,
            input.generation,
            input.now,
        ),
        condition(
            previous,
            ConditionType::Synced,
            synced,
            input.outcome.reason().as_str(),
            synced_message.clone(),
            input.generation,
            input.now,
        ),
        healthy_condition(input),
    ];
    let machine = input.machine.filter(|m| m.state != MachineState::Destroyed);
    let done = [
        input.app_exists,
        input.secrets_current(),
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
        fly_app_name: input.app().map(str::to_owned),
        fly_machine_id: machine.map(|m| m.id.clone()),
        ip_address: machine
            .map(|m| m.private_ip.clone())
            .filter(|ip| !ip.is_empty()),
        region: machine
            .map(|m| m.region.clone())
            .filter(|r| !r.is_empty())
            .or_else(|| input.storage.volume.as_ref().map(|v| v.region.clone())),
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
            .retry_handled()
            .map(str::to_owned)
            .or_else(|| previous.last_handled_retry_at.clone()),
        secrets_digest: input
            .written_secrets
            .map(|(digest, _)| digest.to_owned())
            .or_else(|| previous.secrets_digest.clone()),
        secrets_version: input
            .written_secrets
            .map(|(_, version)| version)
            .or(previous.secrets_version),
        gateway_token_key: input
            .written_secrets
            .and(input.gateway_token_key)
            .map(str::to_owned)
            .or_else(|| previous.gateway_token_key.clone()),
        pairing: input.pairing.cloned().or_else(|| previous.pairing.clone()),
        volume: input.storage.volume.clone(),
        snapshots: input.storage.snapshots.clone(),
        snapshots_listed_at: input.storage.snapshots_listed_at.clone(),
        retained_volumes: input.storage.retained.clone(),
        restore: input.storage.restore.clone(),
        last_exit: input.exits.last_exit.clone(),
        restarts: input.exits.restarts,
        recent_exits: input.exits.recent.clone(),
        last_heal: input.heal.cloned().or_else(|| previous.last_heal.clone()),
        image: input
            .machine
            .map(|m| m.config.image.as_str())
            .filter(|image| !image.is_empty())
            .map(str::to_owned)
            .or_else(|| previous.image.clone()),
        upgrade: input.upgrade.cloned().or_else(|| previous.upgrade.clone()),
    }
}

/// The `Healthy` condition: the verdict, its transition time moving only when its
/// status does. A paused Instance keeps the one it had.
fn healthy_condition(input: &ReportInput<'_>) -> Condition {
    let previous = input.previous.condition(ConditionType::Healthy);
    if *input.outcome == Outcome::Paused
        && let Some(kept) = previous
    {
        return kept.clone();
    }
    let verdict = input.health;
    let status = verdict.status();
    Condition {
        type_: ConditionType::Healthy.as_str().to_owned(),
        status: status.to_owned(),
        reason: verdict.reason.as_str().to_owned(),
        message: verdict.message.clone(),
        observed_generation: input.generation,
        last_transition_time: previous
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| time(input.now)),
    }
}

/// The `Healthy` reason a status carries, `NotRunning` when it carries none.
pub fn health_reason(status: &InstanceStatus) -> HealthReason {
    status
        .condition(ConditionType::Healthy)
        .and_then(|c| HealthReason::parse(&c.reason))
        .unwrap_or(HealthReason::NotRunning)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::crd::SyncedReason;

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

    static NO_STORAGE: std::sync::LazyLock<StorageRecord> =
        std::sync::LazyLock::new(StorageRecord::default);
    static NO_EXITS: std::sync::LazyLock<ExitBook> = std::sync::LazyLock::new(ExitBook::default);
    static NOT_RUNNING: std::sync::LazyLock<Verdict> = std::sync::LazyLock::new(|| Verdict {
        healthy: None,
        reason: HealthReason::NotRunning,
        message: String::new(),
    });

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
            app: "fasterclaw-abc",
            app_exists: true,
            machine,
            power: PowerState::Running,
            wanted_secrets: Some("d1"),
            written_secrets: Some(("d1", 3)),
            gateway_token_key: Some("0a0b0c0d"),
            pairing: None,
            storage: &NO_STORAGE,
            outcome,
            reconcile_requested: None,
            retry_requested: None,
            restarted: false,
            health: &NOT_RUNNING,
            exits: &NO_EXITS,
            heal: None,
            upgrade: None,
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
    fn running_means_the_gateway_passes_its_check_and_a_refused_config_is_named() {
        let checked = |state: &str, check: Option<&str>| {
            let mut m = machine(state);
            m.config.checks = crate::runtime::machine::checks();
            m.checks = check
                .into_iter()
                .flat_map(|status| {
                    [HEALTH_CHECK, READY_CHECK].map(|name| crate::fly::CheckStatus {
                        name: name.to_owned(),
                        status: status.to_owned(),
                        output: "connection refused".to_owned(),
                        updated_at: String::new(),
                    })
                })
                .collect();
            m
        };
        let report = |m: &Machine| {
            let status = status(&input(
                &InstanceStatus::default(),
                Some(m),
                &Outcome::Synced,
                at(0),
            ));
            let ready = status.condition(ConditionType::Ready).unwrap().clone();
            (status.phase, ready.status, ready.reason, ready.message)
        };
        let (phase, ready, reason, _) = report(&checked("started", Some("passing")));
        assert_eq!(
            (phase, ready.as_str(), reason.as_str()),
            (Some(Phase::Running), "True", "Running")
        );
        for check in [None, Some("warning"), Some("critical")] {
            let (phase, ready, reason, message) = report(&checked("started", check));
            assert_eq!(
                (phase, ready.as_str(), reason.as_str()),
                (Some(Phase::Starting), "False", "GatewayUnhealthy"),
                "{check:?}"
            );
            assert!(message.contains("health check"), "{message}");
        }
        let mut refused = checked("stopped", Some("critical"));
        refused.events = vec![
            crate::fly::MachineEvent {
                kind: "start".to_owned(),
                timestamp: 1,
                ..Default::default()
            },
            crate::fly::MachineEvent {
                kind: "exit".to_owned(),
                timestamp: 2,
                request: serde_json::json!({ "exit_event": { "exit_code": 78 } }),
                ..Default::default()
            },
        ];
        let (_, ready, reason, message) = report(&refused);
        assert_eq!(
            (ready.as_str(), reason.as_str()),
            ("False", "ConfigRefused")
        );
        assert!(message.contains("exited 78"), "{message}");
        // An exit with another code is not a refused config.
        refused.events[1].request = serde_json::json!({ "exit_event": { "exit_code": 1 } });
        assert_ne!(report(&refused).2, "ConfigRefused");
    }

    #[test]
    fn the_owners_problem_is_failed_while_synced_and_health_is_written() {
        let mut m = machine("started");
        m.config.checks = crate::runtime::machine::checks();
        let verdict = Verdict {
            healthy: Some(false),
            reason: HealthReason::TelegramTokenRejected,
            message: "Telegram refuses the bot's token".to_owned(),
        };
        let exits = ExitBook {
            last_exit: Some(crate::crd::ExitRecord {
                code: 137,
                signal: Some(9),
                oom_killed: true,
                at: "2027-01-15T08:00:00.000Z".to_owned(),
            }),
            restarts: 3,
            recent: vec!["2027-01-15T08:00:00.000Z".to_owned()],
            new: 1,
        };
        let previous = InstanceStatus::default();
        let written = status(&ReportInput {
            health: &verdict,
            exits: &exits,
            ..input(&previous, Some(&m), &Outcome::Synced, at(0))
        });
        assert_eq!(written.phase, Some(Phase::Failed));
        let healthy = written.condition(ConditionType::Healthy).unwrap();
        assert_eq!(
            (healthy.status.as_str(), healthy.reason.as_str()),
            ("False", "TelegramTokenRejected")
        );
        assert_eq!(
            written.condition(ConditionType::Synced).unwrap().status,
            "True"
        );
        assert_eq!(written.restarts, 3);
        assert_eq!(written.last_exit, exits.last_exit);
        assert_eq!(health_reason(&written), HealthReason::TelegramTokenRejected);
        // The transition time stays while the status does.
        let later = status(&ReportInput {
            health: &verdict,
            exits: &exits,
            ..input(&written, Some(&m), &Outcome::Synced, at(60))
        });
        assert_eq!(
            later
                .condition(ConditionType::Healthy)
                .unwrap()
                .last_transition_time,
            healthy.last_transition_time
        );
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
        let outcome = Outcome::Problem(Problem::new(
            SyncedReason::PlatformKeyMissing,
            "ANTHROPIC_API_KEY is not set on the controller",
        ));
        let empty = InstanceStatus::default();
        let mut fresh = input(&empty, None, &outcome, at(0));
        fresh.app_exists = false;
        fresh.wanted_secrets = None;
        fresh.written_secrets = None;
        let status = status(&fresh);
        assert_eq!(status.phase, Some(Phase::Creating));
        assert_eq!(status.fly_app_name, None, "nothing made, nothing named");
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

        let failed = Outcome::Problem(Problem::new(SyncedReason::Timeout, "stuck"));
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

    #[test]
    fn what_the_status_records_of_secrets_apps_and_retries() {
        let applied = InstanceStatus {
            secrets_digest: Some("d0".to_owned()),
            ..InstanceStatus::default()
        };
        let empty = InstanceStatus::default();
        let synced = Outcome::Synced;
        // (previous digest, wanted, written) → current
        for (previous, wanted, written, current) in [
            (&empty, Some("d1"), Some(("d1", 3)), true),
            (&empty, Some("d1"), Some(("d0", 3)), false),
            (&applied, Some("d0"), None, true),
            (&applied, Some("d1"), None, false),
            (&applied, None, None, true),
            (&empty, None, None, false),
        ] {
            let mut input = input(previous, None, &synced, at(0));
            input.wanted_secrets = wanted;
            input.written_secrets = written;
            assert_eq!(input.secrets_current(), current, "{wanted:?} {written:?}");
        }
        // The app is named once it exists, was recorded, or is being made.
        let problem = Outcome::Problem(Problem::new(SyncedReason::TokenUnavailable, "x"));
        let mut unmade = input(&empty, None, &problem, at(0));
        unmade.app_exists = false;
        assert_eq!(unmade.app(), None);
        unmade.outcome = &synced;
        assert_eq!(unmade.app(), Some("fasterclaw-abc"));
        // A retry is handled unless an error that may pass interrupted it.
        let error = Outcome::Error("Fly.io: 503".to_owned());
        let mut retried = input(&empty, None, &error, at(0));
        retried.retry_requested = Some("t1");
        assert_eq!(retried.retry_handled(), None);
        retried.outcome = &problem;
        assert_eq!(retried.retry_handled(), Some("t1"));
    }
}
