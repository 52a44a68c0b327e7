//! The status of an Instance's storage: the volume holding OpenClaw's state directory,
//! its latest snapshots, the volumes kept after a restore or a move, and the last
//! restore.

use serde::{Deserialize, Serialize};

/// The volume the assistant's state lives on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStatus {
    /// Fly.io volume id (`vol_…`).
    #[schemars(length(max = 64))]
    pub id: String,
    /// The region it is in.
    #[schemars(length(max = 16))]
    pub region: String,
    /// Its size in GB.
    pub size_gb: u32,
    /// The image a snapshot was last taken for, before the machine moved to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub snapshot_before_image: Option<String>,
}

/// A snapshot of the volume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    /// Fly.io snapshot id (`vs_…`): what `fasterclaw.io/restore` takes.
    #[schemars(length(max = 64))]
    pub id: String,
    /// When it was taken (RFC 3339).
    #[schemars(length(max = 64))]
    pub created_at: String,
    /// Bytes it holds.
    pub size_bytes: u64,
    /// Size of the volume it was taken of, in GB.
    pub volume_size_gb: u32,
    /// Fly.io's status of it, such as `created`.
    #[schemars(length(max = 32))]
    pub status: String,
}

/// A volume kept after the assistant moved off it, so the move can be undone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetainedVolume {
    /// Fly.io volume id (`vol_…`).
    #[schemars(length(max = 64))]
    pub id: String,
    /// The region it is in.
    #[schemars(length(max = 16))]
    pub region: String,
    /// Why it was left: `Restore` or `Move`.
    #[schemars(length(max = 32))]
    pub reason: String,
    /// When it is deleted (RFC 3339).
    #[schemars(length(max = 64))]
    pub until: String,
}

/// What became of the last `fasterclaw.io/restore`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// The snapshot or volume the annotation named.
    #[schemars(length(max = 64))]
    pub source: String,
    /// `Restored`, or `Refused` when the source is not one of this Instance's.
    pub result: RestoreResult,
    /// The volume the assistant runs on after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub volume: Option<String>,
    /// What happened, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    /// When it was handled (RFC 3339).
    #[schemars(length(max = 64))]
    pub handled_at: String,
}

/// The result of a restore.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum RestoreResult {
    /// The assistant runs on a volume made from the source.
    #[default]
    Restored,
    /// The source is not a snapshot or kept volume of this Instance.
    Refused,
}
