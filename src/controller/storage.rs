//! The Instance's volume, where OpenClaw's state lives: found by its recorded id or its
//! name, created in the first region with room, never replaced by an empty one once
//! the Instance has run on it, extended, snapshotted before an image change, restored
//! from a snapshot, and moved by forking when its host is full. Volumes moved off are
//! kept for a while, so a move can be undone.

use chrono::{DateTime, Utc};

use super::desired::DesiredSecrets;
use super::events::{EventReason, Note};
use super::naming::VOLUME_NAME;
use super::outcome::{Halt, Outcome, Problem};
use super::reconcile::Reconciler;
use super::world::World;
use crate::crd::{
    RestoreResult, RestoreStatus, RetainedVolume, SnapshotStatus, SyncedReason, VolumeStatus,
    annotation,
};
use crate::fly::{CreateVolume, FlyError, Guest, Shortage, Volume};

/// How long a listing of snapshots is shown before it is refreshed (besides after a
/// snapshot or a restore): Fly.io takes one a day.
const SNAPSHOT_LISTING_AGE: chrono::Duration = chrono::Duration::hours(6);

/// How many snapshots the status lists.
const SNAPSHOTS_SHOWN: usize = 10;

/// What a restore annotation names.
enum RestoreSource<'a> {
    Snapshot(&'a str),
    Volume(&'a str),
}

impl Reconciler<'_> {
    /// The storage step: the volume exists, is the size asked, has a snapshot before
    /// an image change, and kept volumes whose time is up are gone. Sets
    /// `world.replan` when the volume changed.
    pub(super) async fn tend_storage(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
        target_image: &str,
    ) -> Result<(), Halt> {
        self.find_volume(world).await?;
        if self.attend_restore(world, secrets).await? {
            world.replan = true;
            return Ok(());
        }
        if world.volume.is_none() {
            self.create_volume(world, secrets).await?;
            world.replan = true;
            return Ok(());
        }
        self.extend_volume(world).await?;
        self.snapshot_before_image(world, target_image).await?;
        self.refresh_snapshots(world, false).await;
        self.expire_retained(world).await;
        Ok(())
    }

    fn wanted_size(&self) -> u32 {
        self.instance
            .spec
            .storage_gb
            .unwrap_or(self.ctx.storage.size_gb)
    }

    fn compute(&self) -> Guest {
        let defaults = &self.ctx.machine_defaults;
        Guest {
            cpu_kind: defaults.cpu_kind.clone(),
            cpus: defaults.cpus,
            memory_mb: defaults.memory_mb,
        }
    }

    fn volume_request(&self, region: &str, size_gb: u32) -> CreateVolume {
        CreateVolume {
            name: VOLUME_NAME.to_owned(),
            region: region.to_owned(),
            size_gb,
            compute: Some(self.compute()),
            snapshot_retention: Some(self.ctx.storage.snapshot_retention_days),
            ..CreateVolume::default()
        }
    }

    /// Makes `volume` the Instance's, in the world and the status to write.
    fn record_volume(world: &mut World, volume: Volume) {
        let before = world.storage.volume.take();
        world.storage.volume = Some(VolumeStatus {
            id: volume.id.clone(),
            region: volume.region.clone(),
            size_gb: volume.size_gb,
            snapshot_before_image: before
                .filter(|b| b.id == volume.id)
                .and_then(|b| b.snapshot_before_image),
        });
        world.volume = Some(volume);
    }

    /// Keeps `volume` (moved off) until the retention period ends.
    fn retain(&self, world: &mut World, volume: &VolumeStatus, reason: &str) {
        let until = Utc::now()
            + chrono::Duration::from_std(self.ctx.storage.retained_for)
                .unwrap_or(chrono::Duration::days(7));
        world.storage.retained.retain(|r| r.id != volume.id);
        world.storage.retained.push(RetainedVolume {
            id: volume.id.clone(),
            region: volume.region.clone(),
            reason: reason.to_owned(),
            until: until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }

    /// Finds the volume: by the recorded id, else by its name (a lost id, or a create
    /// whose answer was lost). An Instance that ran on a volume that is gone stops
    /// with `VolumeLost` unless the loss is accepted.
    async fn find_volume(&self, world: &mut World) -> Result<(), Halt> {
        if world.volume.is_some() {
            return Ok(());
        }
        let fly = &self.ctx.fly;
        let recorded = world.storage.volume.clone();
        if let Some(recorded) = &recorded
            && let Some(machine) = world.machine.as_ref().filter(|m| {
                !m.state.is_gone()
                    && crate::runtime::machine::mounted_volume(&m.config)
                        == Some(recorded.id.as_str())
            })
        {
            // A volume a machine mounts cannot be deleted: the record holds, and a
            // settled Instance costs no call for it.
            world.volume = Some(Volume {
                id: recorded.id.clone(),
                name: VOLUME_NAME.to_owned(),
                state: "created".to_owned(),
                region: recorded.region.clone(),
                size_gb: recorded.size_gb,
                attached_machine_id: Some(machine.id.clone()),
                ..Volume::default()
            });
            return Ok(());
        }
        if let Some(recorded) = &recorded {
            match fly.get_volume(&self.app, &recorded.id).await {
                Ok(volume) if !volume.is_gone() => {
                    Self::record_volume(world, volume);
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if recorded.is_some() || !world.app_new {
            let retained: Vec<&str> = world
                .storage
                .retained
                .iter()
                .map(|r| r.id.as_str())
                .collect();
            let machine = world.machine.as_ref().map(|m| m.id.as_str());
            let region = recorded.as_ref().map(|r| r.region.as_str());
            let found = match fly.list_volumes(&self.app).await {
                Ok(volumes) => volumes,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let best = found
                .into_iter()
                .filter(|v| v.name == VOLUME_NAME && !v.is_gone())
                .filter(|v| !retained.contains(&v.id.as_str()))
                .max_by_key(|v| {
                    (
                        machine.is_some() && v.attached_machine_id.as_deref() == machine,
                        Some(v.region.as_str()) == region,
                        v.created_at.clone(),
                    )
                });
            if let Some(volume) = best {
                let text = format!(
                    "found volume {} ({} GB in {}) by its name {VOLUME_NAME}",
                    volume.id, volume.size_gb, volume.region
                );
                self.ctx.metrics.volume_change("adopted");
                self.publish(Note::new(EventReason::VolumeCreated, text))
                    .await;
                Self::record_volume(world, volume);
                return Ok(());
            }
        }
        let Some(lost) = recorded else {
            return Ok(());
        };
        if self.instance.annotation(annotation::ACCEPT_DATA_LOSS) == Some(lost.id.as_str()) {
            world.storage.volume = None;
            world.storage.snapshots.clear();
            world.storage.snapshots_listed_at = None;
            return Ok(());
        }
        if self
            .instance
            .annotation(annotation::RESTORE)
            .is_some_and(|source| !self.restore_handled(world, source))
        {
            // A restore brings the state back onto a new volume.
            return Ok(());
        }
        Err(Problem::new(
            SyncedReason::VolumeLost,
            format!(
                "volume {} holding the assistant's state is gone from Fly.io (not found by its id, nor by its name {VOLUME_NAME}); no empty volume is made in its place. Restore a snapshot with the {} annotation (status.snapshots lists them), or accept the loss with {}: {}",
                lost.id,
                annotation::RESTORE,
                annotation::ACCEPT_DATA_LOSS,
                lost.id
            ),
        )
        .into())
    }

    /// Creates the volume in the first region of the rotation with room.
    async fn create_volume(&self, world: &mut World, secrets: &DesiredSecrets) -> Result<(), Halt> {
        let size = self.wanted_size();
        let regions = self.ctx.regions.rotation(&self.instance.spec, None);
        let mut last = None;
        for region in &regions {
            match self
                .ctx
                .fly
                .create_volume(&self.app, &self.volume_request(region, size))
                .await
            {
                Ok(volume) => {
                    let text = format!(
                        "created volume {} ({size} GB) in {region} for the assistant's state",
                        volume.id
                    );
                    self.ctx.metrics.volume_change("created");
                    self.publish(Note::new(EventReason::VolumeCreated, text))
                        .await;
                    Self::record_volume(world, volume);
                    // A new volume has no snapshots yet.
                    world.storage.snapshots.clear();
                    world.storage.snapshots_listed_at = Some(rfc3339(Utc::now()));
                    self.report(world, &Outcome::Synced, Some(secrets)).await?;
                    return Ok(());
                }
                Err(e) => match e.shortage() {
                    Some(kind) => {
                        self.note_shortage(region, kind, &e).await;
                        last = Some(e);
                    }
                    None => return Err(Halt::refused(e)),
                },
            }
        }
        Err(no_room("the assistant's volume", &regions, last.as_ref()).into())
    }

    /// Records a capacity answer: the metric, an Event, and for a spent quota the
    /// region out of the rotation.
    async fn note_shortage(&self, region: &str, kind: Shortage, error: &FlyError) {
        self.ctx.metrics.shortage(region, kind.as_str());
        let mut text = format!("{region} has no room: {error}");
        if kind == Shortage::Quota {
            self.ctx
                .regions
                .cool_down(region, self.ctx.storage.quota_cooldown);
            text.push_str(&format!(
                "; {region} is left out for {}",
                humantime::format_duration(self.ctx.storage.quota_cooldown)
            ));
        }
        self.publish(Note::new(EventReason::RegionFull, text)).await;
    }

    /// Moves the assistant, with its data, off a host with no room: its volume is
    /// forked into the next region of the rotation with room (never an empty volume),
    /// the old one kept. The plan then makes the machine again on the fork.
    pub(super) async fn move_volume(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
        kind: Shortage,
        error: &FlyError,
    ) -> Result<(), Halt> {
        let (Some(current), Some(recorded)) = (world.volume.clone(), world.storage.volume.clone())
        else {
            return Err(Halt::refused(clone_error(error)));
        };
        self.note_shortage(&current.region, kind, error).await;
        let regions = self
            .ctx
            .regions
            .rotation(&self.instance.spec, Some(&current.region));
        let mut last = Some(clone_error(error));
        for region in &regions {
            let request = CreateVolume {
                source_volume_id: Some(current.id.clone()),
                ..self.volume_request(region, current.size_gb.max(self.wanted_size()))
            };
            match self.ctx.fly.create_volume(&self.app, &request).await {
                Ok(fork) => {
                    let text = format!(
                        "moved the assistant's state from {} to {region}: volume {} forked into {} ({})",
                        current.region,
                        current.id,
                        fork.id,
                        kind.as_str()
                    );
                    self.ctx.metrics.volume_change("moved");
                    self.publish(Note::new(EventReason::VolumeMoved, text))
                        .await;
                    self.retain(world, &recorded, "Move");
                    Self::record_volume(world, fork);
                    self.report(world, &Outcome::Synced, Some(secrets)).await?;
                    world.replan = true;
                    return Ok(());
                }
                Err(e) => match e.shortage() {
                    Some(kind) => {
                        self.note_shortage(region, kind, &e).await;
                        last = Some(e);
                    }
                    None => return Err(Halt::refused(e)),
                },
            }
        }
        let mut all = vec![current.region.clone()];
        all.extend(regions);
        Err(no_room("the assistant", &all, last.as_ref()).into())
    }

    fn restore_handled(&self, world: &World, source: &str) -> bool {
        world
            .storage
            .restore
            .as_ref()
            .is_some_and(|r| r.source == source)
    }

    /// Carries out a new `fasterclaw.io/restore`: `true` when the volume changed.
    async fn attend_restore(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
    ) -> Result<bool, Halt> {
        let Some(source) = self.instance.annotation(annotation::RESTORE).map(str::trim) else {
            return Ok(false);
        };
        if self.restore_handled(world, source) {
            return Ok(false);
        }
        let parsed = if source.starts_with("vs_") {
            Some(RestoreSource::Snapshot(source))
        } else if source.starts_with("vol_") {
            Some(RestoreSource::Volume(source))
        } else {
            None
        };
        let restored = match parsed {
            Some(RestoreSource::Snapshot(id)) => self.restore_snapshot(world, id).await?,
            Some(RestoreSource::Volume(id)) => self.return_to_volume(world, id).await?,
            None => Err(format!(
                "{source:?} is neither a snapshot (vs_…) nor a kept volume (vol_…)"
            )),
        };
        let now = rfc3339(Utc::now());
        match restored {
            Ok(volume) => {
                let text = format!(
                    "restored the assistant's state from {source} onto volume {}",
                    volume.id
                );
                self.ctx.metrics.volume_change("restored");
                self.publish(Note::new(EventReason::Restored, text)).await;
                if let Some(previous) = world.storage.volume.clone() {
                    self.retain(world, &previous, "Restore");
                }
                world.storage.restore = Some(RestoreStatus {
                    source: source.to_owned(),
                    result: RestoreResult::Restored,
                    volume: Some(volume.id.clone()),
                    message: None,
                    handled_at: now,
                });
                world.storage.retained.retain(|r| r.id != volume.id);
                Self::record_volume(world, volume);
                self.refresh_snapshots(world, true).await;
                self.report(world, &Outcome::Synced, Some(secrets)).await?;
                Ok(true)
            }
            Err(why) => {
                self.publish(Note::new(
                    EventReason::RestoreRefused,
                    format!("cannot restore {source}: {why}"),
                ))
                .await;
                world.storage.restore = Some(RestoreStatus {
                    source: source.to_owned(),
                    result: RestoreResult::Refused,
                    volume: None,
                    message: Some(why),
                    handled_at: now,
                });
                Ok(false)
            }
        }
    }

    /// A new volume from one of this Instance's snapshots, in its volume's region, at
    /// least as large as the snapshot's volume and the current one.
    async fn restore_snapshot(
        &self,
        world: &mut World,
        id: &str,
    ) -> Result<Result<Volume, String>, Halt> {
        if !world.storage.snapshots.iter().any(|s| s.id == id) {
            self.refresh_snapshots(world, true).await;
        }
        let Some(snapshot) = world.storage.snapshots.iter().find(|s| s.id == id).cloned() else {
            return Ok(Err(format!(
                "{id} is not among the snapshots of this Instance's volume"
            )));
        };
        let current = world.storage.volume.clone();
        let region = current
            .as_ref()
            .map(|v| v.region.clone())
            .unwrap_or_else(|| self.instance.spec.region.as_str().to_owned());
        let size = snapshot
            .volume_size_gb
            .max(current.as_ref().map_or(0, |v| v.size_gb))
            .max(self.wanted_size());
        let request = CreateVolume {
            snapshot_id: Some(snapshot.id.clone()),
            ..self.volume_request(&region, size)
        };
        match self.ctx.fly.create_volume(&self.app, &request).await {
            Ok(volume) => Ok(Ok(volume)),
            Err(e) if e.is_terminal() => Ok(Err(e.to_string())),
            Err(e) => Err(Halt::refused(e)),
        }
    }

    /// Goes back to a volume kept after an earlier restore or move.
    async fn return_to_volume(
        &self,
        world: &World,
        id: &str,
    ) -> Result<Result<Volume, String>, Halt> {
        if !world.storage.retained.iter().any(|r| r.id == id) {
            return Ok(Err(format!(
                "{id} is not a volume this Instance kept (status.retainedVolumes)"
            )));
        }
        match self.ctx.fly.get_volume(&self.app, id).await {
            Ok(volume) if !volume.is_gone() => Ok(Ok(volume)),
            Ok(_) => Ok(Err(format!("volume {id} is gone"))),
            Err(e) if e.is_not_found() => Ok(Err(format!("volume {id} is gone"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Grows the volume to the size asked; a machine that must restart for it is
    /// stopped (the plan starts it again).
    async fn extend_volume(&self, world: &mut World) -> Result<(), Halt> {
        let wanted = self.wanted_size();
        let Some(volume) = world.volume.as_ref().filter(|v| v.size_gb < wanted) else {
            return Ok(());
        };
        let id = volume.id.clone();
        let from = volume.size_gb;
        let extended = self
            .ctx
            .fly
            .extend_volume(&self.app, &id, wanted)
            .await
            .map_err(Halt::refused)?;
        let mut text = format!("extended volume {id} from {from} GB to {wanted} GB");
        if extended.needs_restart
            && let Some(machine) = world.machine.as_mut()
            && machine.state.is_up()
        {
            self.ctx.fly.stop_machine(&self.app, &machine.id).await?;
            machine.state = crate::fly::MachineState::Stopping;
            world.replan = true;
            text.push_str("; the machine restarts for its file system to grow");
        }
        self.ctx.metrics.volume_change("extended");
        self.publish(Note::new(EventReason::VolumeExtended, text))
            .await;
        let mut volume = extended.volume;
        if volume.id.is_empty() {
            // An answer without the volume: what was asked is what it is.
            volume = Volume {
                size_gb: wanted,
                ..world.volume.clone().unwrap_or_default()
            };
        }
        Self::record_volume(world, volume);
        Ok(())
    }

    /// Takes a snapshot before the machine moves to another image, once per image.
    async fn snapshot_before_image(&self, world: &mut World, image: &str) -> Result<(), Halt> {
        let Some(machine) = world.machine.as_ref() else {
            return Ok(());
        };
        let Some(recorded) = world.storage.volume.as_ref() else {
            return Ok(());
        };
        // Only a machine whose state is on this volume has anything to keep.
        if machine.config.image.is_empty()
            || machine.config.image == image
            || crate::runtime::machine::mounted_volume(&machine.config)
                != Some(recorded.id.as_str())
            || recorded.snapshot_before_image.as_deref() == Some(image)
        {
            return Ok(());
        }
        let id = recorded.id.clone();
        self.ctx
            .fly
            .snapshot_volume(&self.app, &id)
            .await
            .map_err(Halt::refused)?;
        let text = format!(
            "took a snapshot of volume {id} before moving from {} to {image}",
            machine.config.image
        );
        self.ctx.metrics.volume_change("snapshot");
        self.publish(Note::new(EventReason::SnapshotTaken, text))
            .await;
        if let Some(recorded) = world.storage.volume.as_mut() {
            recorded.snapshot_before_image = Some(image.to_owned());
        }
        self.refresh_snapshots(world, true).await;
        Ok(())
    }

    /// Lists the volume's snapshots when asked or when the listing is old; a failure
    /// keeps the old listing.
    async fn refresh_snapshots(&self, world: &mut World, now: bool) {
        let Some(volume) = world.storage.volume.as_ref() else {
            return;
        };
        let fresh = world
            .storage
            .snapshots_listed_at
            .as_deref()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .is_some_and(|at| Utc::now() - at.with_timezone(&Utc) < SNAPSHOT_LISTING_AGE);
        if fresh && !now {
            return;
        }
        match self.ctx.fly.list_snapshots(&self.app, &volume.id).await {
            Ok(mut snapshots) => {
                snapshots.sort_by(|a, b| b.created_at.cmp(&a.created_at));
                world.storage.snapshots = snapshots
                    .into_iter()
                    .take(SNAPSHOTS_SHOWN)
                    .map(|s| SnapshotStatus {
                        id: s.id,
                        created_at: s.created_at,
                        size_bytes: s.size,
                        volume_size_gb: s.volume_size,
                        status: s.status,
                    })
                    .collect();
                world.storage.snapshots_listed_at = Some(rfc3339(Utc::now()));
            }
            Err(e) => {
                tracing::warn!(app = %self.app, error = %e, "cannot list the volume's snapshots");
            }
        }
    }

    /// Deletes kept volumes whose period is over.
    async fn expire_retained(&self, world: &mut World) {
        let now = Utc::now();
        let due: Vec<RetainedVolume> = world
            .storage
            .retained
            .iter()
            .filter(|r| DateTime::parse_from_rfc3339(&r.until).map_or(true, |until| until < now))
            .cloned()
            .collect();
        for volume in due {
            match self.ctx.fly.delete_volume(&self.app, &volume.id).await {
                Ok(_) => {
                    world.storage.retained.retain(|r| r.id != volume.id);
                    self.ctx.metrics.volume_change("deleted");
                    let text = format!(
                        "deleted volume {} kept since a {}: its period is over",
                        volume.id,
                        volume.reason.to_lowercase()
                    );
                    self.publish(Note::new(EventReason::VolumeDeleted, text))
                        .await;
                }
                Err(e) => {
                    tracing::warn!(app = %self.app, volume = %volume.id, error = %e, "cannot delete a kept volume");
                }
            }
        }
    }
}

/// The problem of a rotation with no room anywhere.
fn no_room(what: &str, regions: &[String], last: Option<&FlyError>) -> Problem {
    Problem::new(
        SyncedReason::NoCapacity,
        format!(
            "no region of the Instance ({}) has room for {what} now{}; the controller tries again",
            if regions.is_empty() {
                "all are out of the rotation".to_owned()
            } else {
                regions.join(", ")
            },
            last.map(|e| format!(" (last answer: {e})"))
                .unwrap_or_default()
        ),
    )
}

/// A copy of a Fly.io error, to report after acting on it.
fn clone_error(error: &FlyError) -> FlyError {
    match error {
        FlyError::Api {
            operation,
            status,
            code,
            message,
        } => FlyError::Api {
            operation,
            status: *status,
            code: code.clone(),
            message: message.clone(),
        },
        other => FlyError::Transport {
            operation: "Machines_create",
            message: other.to_string(),
        },
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
