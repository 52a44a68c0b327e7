//! Fly Volumes: the model behind `/v1/apps/{app}/volumes…` (see `volume_ops` for the
//! rules that change it and `volume_api` for the routes), with the answers Fly gives.
//!
//! # What the real API does, and where that is known from
//!
//! - **Shapes.** The `Volume`, `VolumeSnapshot`, `CreateVolumeRequest`,
//!   `ExtendVolumeResponse` schemas of the vendored spec (`sim/specs/fly-machines-openapi.json`);
//!   the examples of <https://fly.io/docs/machines/api/volumes-resource/>
//!   (superfly/docs `machines/api/volumes-resource.html.markerb`): ids `vol_` + 16
//!   lowercase alphanumerics, 4-hex zones, `block_size` 4096, `fstype` ext4,
//!   `snapshot_retention` 5 and `auto_backup_enabled`/`encrypted` true by default,
//!   `size_gb` 3 when not given, snapshot ids `vs_…` listed oldest first, an extend
//!   answering `{volume, needs_restart: false}`, a create from a snapshot answering
//!   `restoring` and becoming `created` "after a moment". Real answers carry
//!   `"attached_machine_id": null`; the spec types these fields as strings, so an
//!   unattached volume here leaves them out (the same to any client reading an
//!   optional string).
//! - **States.** superfly/docs `volumes/volume-states.html.markerb`: create
//!   `creating → created`; restore `creating → restoring → created`; fork `creating →
//!   enabling_remote_export → hydrating → created`, and a hydrating volume "can be
//!   mounted" (also `blueprints/volume-forking.html.md`: forks are usable at once);
//!   destroy `scheduling_destroy → pending_destroy` (soft-deleted for 24 hours). The
//!   simulator answers a create `created`, a restore `restoring`, a fork `hydrating`, a
//!   delete `scheduling_destroy`, each reaching its next state after the configured
//!   transition time; the short-lived `creating` and `enabling_remote_export` are
//!   skipped.
//! - **Listing keeps soft-deleted volumes.** superfly/fly-go `flaps/flaps_volumes.go`
//!   (`destroyedVolumeStates`, commit 425316256 of superfly/flyctl: "the volume states
//!   that we receive correspond directly to the volume states in flyd … Filter out
//!   volumes in these states"): the API lists `scheduling_destroy` and
//!   `pending_destroy` volumes, and clients filter them. So does this list (a volume is
//!   never hard-`destroyed` here). Their snapshots stay listable
//!   (superfly/flyctl `test/preflight/fly_volume_test.go`, `cf1ef68ca`).
//! - **Names** are lowercase letters, digits and underscores, at most 30 characters
//!   (CurateLabs/graphforge issue 884, observed against Fly: hyphenated names are
//!   refused), and are not unique: apps commonly hold several volumes of one name
//!   (superfly/flyctl `internal/command/volumes/create.go`, `countVolumesMatchingName`).
//! - **Sizes**: 1 to 500 GB (superfly/docs `volumes/overview.html.markerb`); a restore
//!   needs "equal or greater size" than the snapshot's volume
//!   (`volumes/snapshots.html.markerb`); a volume is extended, never shrunk.
//! - **Snapshots** go `waiting → running → created` (`volumes/snapshots.html.markerb`);
//!   here `running`, then `created` after the transition time. The create answers 200
//!   with no body, as the spec has it.
//! - **Requests.** `name` is required ("yes" in the docs' table); a fork without one
//!   takes its source's, and its source's region and size (superfly/flyctl
//!   `internal/command/volumes/fork.go`; Kilo-Org/cloud forks without `size_gb`). A
//!   create without a region answers 422 `Region '' cannot host your machine. Please
//!   use an alternative region (see `fly platform regions`).` (superfly/flyctl issue
//!   2730, a logged answer).
//! - **Refusals.** Deleting a volume still bound to a machine, stopped or not: 412
//!   `failed_precondition: volume is currently bound to machine: <id>` (superfly/docs
//!   PR 2226, a Fly engineer quoting it; Kilo-Org/cloud PR 814). Only destroying the
//!   machine releases it. Deleting a deleted volume answers it again. The texts of
//!   the validation errors (names, sizes, retention, extend) are the simulator's own,
//!   answered 400: no public source gives Fly's.
//!
//! Capacity and quota answers are in [`RegionFaults`].

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;

