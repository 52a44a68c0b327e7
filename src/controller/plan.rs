//! The plan: from what was observed on Fly.io and what the Instance asks for, the steps
//! that bring one to the other, in order. A pure function, tested as a table.

use super::desired;
use super::health::Heal;
use crate::crd::PowerState;
use crate::fly::{Machine, MachineConfig, MachineState, WaitState};
use crate::runtime::machine::mounted_volume;

/// What is known of the Instance's app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppState {
    /// It exists and is ours.
    Ours,
    /// It does not exist (or was never made).
    Missing,
}

/// What the plan starts from.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// The app.
    pub app: AppState,
    /// The Instance's machine, when one exists.
    pub machine: Option<&'a Machine>,
    /// The digest of the secrets last written to the app (`status.secretsDigest`).
    pub applied_secrets: Option<&'a str>,
    /// A retry asks to start over: a machine not where the spec wants it is replaced
    /// (updated onto its config) rather than waited on.
    pub start_over: bool,
    /// The volume the machine must mount, once one exists: a machine on another volume
    /// (or none) is replaced by one on it.
    pub volume: Option<&'a str>,
    /// A heal the gateway's health calls for: a restart, or a new machine on its volume.
    pub heal: Option<Heal>,
}

/// What the plan leads to.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The machine configuration.
    pub config: &'a MachineConfig,
    /// The digest of the secrets.
    pub secrets: &'a str,
    /// Running or stopped.
    pub power: PowerState,
}

/// One step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the app (a name taken by our own app counts as done).
    CreateApp,
    /// Write the app's secrets, and remove stale ones.
    WriteSecrets,
    /// Tend the volume: find or create it, restore, extend, snapshot before an image
    /// change, delete kept volumes whose time is up. A changed volume plans again.
    Storage,
    /// Keep the state a machine without a volume holds on its root file system, to
    /// carry it onto the volume of the machine that replaces it.
    ExportState,
    /// Destroy the machine (stopped first), to make it again on another volume.
    DestroyMachine,
    /// Create the machine; `launch` boots it.
    CreateMachine {
        /// Boot it.
        launch: bool,
    },
    /// Replace the machine's configuration (and pick up new secrets); `launch` boots
    /// it, else a stopped machine stays stopped.
    UpdateMachine {
        /// Boot it.
        launch: bool,
    },
    /// Start the machine.
    Start,
    /// Stop the machine.
    Stop,
    /// Wait for the machine's current version to reach a state.
    Wait(WaitState),
}

