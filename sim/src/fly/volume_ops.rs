//! The rules that change volumes (see [`super::volumes`] for the model and the evidence
//! behind it): the volume operations, a machine's mount (which volume, which region,
//! one machine per volume) and the room a region has (see
//! [`super::volumes::RegionFaults`]).
//!
//! # Mounts
//!
//! - A mount names the volume by id (`volume`); it must be a volume of the app that is
//!   not deleted, else 400 `volume not found` (Kilo-Org/cloud PR 3212: Fly answers
//!   `createMachine` with "400 volume not found" for a deleted or soft-deleted volume).
//!   A volume still `restoring` or `hydrating` may be mounted (superfly/docs
//!   `volumes/volume-states.html.markerb`: a hydrating volume "can be mounted").
//! - The machine runs in the volume's region. A request naming another region cannot
//!   be placed: Fly answers it as a full host, 412 `insufficient resources to create new
//!   machine with existing volume` (superfly/flyctl PR 4652, 2025: a machine run in
//!   another region than its volume's "led to a confusing `insufficient resources to
//!   create new machine` error"; older answers read "Mounts source volume … is in the
//!   wrong region", flyctl PR 2202). A request naming no region goes to the volume's.
//! - One machine per volume: `attached_machine_id` is set when the machine is created
//!   and cleared when it is destroyed (not when it stops). A second machine mounting it
//!   is refused with 412 `failed_precondition: volume already claimed by machine <id>`
//!   (the text a public fake of the Machines API uses; its repository is unnamed in the
//!   code index, and no first-hand Fly source gives it).
//! - At most one mount per machine (fly-apps/terraform-provider-fly issue 92: two mounts
//!   answer 400).
//! - An update cannot add, remove or swap the volume of an existing machine, only move
//!   its mount path (superfly/flyctl commit 446a4f2e7, by a Fly engineer: "we can't add a
//!   volume to already created machine; we can't change volume most of the time";
//!   `internal/command/deploy/machines_launchinput.go` replaces the machine instead).
//!   The simulator refuses every such update with 400.
//! - Fly fills in the mount's `name` with the volume's.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use super::ids;
use super::volumes::{
    self, DEFAULT_RETENTION, DEFAULT_SIZE_GB, RegionFaults, Snapshot, Volume, VolumeState,
    mounted_volume,
};
use super::world::{App, Machine, MachineState, World, now_rfc3339};

/// Where a new volume's content comes from, for the runtime to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A new, empty volume.
    Empty,
    /// Restored from this snapshot.
    Snapshot(String),
    /// Forked from this volume.
    Volume(String),
}

/// A volume just created: its id and where its content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provision {
    /// The new volume.
    pub id: String,
    /// Its content.
    pub source: Source,
}

/// A page of the volume list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The volumes.
    pub volumes: Vec<Value>,
    /// The `fly-next-cursor` to give, when more remain.
    pub next_cursor: Option<String>,
}

impl App {
    /// The volume with this id, deleted ones included.
    pub fn volume(&self, id: &str) -> Result<&Volume, ApiError> {
        self.volumes
            .iter()
            .find(|v| v.id == id)
            .ok_or_else(|| volumes::volume_not_found(id))
    }

    fn volume_mut(&mut self, id: &str) -> Result<&mut Volume, ApiError> {
        self.volumes
            .iter_mut()
            .find(|v| v.id == id)
            .ok_or_else(|| volumes::volume_not_found(id))
    }

    /// The volume with this id, to change: a deleted one is not found.
    fn live_volume_mut(&mut self, id: &str) -> Result<&mut Volume, ApiError> {
        let volume = self.volume_mut(id)?;
        volume.settle();
        if volume.state.is_destroyed() {
            return Err(volumes::volume_not_found(id));
        }
        Ok(volume)
    }

    /// Detaches every volume from a machine that is now destroyed.
    pub fn release_volumes(&mut self, machine: &str) {
        for volume in &mut self.volumes {
            if volume.attached_machine_id.as_deref() == Some(machine) {
                volume.attached_machine_id = None;
            }
        }
    }

