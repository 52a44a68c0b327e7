//! What an Instance's status records of its gateway's health: the last exit nobody
//! asked for, how many there were, the recent ones a crash loop is counted from, and the
//! controller's last heal.

use serde::{Deserialize, Serialize};

/// An exit of the gateway that nobody asked for: a crash, a kill, an OOM.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// Its exit code (128 + the signal's number when a signal ended it).
    pub code: i64,
    /// The signal that ended it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    /// The kernel's OOM killer ended it: the machine ran out of memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// When (RFC 3339).
    #[schemars(length(max = 64))]
    pub at: String,
}

/// A heal the controller carried out on its own.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealRecord {
    /// What it did.
    pub kind: HealKind,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    /// When (RFC 3339).
    #[schemars(length(max = 64))]
    pub at: String,
}

/// The heals, from the lightest.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum HealKind {
    /// Started a machine that stopped while the Instance wants it running.
    #[default]
    Started,
    /// Restarted a machine whose gateway kept failing its health check.
    Restarted,
    /// Made the machine again on its volume, its gateway still failing after a restart.
    Replaced,
    /// Moved the assistant with its data off a host that failed.
    Moved,
    /// Stopped a machine whose gateway crash-loops (the Instance is FAILED `CrashLoop`).
    Stopped,
}

impl HealKind {
    /// The name metrics and Events use.
    pub fn as_str(self) -> &'static str {
        match self {
            HealKind::Started => "started",
            HealKind::Restarted => "restarted",
            HealKind::Replaced => "replaced",
            HealKind::Moved => "moved",
            HealKind::Stopped => "stopped",
        }
    }
}
