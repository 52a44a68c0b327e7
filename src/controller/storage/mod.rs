//! The Instance's volume, where OpenClaw's state lives: found by its recorded id or its
//! name, created in the first region with room, never replaced by an empty one once
//! the Instance has run on it, extended, snapshotted before an image change, restored
//! from a snapshot, and moved by forking when its host is full. Volumes moved off are
//! kept for a while, so a move can be undone.

mod placement;
mod restore;
mod upkeep;

use chrono::{DateTime, Utc};

use super::desired::DesiredSecrets;
use super::naming::VOLUME_NAME;
use super::outcome::Halt;
use super::reconcile::Reconciler;
use super::world::World;
use crate::crd::{RetainedVolume, VolumeStatus};
use crate::fly::{CreateVolume, Guest, Volume};

/// How long a listing of snapshots is shown before it is refreshed (besides after a
/// snapshot or a restore): Fly.io takes one a day.
const SNAPSHOT_LISTING_AGE: chrono::Duration = chrono::Duration::hours(6);

/// How many snapshots the status lists.
const SNAPSHOTS_SHOWN: usize = 10;

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
        if std::mem::take(&mut world.host_failed)
            && self.move_off_failed_host(world, secrets).await?
        {
            world.replan = true;
            return Ok(());
        }
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

    pub(super) fn wanted_size(&self) -> u32 {
        self.instance
            .spec
            .storage_gb
            .unwrap_or(self.ctx.storage.size_gb)
    }

    pub(super) fn compute(&self) -> Guest {
        let defaults = &self.ctx.machine_defaults;
        Guest {
            cpu_kind: defaults.cpu_kind.clone(),
            cpus: defaults.cpus,
            memory_mb: defaults.memory_mb,
        }
    }

    pub(super) fn volume_request(&self, region: &str, size_gb: u32) -> CreateVolume {
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
    pub(super) fn record_volume(world: &mut World, volume: Volume) {
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
    pub(super) fn retain(&self, world: &mut World, volume: &VolumeStatus, reason: &str) {
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
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