/// The steps, in order, that bring Fly.io to the Instance's spec. Empty when it is
/// there already.
pub fn plan(target: Target<'_>, observed: Observation<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    let running = target.power == PowerState::Running;
    let machine = observed.machine.filter(|m| !m.state.is_gone());
    let secrets_changed = observed.applied_secrets != Some(target.secrets);
    if observed.app == AppState::Missing {
        steps.push(Step::CreateApp);
    }
    if secrets_changed || observed.app == AppState::Missing {
        steps.push(Step::WriteSecrets);
    }
    steps.push(Step::Storage);
    let Some(machine) = machine else {
        steps.push(Step::CreateMachine { launch: running });
        if running {
            steps.push(Step::Wait(WaitState::Started));
        }
        return steps;
    };
    let state = &machine.state;
    if let Some(volume) = observed.volume
        && mounted_volume(&machine.config) != Some(volume)
    {
        // A machine is bound to its volume's host: moving it to another volume is
        // making it again there. One that kept its state on its root file system (no
        // volume) hands it over first.
        // A machine whose host Fly.io cannot reach is destroyed as it is (by force): it
        // can neither hand anything over nor stop.
        let reachable = machine.host_status != "unreachable";
        if reachable && mounted_volume(&machine.config).is_none() && *state == MachineState::Started
        {
            steps.push(Step::ExportState);
        }
        if reachable && state.is_up() {
            steps.push(Step::Stop);
        }
        if reachable && (state.is_up() || state.is_going_down()) {
            steps.push(Step::Wait(WaitState::Stopped));
        }
        steps.push(Step::DestroyMachine);
        steps.push(Step::CreateMachine { launch: running });
        if running {
            steps.push(Step::Wait(WaitState::Started));
        }
        return steps;
    }
    if running && let Some(heal @ (Heal::Restart | Heal::Replace)) = observed.heal {
        // A gateway that keeps failing its health check: restarted, or made again on
        // its volume (with the config it should have).
        if state.is_up() {
            steps.push(Step::Stop);
        }
        if state.is_up() || state.is_going_down() {
            steps.push(Step::Wait(WaitState::Stopped));
        }
        if heal == Heal::Replace {
            steps.push(Step::DestroyMachine);
            steps.push(Step::CreateMachine { launch: true });
        } else if desired::config_matches(&machine.config, target.config) && !secrets_changed {
            steps.push(Step::Start);
        } else {
            steps.push(Step::UpdateMachine { launch: true });
        }
        steps.push(Step::Wait(WaitState::Started));
        return steps;
    }
    let stale = !desired::config_matches(&machine.config, target.config) || secrets_changed;
    if state.is_failed() || (observed.start_over && !state.is_settled_as(target.power)) {
        // A failed machine, or on a retry a stuck one, is brought to rest and replaced
        // with its config.
        if state.is_up() {
            steps.push(Step::Stop);
        }
        if state.is_up() || state.is_going_down() {
            steps.push(Step::Wait(WaitState::Stopped));
        }
        steps.push(Step::UpdateMachine { launch: running });
        if running {
            steps.push(Step::Wait(WaitState::Started));
        }
        return steps;
    }
    match (running, state.is_up(), stale) {
        (true, _, true) => {
            steps.push(Step::UpdateMachine { launch: true });
            steps.push(Step::Wait(WaitState::Started));
        }
        (false, true, true) => {
            // Stop first: an update of a running machine restarts it.
            steps.push(Step::Stop);
            steps.push(Step::Wait(WaitState::Stopped));
            steps.push(Step::UpdateMachine { launch: false });
        }
        (false, false, true) => steps.push(Step::UpdateMachine { launch: false }),
        (true, true, false) => {
            if *state != MachineState::Started {
                steps.push(Step::Wait(WaitState::Started));
            }
        }
        (true, false, false) => {
            if state.is_going_down() {
                steps.push(Step::Wait(WaitState::Stopped));
            }
            steps.push(Step::Start);
            steps.push(Step::Wait(WaitState::Started));
        }
        (false, true, false) => {
            steps.push(Step::Stop);
            steps.push(Step::Wait(WaitState::Stopped));
        }
        (false, false, false) => {
            if state.is_going_down() {
                steps.push(Step::Wait(WaitState::Stopped));
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config(image: &str) -> MachineConfig {
        MachineConfig {
            image: image.to_owned(),
            env: BTreeMap::from([("AI_MODEL".to_owned(), "claude-sonnet-5".to_owned())]),
            ..MachineConfig::default()
        }
    }

    fn machine(state: &str, image: &str) -> Machine {
        Machine {
            id: "m1".to_owned(),
            state: MachineState::parse(state),
            config: config(image),
            ..Machine::default()
        }
    }

    /// (power, app, machine state and image, applied secrets) → steps.
    type Row = (
        PowerState,
        AppState,
        Option<(&'static str, &'static str)>,
        Option<&'static str>,
        Vec<Step>,
    );

    use PowerState::{Running, Stopped};
    use Step::*;
    use WaitState::{Started, Stopped as Down};

    /// The steps without the storage step, checked to come once, right after the app's.
    fn without_storage(steps: Vec<Step>) -> Vec<Step> {
        let at = steps.iter().position(|s| *s == Storage);
        let before = at.map(|i| &steps[..i]).unwrap_or_default();
        assert!(
            at.is_some() && before.iter().all(|s| matches!(s, CreateApp | WriteSecrets)),
            "{steps:?}"
        );
        assert_eq!(steps.iter().filter(|s| **s == Storage).count(), 1);
        steps.into_iter().filter(|s| *s != Storage).collect()
    }

    #[test]
    fn a_machine_on_another_volume_is_made_again_on_the_instances() {
        let want = config("img:1");
        let on = |state: &str, mounted: Option<&str>, power: PowerState| {
            let mut m = machine(state, "img:1");
            m.config.mounts = mounted
                .map(crate::runtime::machine::mount)
                .into_iter()
                .collect();
            let mut target = want.clone();
            target.mounts = vec![crate::runtime::machine::mount("vol_new")];
            without_storage(plan(
                Target {
                    config: &target,
                    secrets: "s1",
                    power,
                },
                Observation {
                    app: AppState::Ours,
                    machine: Some(&m),
                    applied_secrets: Some("s1"),
                    start_over: false,
                    volume: Some("vol_new"),
                    heal: None,
                },
            ))
        };
        assert_eq!(
            on("started", Some("vol_old"), Running),
            vec![
                Stop,
                Wait(Down),
                DestroyMachine,
                CreateMachine { launch: true },
                Wait(Started)
            ]
        );
        assert_eq!(
            on("stopped", None, Stopped),
            vec![DestroyMachine, CreateMachine { launch: false }]
        );
        assert_eq!(
            on("started", None, Running),
            vec![
                ExportState,
                Stop,
                Wait(Down),
                DestroyMachine,
                CreateMachine { launch: true },
                Wait(Started)
            ]
        );
        assert_eq!(on("started", Some("vol_new"), Running), vec![]);
    }

    #[test]
    fn heals_restart_or_replace_a_failing_machine_and_a_lost_host_is_not_stopped() {
        let config = config("img:1");
        let observed = |m: &Machine, heal: Option<Heal>, volume: Option<&'static str>| {
            without_storage(plan(
                Target {
                    config: &config,
                    secrets: "d1",
                    power: PowerState::Running,
                },
                Observation {
                    app: AppState::Ours,
                    machine: Some(m),
                    applied_secrets: Some("d1"),
                    start_over: false,
                    volume,
                    heal,
                },
            ))
        };
        let started = Machine {
            config: config.clone(),
            ..machine("started", "img:1")
        };
        assert_eq!(
            observed(&started, Some(Heal::Restart), None),
            [
                Stop,
                Wait(WaitState::Stopped),
                Start,
                Wait(WaitState::Started)
            ]
        );
        assert_eq!(
            observed(&started, Some(Heal::Replace), None),
            [
                Stop,
                Wait(WaitState::Stopped),
                DestroyMachine,
                CreateMachine { launch: true },
                Wait(WaitState::Started)
            ]
        );
        assert_eq!(observed(&started, None, None), []);
        let mut lost = started.clone();
        lost.host_status = "unreachable".to_owned();
        lost.config.mounts = vec![crate::runtime::machine::mount("vol_old")];
        assert_eq!(
            observed(&lost, None, Some("vol_fork")),
            [
                DestroyMachine,
                CreateMachine { launch: true },
                Wait(WaitState::Started)
            ]
        );
    }

    #[test]
    fn the_plan_table() {
        let want = config("img:1");
        // (power, app, machine state and image, applied secrets) → steps
        let table: Vec<Row> = vec![
            // Nothing exists yet.
            (
                Running,
                AppState::Missing,
                None,
                None,
                vec![
                    CreateApp,
                    WriteSecrets,
                    CreateMachine { launch: true },
                    Wait(Started),
                ],
            ),
            (
                Stopped,
                AppState::Missing,
                None,
                None,
                vec![CreateApp, WriteSecrets, CreateMachine { launch: false }],
            ),
            // The app exists with its secrets; the machine was lost or destroyed.
            (
                Running,
                AppState::Ours,
                None,
                Some("s1"),
                vec![CreateMachine { launch: true }, Wait(Started)],
            ),
            (
                Running,
                AppState::Ours,
                Some(("destroyed", "img:1")),
                Some("s1"),
                vec![CreateMachine { launch: true }, Wait(Started)],
            ),
            // Settled as asked: nothing to do.
            (
                Running,
                AppState::Ours,
                Some(("started", "img:1")),
                Some("s1"),
                vec![],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("stopped", "img:1")),
                Some("s1"),
                vec![],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("suspended", "img:1")),
                Some("s1"),
                vec![],
            ),
            // On the way: wait.
            (
                Running,
                AppState::Ours,
                Some(("starting", "img:1")),
                Some("s1"),
                vec![Wait(Started)],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("stopping", "img:1")),
                Some("s1"),
                vec![Wait(Down)],
            ),
            // Power changes.
            (
                Running,
                AppState::Ours,
                Some(("stopped", "img:1")),
                Some("s1"),
                vec![Start, Wait(Started)],
            ),
            (
                Running,
                AppState::Ours,
                Some(("created", "img:1")),
                Some("s1"),
                vec![Start, Wait(Started)],
            ),
            (
                Running,
                AppState::Ours,
                Some(("stopping", "img:1")),
                Some("s1"),
                vec![Wait(Down), Start, Wait(Started)],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("started", "img:1")),
                Some("s1"),
                vec![Stop, Wait(Down)],
            ),
            // Spec changes: running machines restart into the new config; stopped ones
            // are updated without being started.
            (
                Running,
                AppState::Ours,
                Some(("started", "img:0")),
                Some("s1"),
                vec![UpdateMachine { launch: true }, Wait(Started)],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("stopped", "img:0")),
                Some("s1"),
                vec![UpdateMachine { launch: false }],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("started", "img:0")),
                Some("s1"),
                vec![Stop, Wait(Down), UpdateMachine { launch: false }],
            ),
            // New secrets: written, then picked up by an update.
            (
                Running,
                AppState::Ours,
                Some(("started", "img:1")),
                Some("old"),
                vec![WriteSecrets, UpdateMachine { launch: true }, Wait(Started)],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("stopped", "img:1")),
                None,
                vec![WriteSecrets, UpdateMachine { launch: false }],
            ),
            // A failed machine is replaced.
            (
                Running,
                AppState::Ours,
                Some(("failed", "img:1")),
                Some("s1"),
                vec![UpdateMachine { launch: true }, Wait(Started)],
            ),
            (
                Stopped,
                AppState::Ours,
                Some(("failed", "img:1")),
                Some("s1"),
                vec![UpdateMachine { launch: false }],
            ),
        ];
        for (power, app, observed, applied, expected) in table {
            let machine = observed.map(|(state, image)| machine(state, image));
            let steps = plan(
                Target {
                    config: &want,
                    secrets: "s1",
                    power,
                },
                Observation {
                    app,
                    machine: machine.as_ref(),
                    applied_secrets: applied,
                    start_over: false,
                    volume: None,
                    heal: None,
                },
            );
            let steps = without_storage(steps);
            assert_eq!(
                steps, expected,
                "{power:?} {app:?} {observed:?} {applied:?}"
            );
        }
    }

    #[test]
    fn a_retry_replaces_a_stuck_machine_and_leaves_a_settled_one() {
        let want = config("img:1");
        let retry = |state: &str| {
            let m = machine(state, "img:1");
            plan(
                Target {
                    config: &want,
                    secrets: "s1",
                    power: Running,
                },
                Observation {
                    app: AppState::Ours,
                    machine: Some(&m),
                    applied_secrets: Some("s1"),
                    start_over: true,
                    volume: None,
                    heal: None,
                },
            )
        };
        let retry = |state: &str| without_storage(retry(state));
        assert_eq!(
            retry("starting"),
            vec![
                Stop,
                Wait(Down),
                UpdateMachine { launch: true },
                Wait(Started)
            ]
        );
        assert_eq!(
            retry("stopped"),
            vec![UpdateMachine { launch: true }, Wait(Started)]
        );
        assert_eq!(retry("started"), vec![]);
    }
}
