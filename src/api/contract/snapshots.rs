//! The assistant's storage as its owner sees it: the volume holding its state, the
//! snapshots it can go back to, the volumes kept after a restore or a move, and what
//! became of a restore.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The snapshots of an assistant's volume and what a restore can go back to, as the
/// controller last recorded them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct SnapshotList {
    /// The volume's latest snapshots, newest first; restore one with
    /// `POST /instances/{id}/snapshots/{snapshot}/restore`.
    pub snapshots: Vec<SnapshotView>,
    /// When the controller listed them (RFC 3339), if it has. It lists them every 6
    /// hours and after each snapshot or restore; Fly.io takes one a day.
    pub listed_at: Option<String>,
    /// The volume the assistant's state lives on now, if it has one yet.
    pub volume: Option<VolumeView>,
    /// Volumes the assistant moved off, kept until `until`: restoring one undoes the
    /// restore or move that left it.
    pub retained_volumes: Vec<RetainedVolumeView>,
    /// The last restore: carried out, refused, or still waiting for the controller.
    pub last_restore: Option<RestoreView>,
}

/// A snapshot of the assistant's volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct SnapshotView {
    /// Fly.io's id of it (`vs_…`).
    pub id: String,
    /// When it was taken (RFC 3339).
    pub created_at: String,
    /// Bytes it holds.
    pub size_bytes: u64,
    /// Size of the volume it was taken of, in GB.
    pub volume_size_gb: u32,
    /// Fly.io's status of it, such as `created`.
    pub status: String,
}

/// The volume holding the assistant's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct VolumeView {
    /// Fly.io's id of it (`vol_…`).
    pub id: String,
    /// The region it is in.
    pub region: String,
    /// Its size in GB.
    pub size_gb: u32,
}

/// A volume the assistant moved off, kept for a while.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct RetainedVolumeView {
    /// Fly.io's id of it (`vol_…`): restore it to go back to it.
    pub id: String,
    /// The region it is in.
    pub region: String,
    /// Why it was left: `Restore` or `Move` (to another region, off a full host).
    pub reason: String,
    /// When it is deleted (RFC 3339).
    pub until: String,
}

/// A restore and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct RestoreView {
    /// The snapshot (`vs_…`) or kept volume (`vol_…`) restored.
    pub source: String,
    /// `Restored`, `Refused`, or `Pending` while the controller has not carried it out.
    pub result: RestoreState,
    /// The volume the assistant runs on after it (once `Restored`).
    pub volume: Option<String>,
    /// What happened, in words: why it was refused, or what is awaited.
    pub message: Option<String>,
    /// When the controller handled it (RFC 3339); `null` while `Pending`.
    pub handled_at: Option<String>,
}

/// Where a restore stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RestoreState {
    /// The assistant runs on a volume made from the source (or on the kept volume).
    Restored,
    /// The controller did not carry it out; the message says why.
    Refused,
    /// Asked; the controller has not carried it out yet. `GET /instances/{id}/snapshots`
    /// shows when it has, in `lastRestore`.
    Pending,
}

/// The answer to a restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct RestoreResponse {
    /// The restore: `Restored` (200) or `Pending` (202).
    pub restore: RestoreView,
}
