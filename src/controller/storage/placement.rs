//! Where the volume is: found by its recorded id or its name (never an empty one after
//! a loss), made in the first region of the rotation with room, and moved by a fork
//! when its host has none.

use chrono::Utc;

use crate::controller::desired::DesiredSecrets;
use crate::controller::events::{EventReason, Note};
use crate::controller::naming::VOLUME_NAME;
use crate::controller::outcome::{Halt, Outcome, Problem};
use crate::controller::reconcile::Reconciler;
use crate::controller::world::World;
use crate::crd::{SyncedReason, annotation};
use crate::fly::{CreateVolume, FlyError, Shortage, Volume};
use crate::runtime::machine::mounted_volume;

use super::rfc3339;

impl Reconciler<'_> {
    /// Finds the volume: by the recorded id, else by its name (a lost id, or a create
    /// whose answer was lost). An Instance that ran on a volume that is gone stops
    /// with `VolumeLost` unless the loss is accepted.
    pub(super) async fn find_volume(&self, world: &mut World) -> Result<(), Halt> {
        if world.volume.is_some() {
            return Ok(());
        }
        let fly = &self.ctx.fly;
        let recorded = world.storage.volume.clone();
        if let Some(recorded) = &recorded
            && let Some(machine) = world.machine.as_ref().filter(|m| {
                !m.state.is_gone() && mounted_volume(&m.config) == Some(recorded.id.as_str())
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
    pub(super) async fn create_volume(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
    ) -> Result<(), Halt> {
        let size = self.wanted_size();
        let regions = self.ctx.regions.rotation(&self.instance.spec, None);
        let volume = match self
            .first_with_room(&regions, |region| self.volume_request(region, size))
            .await?
        {
            Ok(volume) => volume,
            Err(last) => {
                return Err(no_room("the assistant's volume", &regions, last.as_ref()).into());
            }
        };
        let text = format!(
            "created volume {} ({size} GB) in {} for the assistant's state",
            volume.id, volume.region
        );
        self.ctx.metrics.volume_change("created");
        self.publish(Note::new(EventReason::VolumeCreated, text))
            .await;
        Self::record_volume(world, volume);
        // A new volume has no snapshots yet.
        world.storage.snapshots.clear();
        world.storage.snapshots_listed_at = Some(rfc3339(Utc::now()));
        self.report(world, &Outcome::Synced, Some(secrets)).await?;
        Ok(())
    }

    /// Creates a volume with the request `request_in` makes for each region, in the
    /// first of `regions` with room; the capacity answers met on the way are noted. The
    /// last of them when no region had room.
    async fn first_with_room(
        &self,
        regions: &[String],
        request_in: impl Fn(&str) -> CreateVolume,
    ) -> Result<Result<Volume, Option<FlyError>>, Halt> {
        let mut last = None;
        for region in regions {
            match self
                .ctx
                .fly
                .create_volume(&self.app, &request_in(region))
                .await
            {
                Ok(volume) => return Ok(Ok(volume)),
                Err(e) => match e.shortage() {
                    Some(kind) => {
                        self.note_shortage(region, kind, &e).await;
                        last = Some(e);
                    }
                    None => return Err(Halt::refused(e)),
                },
            }
        }
        Ok(Err(last))
    }

    /// Forks `current` (at least the size asked) into the first of `regions` with room;
    /// the last capacity answer when none had room.
    async fn fork_into(
        &self,
        current: &Volume,
        regions: &[String],
    ) -> Result<Result<Volume, Option<FlyError>>, Halt> {
        let size = current.size_gb.max(self.wanted_size());
        self.first_with_room(regions, |region| CreateVolume {
            source_volume_id: Some(current.id.clone()),
            ..self.volume_request(region, size)
        })
        .await
    }

    /// Records a capacity answer: the metric, an Event, and for a spent quota the
    /// region out of the rotation.
    pub(super) async fn note_shortage(&self, region: &str, kind: Shortage, error: &FlyError) {
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
    pub(in crate::controller) async fn move_volume(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
        kind: Shortage,
        error: &FlyError,
    ) -> Result<(), Halt> {
        let (Some(current), Some(recorded)) = (world.volume.clone(), world.storage.volume.clone())
        else {
            return Err(Halt::refused(error.clone()));
        };
        self.note_shortage(&current.region, kind, error).await;
        let regions = self
            .ctx
            .regions
            .rotation(&self.instance.spec, Some(&current.region));
        let fork = match self.fork_into(&current, &regions).await? {
            Ok(fork) => fork,
            Err(last) => {
                let mut all = vec![current.region.clone()];
                all.extend(regions);
                let last = last.unwrap_or_else(|| error.clone());
                return Err(no_room("the assistant", &all, Some(&last)).into());
            }
        };
        let text = format!(
            "moved the assistant's state from {} to {}: volume {} forked into {} ({})",
            current.region,
            fork.region,
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
        Ok(())
    }
}

impl Reconciler<'_> {
    /// Moves the assistant, with its data, off a host Fly.io cannot reach: its volume is
    /// forked onto another host (its own region first, then the rotation), the old one
    /// kept. The plan then makes the machine again on the fork. `false` when the machine
    /// does not hold the recorded volume (nothing to move).
    pub(in crate::controller) async fn move_off_failed_host(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
    ) -> Result<bool, Halt> {
        let (Some(current), Some(recorded)) = (world.volume.clone(), world.storage.volume.clone())
        else {
            return Ok(false);
        };
        let mounted = world
            .machine
            .as_ref()
            .and_then(|m| crate::runtime::machine::mounted_volume(&m.config));
        if mounted != Some(current.id.as_str()) {
            return Ok(false);
        }
        let mut regions = vec![current.region.clone()];
        regions.extend(
            self.ctx
                .regions
                .rotation(&self.instance.spec, Some(&current.region)),
        );
        let fork = match self.fork_into(&current, &regions).await? {
            Ok(fork) => fork,
            Err(last) => return Err(no_room("the assistant", &regions, last.as_ref()).into()),
        };
        let text = format!(
            "moved the assistant's state off the failed host of machine {}: volume {} forked into {} in {}",
            world.machine.as_ref().map_or("?", |m| m.id.as_str()),
            current.id,
            fork.id,
            fork.region
        );
        self.ctx.metrics.volume_change("moved");
        self.publish(Note::new(EventReason::VolumeMoved, text))
            .await;
        self.retain(world, &recorded, "HostFailed");
        Self::record_volume(world, fork);
        self.report(world, &Outcome::Synced, Some(secrets)).await?;
        Ok(true)
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