/// The largest volume Fly makes, in GB.
pub const MAX_SIZE_GB: u64 = 500;

/// The size of a volume created without `size_gb`.
pub const DEFAULT_SIZE_GB: u64 = 3;

/// Days snapshots are kept when not set.
pub const DEFAULT_RETENTION: u64 = 5;

/// What ext4 leaves for data of each GB, in 4 KiB blocks (about 2% goes to metadata).
const BLOCKS_PER_GB: u64 = 256_900;

/// A volume's state, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    /// Ready, with no operation going on.
    Created,
    /// Being filled from a snapshot.
    Restoring,
    /// Being filled from the volume it was forked from; it can be mounted.
    Hydrating,
    /// Being deleted.
    SchedulingDestroy,
    /// Soft-deleted: kept 24 hours, then gone.
    PendingDestroy,
}

impl VolumeState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Created => "created",
            VolumeState::Restoring => "restoring",
            VolumeState::Hydrating => "hydrating",
            VolumeState::SchedulingDestroy => "scheduling_destroy",
            VolumeState::PendingDestroy => "pending_destroy",
        }
    }

    /// Whether the volume is deleted (or being deleted).
    pub fn is_destroyed(self) -> bool {
        matches!(
            self,
            VolumeState::SchedulingDestroy | VolumeState::PendingDestroy
        )
    }
}

/// A snapshot of a volume.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// `vs_…`.
    pub id: String,
    /// When it was taken.
    pub created_at: String,
    /// Bytes stored: the volume's bytes in use when it was taken.
    pub size: u64,
    /// The volume's size then, in GB.
    pub volume_size: u64,
    /// Days it is kept: the volume's `snapshot_retention` then.
    pub retention_days: u64,
    /// Content digest.
    pub digest: String,
    /// When it is `created` (before: `running`).
    pub ready_at: Instant,
}

impl Snapshot {
    /// The `VolumeSnapshot` object of the API.
    pub fn to_json(&self) -> Value {
        let status = if Instant::now() >= self.ready_at {
            "created"
        } else {
            "running"
        };
        json!({
            "id": self.id,
            "created_at": self.created_at,
            "size": self.size,
            "volume_size": self.volume_size,
            "retention_days": self.retention_days,
            "digest": self.digest,
            "status": status,
        })
    }
}

/// A volume.
#[derive(Clone, Debug)]
pub struct Volume {
    /// `vol_…`.
    pub id: String,
    /// Name; several volumes may share one.
    pub name: String,
    /// Region code.
    pub region: String,
    /// Hardware zone (the host) in the region.
    pub zone: String,
    /// Size in GB.
    pub size_gb: u64,
    /// Encrypted at rest.
    pub encrypted: bool,
    /// `ext4` (or `raw`).
    pub fstype: String,
    /// Days snapshots are kept.
    pub snapshot_retention: u64,
    /// Whether Fly takes daily snapshots.
    pub auto_backup_enabled: bool,
    /// Creation time.
    pub created_at: String,
    /// State until `next` is due.
    pub state: VolumeState,
    /// The state it reaches on its own, and when.
    pub next: Option<(Instant, VolumeState)>,
    /// The machine it is attached to, until that machine is destroyed.
    pub attached_machine_id: Option<String>,
    /// Bytes in use (what the runtime's dir holds, when machines run).
    pub bytes_used: u64,
    /// Its snapshots, oldest first.
    pub snapshots: Vec<Snapshot>,
}

impl Volume {
    /// The state now.
    pub fn state(&self) -> VolumeState {
        match self.next {
            Some((at, next)) if Instant::now() >= at => next,
            _ => self.state,
        }
    }

    /// Moves to `during` now and to `then` after `after`.
    pub fn begin(&mut self, during: VolumeState, then: VolumeState, after: Duration) {
        self.state = during;
        self.next = Some((Instant::now() + after, then));
    }

