//! From a Fly machine state to an Instance phase.

use crate::crd::Phase;

/// Maps a Fly machine state to the Instance phase shown for it. It is total: every
/// state in Fly's spec and docs has a row, and any other string maps to `UNKNOWN` with a
/// warning.
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
pub fn map_fly_state(state: &str) -> Phase {
    match state {
        "created" | "creating" | "replacing" | "updating" | "replaced" => Phase::Creating,
        "starting" | "restarting" | "migrated" => Phase::Starting,
        "started" => Phase::Running,
        "stopping" | "suspending" => Phase::Stopping,
        "stopped" | "suspended" => Phase::Stopped,
        "failed" | "launch_failed" => Phase::Failed,
        "destroying" | "destroyed" => Phase::Deleted,
        other => {
            tracing::warn!(
                fly_state = other,
                "unknown Fly machine state; showing UNKNOWN"
            );
            Phase::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (state, phase) in table {
            assert_eq!(map_fly_state(state), phase, "{state}");
        }
    }

    #[test]
    fn keeps_the_original_mapping_where_it_was_right() {
        // The refactor's corrected table: stopping is STOPPING, not CREATING.
        assert_eq!(map_fly_state("stopping"), Phase::Stopping);
        assert_eq!(map_fly_state("suspended"), Phase::Stopped);
        assert_eq!(map_fly_state("replacing"), Phase::Creating);
    }

    #[test]
    fn unknown_states_are_unknown() {
        for state in ["", "STARTED", "hibernating", "paused"] {
            assert_eq!(map_fly_state(state), Phase::Unknown, "{state:?}");
        }
    }
}