    /// Volumes that are not deleted.
    pub fn live_volume_count(&self) -> usize {
        self.volumes
            .iter()
            .filter(|v| !v.state().is_destroyed())
            .count()
    }
}

fn memory_mb(config: &Value) -> u64 {
    config["guest"]["memory_mb"].as_u64().unwrap_or(256)
}

impl World {
    /// The switches of a region.
    pub fn region_faults(&self, region: &str) -> RegionFaults {
        self.regions.get(region).copied().unwrap_or_default()
    }

    /// Sets the switches of a region.
    pub fn set_region(&mut self, region: &str, faults: RegionFaults) {
        if faults.is_clear() {
            self.regions.remove(region);
        } else {
            self.regions.insert(region.to_owned(), faults);
        }
    }

    /// Memory the organization of `org` uses in `region`, in MB.
    fn memory_in(&self, org: &str, region: &str) -> u64 {
        self.apps
            .values()
            .filter(|a| a.org_slug == org)
            .flat_map(|a| a.machines.values())
            .filter(|m| m.region == region && m.state != MachineState::Destroyed)
            .map(|m| memory_mb(&m.config))
            .sum()
    }

    /// Refuses a machine that needs room in `region` when the region has none:
    /// `volume` is the volume it must sit next to, `memory` what it asks for.
    pub fn check_machine_room(
        &self,
        org: &str,
        region: &str,
        volume: Option<&str>,
        memory: u64,
    ) -> Result<(), ApiError> {
        let faults = self.region_faults(region);
        if faults.quota {
            return Err(volumes::over_quota(
                org,
                self.memory_in(org, region) + memory,
                region,
            ));
        }
        if faults.full {
            return Err(volume.map_or_else(volumes::insufficient_memory, volumes::no_room_next_to));
        }
        Ok(())
    }

    /// Checks the mount of a new machine's config and fills in its name; returns the
    /// volume and the region the machine goes to.
    pub fn place_new_machine(
        &self,
        app: &App,
        config: &mut Value,
        requested_region: Option<&str>,
    ) -> Result<(Option<String>, String), ApiError> {
        let Some(volume_id) = mounted_volume(config)? else {
            return Ok((None, requested_region.unwrap_or("iad").to_owned()));
        };
        let volume = app
            .volume(&volume_id)
            .ok()
            .filter(|v| !v.state().is_destroyed())
            .ok_or_else(|| ApiError::bad_request("volume not found"))?;
        if let Some(holder) = &volume.attached_machine_id {
            return Err(ApiError::precondition(format!(
                "failed_precondition: volume already claimed by machine {holder}"
            )));
        }
        if requested_region.is_some_and(|r| r != volume.region) {
            return Err(volumes::no_room_next_to(&volume_id));
        }
        name_mount(config, &volume.name);
        Ok((Some(volume_id), volume.region.clone()))
    }

    /// Checks that an update keeps the machine's volume (only its path may change) and
    /// fills in the mount's name.
    pub fn check_mount_change(
        &self,
        app: &App,
        machine: &Machine,
        config: &mut Value,
    ) -> Result<(), ApiError> {
        let before = mounted_volume(&machine.config)?;
        let after = mounted_volume(config)?;
        if before != after {
            let name = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
            return Err(ApiError::bad_request(format!(
                "the volume of machine {} cannot change ({} to {}): a volume is mounted when a machine is created; destroy the machine and create a new one",
                machine.id,
                name(&before),
                name(&after)
            )));
        }
        if let Some(volume) = after.and_then(|id| app.volume(&id).ok()) {
            name_mount(config, &volume.name);
        }
        Ok(())
    }

    /// Records that `machine` holds `volume`.
    pub fn attach(&mut self, app: &str, volume: &str, machine: &str) {
        if let Some(v) = self
            .apps
            .get_mut(app)
            .and_then(|a| a.volumes.iter_mut().find(|v| v.id == volume))
        {
            v.attached_machine_id = Some(machine.to_owned());
        }
    }