    /// Fixes the state reached so far (before a change that depends on it).
    pub fn settle(&mut self) {
        self.state = self.state();
        if self.next.is_some_and(|(at, _)| Instant::now() >= at) {
            self.next = None;
        }
    }

    /// The `Volume` object of the API; `summary` leaves out the block counts.
    pub fn to_json(&self, summary: bool) -> Value {
        let mut body = json!({
            "id": self.id,
            "name": self.name,
            "state": self.state().as_str(),
            "size_gb": self.size_gb,
            "region": self.region,
            "zone": self.zone,
            "encrypted": self.encrypted,
            "created_at": self.created_at,
            "fstype": self.fstype,
            "snapshot_retention": self.snapshot_retention,
            "auto_backup_enabled": self.auto_backup_enabled,
            "host_status": "ok",
        });
        if let Some(machine) = &self.attached_machine_id {
            body["attached_machine_id"] = json!(machine);
        }
        if !summary {
            let blocks = self.size_gb * BLOCKS_PER_GB;
            let used = self.bytes_used.div_ceil(4096).min(blocks);
            let free = blocks - used;
            body["block_size"] = json!(4096);
            body["blocks"] = json!(blocks);
            body["blocks_free"] = json!(free);
            // ext4 reserves 5% for root.
            body["blocks_avail"] = json!(free.saturating_sub(blocks / 20));
            body["bytes_total"] = json!(blocks * 4096);
            body["bytes_used"] = json!(used * 4096);
        }
        body
    }

    /// A snapshot of this volume.
    pub fn snapshot(&self, id: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.id == id)
    }
}

/// Switches that make one region refuse what Fly refuses when it is out of room.
///
/// The answers are the ones Fly gave in production, as Kilo-Org/cloud records them
/// (`kiloclaw/src/fly/client.ts` `CAPACITY_MARKERS` and `client.test.ts`, PRs 388,
/// 516, 787, 1691, 1694):
///
/// - `full` (the region's hosts have no room):
///   - a volume create: 400 `{"error":"no capacity"}`;
///   - a machine create, or start, on an existing volume: 412 `{"error":"insufficient
///     resources to create new machine with existing volume '<id>'",
///     "status":"volume_placement_capacity"}` (the code from the spec's
///     `main.statusCode` and superfly/fly-go's `CapacityScopeVolumePlacement`);
///   - any other machine create, start or restarting update: 409 `{"error":"aborted:
///     could not reserve resource for machine: insufficient memory available to
///     fulfill request"}`.
/// - `quota` (the organization's memory quota in the region is used up): a volume or
///   machine create, a start or a restarting update: 403 `{"error":"organization
///   \"<org>\" is using <n> MB of memory in <region> which is over the allowed quota.
///   please consider other regions"}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegionFaults {
    /// The region's hosts are full.
    pub full: bool,
    /// The organization is over its quota in the region.
    pub quota: bool,
}

impl RegionFaults {
    /// Whether nothing is switched on.
    pub fn is_clear(self) -> bool {
        !self.full && !self.quota
    }
}

/// 400 for a volume create in a full region.
pub fn no_capacity() -> ApiError {
    ApiError::bad_request("no capacity")
}

/// 412 for a machine that cannot be placed next to its volume.
pub fn no_room_next_to(volume: &str) -> ApiError {
    ApiError::precondition(format!(
        "insufficient resources to create new machine with existing volume '{volume}'"
    ))
    .with_code("volume_placement_capacity")
}

/// 409 for a machine without a volume in a full region.
pub fn insufficient_memory() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "aborted: could not reserve resource for machine: insufficient memory available to fulfill request",
    )
}

/// 403 for an organization over its quota in a region.
pub fn over_quota(org: &str, used_mb: u64, region: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "organization \"{org}\" is using {used_mb} MB of memory in {region} which is over the allowed quota. please consider other regions"
        ),
    )
}

/// 404 for a volume id the app does not have.
pub fn volume_not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("volume not found: {id}"))
}

