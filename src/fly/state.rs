//! A Fly machine's state, as the Machines API names it, and what it means for an
//! Instance: its phase, and whether the machine rests where the Instance wants it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crd::{Phase, PowerState};

/// The state of a Fly machine: every state in Fly's spec and docs, and any other
/// string Fly may send, kept as it came.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum MachineState {
    /// Created, not booted.
    #[default]
    Created,
    /// Being created.
    Creating,
    /// Booting.
    Starting,
    /// Running.
    Started,
    /// Restarting after an exit.
    Restarting,
    /// Shutting down.
    Stopping,
    /// Stopped.
    Stopped,
    /// Suspending to disk.
    Suspending,
    /// Suspended.
    Suspended,
    /// Taking a new configuration.
    Updating,
    /// Being replaced by a new version.
    Replacing,
    /// Replaced by a new version.
    Replaced,
    /// Moved to another host.
    Migrated,
    /// Could not start.
    Failed,
    /// Could not be launched.
    LaunchFailed,
    /// Being destroyed.
    Destroying,
    /// Gone.
    Destroyed,
    /// A state this code does not know.
    Unknown(String),
}

impl MachineState {
    /// Every known state with its wire name.
    const NAMES: [(MachineState, &'static str); 17] = [
        (MachineState::Created, "created"),
        (MachineState::Creating, "creating"),
        (MachineState::Starting, "starting"),
        (MachineState::Started, "started"),
        (MachineState::Restarting, "restarting"),
        (MachineState::Stopping, "stopping"),
        (MachineState::Stopped, "stopped"),
        (MachineState::Suspending, "suspending"),
        (MachineState::Suspended, "suspended"),
        (MachineState::Updating, "updating"),
        (MachineState::Replacing, "replacing"),
        (MachineState::Replaced, "replaced"),
        (MachineState::Migrated, "migrated"),
        (MachineState::Failed, "failed"),
        (MachineState::LaunchFailed, "launch_failed"),
        (MachineState::Destroying, "destroying"),
        (MachineState::Destroyed, "destroyed"),
    ];

    /// The state Fly names `name`.
    pub fn parse(name: &str) -> Self {
        Self::NAMES.iter().find(|(_, n)| *n == name).map_or_else(
            || MachineState::Unknown(name.to_owned()),
            |(s, _)| s.clone(),
        )
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            MachineState::Unknown(name) => name,
            known => Self::NAMES
                .iter()
                .find(|(s, _)| s == known)
                .map_or("", |(_, n)| n),
        }
    }

    /// The Instance phase shown for it. Total: every state in Fly's spec and docs has a
    /// row, and an unknown one is `UNKNOWN` with a warning.
    ///
    /// | Fly state | phase | why |
    /// |---|---|---|
    /// | `created`, `creating` | CREATING | not booted yet |
    /// | `replacing`, `updating`, `replaced` | CREATING | a new version is taking over (the original mapped `replacing` so) |
    /// | `starting`, `restarting`, `migrated` | STARTING | booting, or coming up on a new host |
    /// | `started` | RUNNING | |
    /// | `stopping`, `suspending` | STOPPING | |
    /// | `stopped`, `suspended` | STOPPED | |
    /// | `failed`, `launch_failed` | FAILED | could not start |
    /// | `destroying`, `destroyed` | DELETED | the machine is gone or going |
    pub fn phase(&self) -> Phase {
        use MachineState::*;
        match self {
            Created | Creating | Replacing | Updating | Replaced => Phase::Creating,
            Starting | Restarting | Migrated => Phase::Starting,
            Started => Phase::Running,
            Stopping | Suspending => Phase::Stopping,
            Stopped | Suspended => Phase::Stopped,
            Failed | LaunchFailed => Phase::Failed,
            Destroying | Destroyed => Phase::Deleted,
            Unknown(name) => {
                tracing::warn!(
                    fly_state = name.as_str(),
                    "unknown Fly machine state; showing UNKNOWN"
                );
                Phase::Unknown
            }
        }
    }

    /// Whether the machine rests in the power state asked for: `started` for running,
    /// `stopped` or `suspended` for stopped (or `created`: made without being started).
    pub fn is_settled_as(&self, power: PowerState) -> bool {
        match power {
            PowerState::Running => *self == MachineState::Started,
            PowerState::Stopped => matches!(
                self,
                MachineState::Stopped | MachineState::Suspended | MachineState::Created
            ),
        }
    }

    /// Gone for good, or going.
    pub fn is_gone(&self) -> bool {
        matches!(self, MachineState::Destroying | MachineState::Destroyed)
    }

    /// Could not start.
    pub fn is_failed(&self) -> bool {
        matches!(self, MachineState::Failed | MachineState::LaunchFailed)
    }

    /// Running, or on the way to it.
    pub fn is_up(&self) -> bool {
        use MachineState::*;
        matches!(
            self,
            Started | Starting | Restarting | Replacing | Updating | Replaced | Migrated
        )
    }

    /// On the way down.
    pub fn is_going_down(&self) -> bool {
        matches!(self, MachineState::Stopping | MachineState::Suspending)
    }
}

impl fmt::Display for MachineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MachineState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MachineState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(state: &str) -> Phase {
        MachineState::parse(state).phase()
    }

    #[test]
    fn maps_every_state_fly_documents() {
        let table = [
            ("created", Phase::Creating),
            ("creating", Phase::Creating),
            ("starting", Phase::Starting),
            ("started", Phase::Running),
            ("stopping", Phase::Stopping),
            ("stopped", Phase::Stopped),
            ("suspending", Phase::Stopping),
            ("suspended", Phase::Stopped),
            ("restarting", Phase::Starting),
            ("updating", Phase::Creating),
            ("replacing", Phase::Creating),
            ("replaced", Phase::Creating),
            ("destroying", Phase::Deleted),
            ("destroyed", Phase::Deleted),
            ("failed", Phase::Failed),
            ("launch_failed", Phase::Failed),
            ("migrated", Phase::Starting),
        ];
        for (state, expected) in table {
            assert_eq!(phase(state), expected, "{state}");
            assert_eq!(MachineState::parse(state).as_str(), state, "round trip");
        }
    }

    #[test]
    fn keeps_the_original_mapping_where_it_was_right() {
        // The refactor's corrected table: stopping is STOPPING, not CREATING.
        assert_eq!(phase("stopping"), Phase::Stopping);
        assert_eq!(phase("suspended"), Phase::Stopped);
        assert_eq!(phase("replacing"), Phase::Creating);
    }

    #[test]
    fn unknown_states_are_unknown_and_kept() {
        for state in ["", "STARTED", "hibernating", "paused"] {
            assert_eq!(phase(state), Phase::Unknown, "{state:?}");
            assert_eq!(MachineState::parse(state).as_str(), state);
        }
        let json: MachineState = serde_json::from_str("\"hibernating\"").unwrap();
        assert_eq!(json, MachineState::Unknown("hibernating".to_owned()));
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"hibernating\"");
    }

    #[test]
    fn settled_as_asked() {
        use PowerState::{Running, Stopped};
        for (state, running, stopped) in [
            ("started", true, false),
            ("starting", false, false),
            ("stopped", false, true),
            ("suspended", false, true),
            ("stopping", false, false),
            ("failed", false, false),
        ] {
            let state = MachineState::parse(state);
            assert_eq!(state.is_settled_as(Running), running, "{state}");
            assert_eq!(state.is_settled_as(Stopped), stopped, "{state}");
        }
    }
}