    /// `POST /v1/apps/{app}/volumes`: a new volume, empty, restored from `snapshot_id`
    /// or forked from `source_volume_id`.
    pub fn create_volume(
        &mut self,
        app_name: &str,
        request: &Value,
        transition: Duration,
    ) -> Result<(Value, Provision), ApiError> {
        let app = self.app(app_name)?;
        let org = app.org_slug.clone();
        let text = |field: &str| -> Result<Option<String>, ApiError> {
            match &request[field] {
                Value::Null => Ok(None),
                Value::String(s) if s.is_empty() => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                _ => Err(ApiError::bad_request(format!("{field} must be a string"))),
            }
        };
        let size = volumes::size_field(&request["size_gb"], "size_gb")?;
        let retention = volumes::retention_field(&request["snapshot_retention"])?;
        let auto_backup =
            volumes::bool_field(&request["auto_backup_enabled"], "auto_backup_enabled")?;
        let encrypted = volumes::bool_field(&request["encrypted"], "encrypted")?;
        let fstype = text("fstype")?.unwrap_or_else(|| "ext4".to_owned());
        if fstype != "ext4" && fstype != "raw" {
            return Err(ApiError::bad_request(format!(
                "fstype {fstype:?} must be ext4 or raw"
            )));
        }
        let mut name = text("name")?;
        let mut region = text("region")?;
        let (source, base_size, base_encrypted, used, state) =
            match (text("snapshot_id")?, text("source_volume_id")?) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request(
                        "give snapshot_id or source_volume_id, not both",
                    ));
                }
                (Some(snapshot_id), None) => {
                    let snapshot = app
                        .volumes
                        .iter()
                        .find_map(|v| v.snapshot(&snapshot_id))
                        .ok_or_else(|| {
                            ApiError::new(
                                StatusCode::NOT_FOUND,
                                format!("snapshot not found: {snapshot_id}"),
                            )
                        })?;
                    (
                        Source::Snapshot(snapshot_id),
                        snapshot.volume_size,
                        None,
                        snapshot.size,
                        VolumeState::Restoring,
                    )
                }
                (None, Some(source_id)) => {
                    let source = app
                        .volume(&source_id)
                        .ok()
                        .filter(|v| !v.state().is_destroyed())
                        .ok_or_else(|| volumes::volume_not_found(&source_id))?;
                    name.get_or_insert_with(|| source.name.clone());
                    region.get_or_insert_with(|| source.region.clone());
                    (
                        Source::Volume(source_id),
                        source.size_gb,
                        Some(source.encrypted),
                        source.bytes_used,
                        VolumeState::Hydrating,
                    )
                }
                (None, None) => (Source::Empty, 1, None, 0, VolumeState::Created),
            };
        let size_gb = match (size, &source) {
            (Some(size), Source::Empty) => size,
            (None, Source::Empty) => DEFAULT_SIZE_GB,
            (Some(size), _) if size < base_size => {
                let what = if matches!(source, Source::Snapshot(_)) {
                    "the snapshot's volume"
                } else {
                    "the source volume"
                };
                return Err(ApiError::bad_request(format!(
                    "size_gb {size} is smaller than {what} ({base_size} GB)"
                )));
            }
            (size, _) => size.unwrap_or(base_size),
        };
        let name = name.ok_or_else(|| ApiError::bad_request("name is required"))?;
        if !volumes::valid_name(&name) {
            return Err(ApiError::bad_request(format!(
                "invalid volume name {name:?}: use at most 30 lowercase letters, numbers and underscores"
            )));
        }
        let region = region.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Region '' cannot host your machine. Please use an alternative region (see `fly platform regions`).",
            )
        })?;
        let faults = self.region_faults(&region);
        if faults.quota {
            let used = self.memory_in(&org, &region) + memory_mb(&request["compute"]);
            return Err(volumes::over_quota(&org, used, &region));
        }
        if faults.full {
            return Err(volumes::no_capacity());
        }
        let id = ids::volume_id(&mut self.rng);
        let zone = ids::hex(&mut self.rng, 4);
        let mut volume = Volume {
            id: id.clone(),
            name,
            region,
            zone,
            size_gb,
            encrypted: encrypted.or(base_encrypted).unwrap_or(true),
            fstype,
            snapshot_retention: retention.unwrap_or(DEFAULT_RETENTION),
            auto_backup_enabled: auto_backup.unwrap_or(true),
            created_at: now_rfc3339(),
            state,
            next: None,
            attached_machine_id: None,
            bytes_used: used,
            snapshots: Vec::new(),
        };
        if state != VolumeState::Created {
            volume.begin(state, VolumeState::Created, transition);
        }
        let body = volume.to_json(false);
        self.app_mut(app_name)?.volumes.push(volume);
        Ok((body, Provision { id, source }))
    }

    /// `GET /v1/apps/{app}/volumes`: every volume but hard-destroyed ones, oldest first,
    /// `limit` at a time after `cursor`.
    pub fn list_volumes(
        &self,
        app_name: &str,
        summary: bool,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page, ApiError> {
        let app = self.app(app_name)?;
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                app.volumes
                    .iter()
                    .position(|v| v.id == cursor)
                    .ok_or_else(|| ApiError::bad_request("invalid cursor"))?
                    + 1
            }
        };
        let rest = app.volumes.get(start..).unwrap_or_default();
        let shown = limit.map_or(rest, |limit| &rest[..limit.min(rest.len())]);
        let next_cursor = (shown.len() < rest.len())
            .then(|| shown.last().map(|v| v.id.clone()))
            .flatten();
        Ok(Page {
            volumes: shown.iter().map(|v| v.to_json(summary)).collect(),
            next_cursor,
        })
    }

    /// `PUT /v1/apps/{app}/volumes/{id}`: `snapshot_retention` and `auto_backup_enabled`.
    pub fn update_volume(
        &mut self,
        app_name: &str,
        id: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        let retention = volumes::retention_field(&request["snapshot_retention"])?;
        let auto_backup =
            volumes::bool_field(&request["auto_backup_enabled"], "auto_backup_enabled")?;
        let volume = self.app_mut(app_name)?.live_volume_mut(id)?;
        if let Some(days) = retention {
            volume.snapshot_retention = days;
        }
        if let Some(enabled) = auto_backup {
            volume.auto_backup_enabled = enabled;
        }
        Ok(volume.to_json(false))
    }

    /// `DELETE /v1/apps/{app}/volumes/{id}`: refused while a machine holds the volume;
    /// else it answers the volume `scheduling_destroy`, `pending_destroy` after the
    /// transition time. Returns whether this request deleted it.
    pub fn delete_volume(
        &mut self,
        app_name: &str,
        id: &str,
        transition: Duration,
    ) -> Result<(Value, bool), ApiError> {
        let volume = self.app_mut(app_name)?.volume_mut(id)?;
        volume.settle();
        if volume.state.is_destroyed() {
            return Ok((volume.to_json(false), false));
        }
        if let Some(machine) = &volume.attached_machine_id {
            return Err(ApiError::precondition(format!(
                "failed_precondition: volume is currently bound to machine: {machine}"
            )));
        }
        volume.begin(
            VolumeState::SchedulingDestroy,
            VolumeState::PendingDestroy,
            transition,
        );
        Ok((volume.to_json(false), true))
    }

    /// `PUT /v1/apps/{app}/volumes/{id}/extend`: a larger `size_gb`, at once and without
    /// a restart.
    pub fn extend_volume(
        &mut self,
        app_name: &str,
        id: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        let size = volumes::size_field(&request["size_gb"], "size_gb")?
            .ok_or_else(|| ApiError::bad_request("size_gb is required"))?;
        let volume = self.app_mut(app_name)?.live_volume_mut(id)?;
        if size <= volume.size_gb {
            return Err(ApiError::bad_request(format!(
                "size_gb {size} must be larger than the volume's size ({} GB); volumes cannot shrink",
                volume.size_gb
            )));
        }
        volume.size_gb = size;
        Ok(json!({ "needs_restart": false, "volume": volume.to_json(false) }))
    }

    /// `GET …/volumes/{id}/snapshots`, oldest first (deleted volumes' too).
    pub fn list_snapshots(&self, app_name: &str, id: &str) -> Result<Value, ApiError> {
        let volume = self.app(app_name)?.volume(id)?;
        Ok(Value::from(
            volume
                .snapshots
                .iter()
                .map(Snapshot::to_json)
                .collect::<Vec<_>>(),
        ))
    }

    /// `POST …/volumes/{id}/snapshots`: a snapshot of what the volume holds now,
    /// `running` until the transition time has passed. Returns its id.
    pub fn create_snapshot(
        &mut self,
        app_name: &str,
        id: &str,
        transition: Duration,
    ) -> Result<String, ApiError> {
        let snapshot_id = ids::snapshot_id(&mut self.rng);
        let digest = format!("{}-1", ids::hex(&mut self.rng, 32));
        let volume = self.app_mut(app_name)?.live_volume_mut(id)?;
        volume.snapshots.push(Snapshot {
            id: snapshot_id.clone(),
            created_at: now_rfc3339(),
            size: volume.bytes_used,
            volume_size: volume.size_gb,
            retention_days: volume.snapshot_retention,
            digest,
            ready_at: Instant::now() + transition,
        });
        Ok(snapshot_id)
    }

    /// Records what a volume's dir holds (and, when it is one just taken, its snapshot).
    pub fn set_usage(&mut self, app: &str, volume: &str, snapshot: Option<&str>, bytes: u64) {
        let Some(v) = self
            .apps
            .get_mut(app)
            .and_then(|a| a.volumes.iter_mut().find(|v| v.id == volume))
        else {
            return;
        };
        v.bytes_used = bytes;
        if let Some(s) = snapshot.and_then(|s| v.snapshots.iter_mut().find(|x| x.id == s)) {
            s.size = bytes;
        }
    }
}