/// Whether a volume name is one Fly accepts: 1 to 30 lowercase letters, digits and
/// underscores.
pub fn valid_name(name: &str) -> bool {
    (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A size in GB from a request field, checked against Fly's limits.
pub fn size_field(value: &Value, field: &str) -> Result<Option<u64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        value => value
            .as_u64()
            .filter(|s| (1..=MAX_SIZE_GB).contains(s))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field} must be a whole number of GB from 1 to {MAX_SIZE_GB}"
                ))
            }),
    }
}

/// `snapshot_retention` from a request, 1 to 60 days.
pub fn retention_field(value: &Value) -> Result<Option<u64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        value => value
            .as_u64()
            .filter(|d| (1..=60).contains(d))
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("snapshot_retention must be from 1 to 60 days")),
    }
}

/// A boolean field from a request.
pub fn bool_field(value: &Value, field: &str) -> Result<Option<bool>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(ApiError::bad_request(format!("{field} must be a boolean"))),
    }
}

/// The id of the volume a config mounts, when it mounts one; a config with more than
/// one mount, or a mount without a volume id, is refused.
pub fn mounted_volume(config: &Value) -> Result<Option<String>, ApiError> {
    let mounts = match config.get("mounts") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(mounts)) => mounts,
        Some(_) => return Err(ApiError::bad_request("config.mounts must be a list")),
    };
    match mounts.as_slice() {
        [] => Ok(None),
        [mount] => mount
            .get("volume")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(|v| Some(v.to_owned()))
            .ok_or_else(|| ApiError::bad_request("mount 0: volume is required")),
        _ => Err(ApiError::bad_request(
            "a machine can mount at most one volume",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_fly_rules() {
        assert!(valid_name("data"));
        assert!(valid_name("fc_inst_01"));
        assert!(!valid_name("fc-inst"), "dashes are refused");
        assert!(!valid_name("Data"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(31)));
        assert!(valid_name(&"a".repeat(30)));
    }

    #[test]
    fn sizes_and_retention_are_bounded() {
        assert_eq!(size_field(&json!(10), "size_gb"), Ok(Some(10)));
        assert_eq!(size_field(&Value::Null, "size_gb"), Ok(None));
        assert!(size_field(&json!(0), "size_gb").is_err());
        assert!(size_field(&json!(501), "size_gb").is_err());
        assert!(size_field(&json!("3"), "size_gb").is_err());
        assert_eq!(retention_field(&json!(60)), Ok(Some(60)));
        assert!(retention_field(&json!(61)).is_err());
        assert!(retention_field(&json!(0)).is_err());
    }

    fn volume() -> Volume {
        Volume {
            id: "vol_1".into(),
            name: "data".into(),
            region: "iad".into(),
            zone: "a1b2".into(),
            size_gb: 1,
            encrypted: true,
            fstype: "ext4".into(),
            snapshot_retention: 5,
            auto_backup_enabled: true,
            created_at: "2026-01-01T00:00:00Z".into(),
            state: VolumeState::Created,
            next: None,
            attached_machine_id: None,
            bytes_used: 10_000,
            snapshots: Vec::new(),
        }
    }

    #[test]
    fn states_move_on_when_due() {
        let mut v = volume();
        v.begin(
            VolumeState::Hydrating,
            VolumeState::Created,
            Duration::from_secs(60),
        );
        assert_eq!(v.state(), VolumeState::Hydrating);
        v.begin(
            VolumeState::SchedulingDestroy,
            VolumeState::PendingDestroy,
            Duration::ZERO,
        );
        assert_eq!(v.state(), VolumeState::PendingDestroy);
        v.settle();
        assert_eq!((v.state, v.next), (VolumeState::PendingDestroy, None));
    }

    #[test]
    fn the_json_has_plausible_blocks_and_no_null_attachment() {
        let body = volume().to_json(false);
        assert_eq!(body["bytes_used"], json!(12_288));
        assert_eq!(body["blocks"], json!(BLOCKS_PER_GB));
        assert!(body["blocks_avail"].as_u64() < body["blocks_free"].as_u64());
        assert!(body.get("attached_machine_id").is_none());
        let summary = volume().to_json(true);
        assert!(summary.get("blocks").is_none());
    }
}