fn name_mount(config: &mut Value, name: &str) {
    if let Some(mount) = config
        .get_mut("mounts")
        .and_then(Value::as_array_mut)
        .and_then(|m| m.first_mut())
        && mount
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        mount["name"] = json!(name);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn world() -> World {
        let mut world = World::new(StdRng::seed_from_u64(1));
        world.create_app("app", "personal", None).unwrap();
        world
    }

    fn create(world: &mut World, request: Value) -> Result<Value, ApiError> {
        world
            .create_volume("app", &request, Duration::from_secs(3600))
            .map(|(body, _)| body)
    }

    #[test]
    fn create_checks_names_sizes_regions_and_sources() {
        let mut w = world();
        let v = create(&mut w, json!({"name": "data", "region": "iad"})).unwrap();
        assert_eq!(v["size_gb"], 3);
        assert_eq!(v["state"], "created");
        assert_eq!(v["snapshot_retention"], 5);
        let again = create(&mut w, json!({"name": "data", "region": "iad"})).unwrap();
        assert_ne!(v["id"], again["id"], "names are not unique");
        let bad = create(&mut w, json!({"name": "my-data", "region": "iad"})).unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let no_region = create(&mut w, json!({"name": "x"})).unwrap_err();
        assert_eq!(no_region.status, StatusCode::UNPROCESSABLE_ENTITY);
        let id = v["id"].as_str().unwrap();
        let fork = create(&mut w, json!({"source_volume_id": id, "region": "ord"})).unwrap();
        assert_eq!(
            (&fork["state"], &fork["name"], &fork["size_gb"]),
            (&json!("hydrating"), &json!("data"), &json!(3))
        );
        let small = create(&mut w, json!({"source_volume_id": id, "size_gb": 2})).unwrap_err();
        assert_eq!(small.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn full_and_quota_regions_refuse_volumes_and_machines() {
        let mut w = world();
        w.set_region(
            "dfw",
            RegionFaults {
                full: true,
                quota: false,
            },
        );
        let full = create(&mut w, json!({"name": "d", "region": "dfw"})).unwrap_err();
        assert_eq!(
            (full.status, full.message.as_str()),
            (StatusCode::BAD_REQUEST, "no capacity")
        );
        assert_eq!(
            w.check_machine_room("personal", "dfw", Some("vol_x"), 256)
                .unwrap_err()
                .status,
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            w.check_machine_room("personal", "dfw", None, 256)
                .unwrap_err()
                .status,
            StatusCode::CONFLICT
        );
        w.set_region(
            "dfw",
            RegionFaults {
                full: true,
                quota: true,
            },
        );
        let quota = create(&mut w, json!({"name": "d", "region": "dfw"})).unwrap_err();
        assert_eq!(quota.status, StatusCode::FORBIDDEN);
        assert!(
            quota.message.contains("over the allowed quota"),
            "{}",
            quota.message
        );
        w.set_region("dfw", RegionFaults::default());
        assert!(w.regions.is_empty());
        assert!(create(&mut w, json!({"name": "d", "region": "dfw"})).is_ok());
    }

    #[test]
    fn the_list_pages_with_a_cursor() {
        let mut w = world();
        for _ in 0..3 {
            create(&mut w, json!({"name": "d", "region": "iad"})).unwrap();
        }
        let first = w.list_volumes("app", false, Some(2), None).unwrap();
        assert_eq!(first.volumes.len(), 2);
        let cursor = first.next_cursor.unwrap();
        let second = w.list_volumes("app", true, Some(2), Some(&cursor)).unwrap();
        assert_eq!((second.volumes.len(), second.next_cursor), (1, None));
    }

    #[test]
    fn mounts_pin_the_region_and_take_the_volume() {
        let mut w = world();
        let v = create(&mut w, json!({"name": "data", "region": "ord"})).unwrap();
        let id = v["id"].as_str().unwrap().to_owned();
        let mut config = json!({"mounts": [{"volume": id, "path": "/data"}]});
        let app = w.app("app").unwrap();
        let (volume, region) = w.place_new_machine(app, &mut config, None).unwrap();
        assert_eq!(
            (volume.as_deref(), region.as_str()),
            (Some(id.as_str()), "ord")
        );
        assert_eq!(config["mounts"][0]["name"], "data");
        let wrong = w
            .place_new_machine(app, &mut config.clone(), Some("iad"))
            .unwrap_err();
        assert_eq!(wrong.status, StatusCode::PRECONDITION_FAILED);
        w.attach("app", &id, "m1");
        let app = w.app("app").unwrap();
        let claimed = w.place_new_machine(app, &mut config, None).unwrap_err();
        assert!(claimed.message.contains("claimed by machine m1"));
        let bound = w.delete_volume("app", &id, Duration::ZERO).unwrap_err();
        assert_eq!(bound.status, StatusCode::PRECONDITION_FAILED);
        assert!(bound.message.ends_with("bound to machine: m1"));
        w.app_mut("app").unwrap().release_volumes("m1");
        let (body, first) = w
            .delete_volume("app", &id, Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            (body["state"].as_str(), first),
            (Some("scheduling_destroy"), true)
        );
        let app = w.app("app").unwrap();
        let gone = w.place_new_machine(app, &mut config, None).unwrap_err();
        assert_eq!(
            (gone.status, gone.message.as_str()),
            (StatusCode::BAD_REQUEST, "volume not found")
        );
    }

    #[test]
    fn extend_grows_only_and_snapshots_record_the_volume() {
        let mut w = world();
        let v = create(&mut w, json!({"name": "d", "region": "iad", "size_gb": 2})).unwrap();
        let id = v["id"].as_str().unwrap();
        assert!(w.extend_volume("app", id, &json!({"size_gb": 2})).is_err());
        let grown = w.extend_volume("app", id, &json!({"size_gb": 4})).unwrap();
        assert_eq!(
            (
                grown["needs_restart"].as_bool(),
                &grown["volume"]["size_gb"]
            ),
            (Some(false), &json!(4))
        );
        let snap = w.create_snapshot("app", id, Duration::ZERO).unwrap();
        w.set_usage("app", id, Some(&snap), 5000);
        let list = w.list_snapshots("app", id).unwrap();
        assert_eq!(list[0]["volume_size"], 4);
        assert_eq!(list[0]["size"], 5000);
        assert_eq!(list[0]["status"], "created");
        let restore = create(
            &mut w,
            json!({"name": "r", "region": "iad", "snapshot_id": snap, "size_gb": 3}),
        );
        assert_eq!(restore.unwrap_err().status, StatusCode::BAD_REQUEST);
        let restore = create(
            &mut w,
            json!({"name": "r", "region": "iad", "snapshot_id": snap}),
        )
        .unwrap();
        assert_eq!(
            (&restore["state"], &restore["size_gb"]),
            (&json!("restoring"), &json!(4))
        );
    }
}
