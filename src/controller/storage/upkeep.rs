//! The volume's upkeep: grown to the size asked, a snapshot before an image change,
//! the snapshot listing kept fresh, kept volumes deleted when their period ends.

use chrono::{DateTime, Utc};

use crate::controller::events::{EventReason, Note};
use crate::controller::outcome::Halt;
use crate::controller::reconcile::Reconciler;
use crate::controller::world::World;
use crate::crd::{RetainedVolume, SnapshotStatus};
use crate::fly::{MachineState, Volume};
use crate::runtime::machine::mounted_volume;

use super::{SNAPSHOT_LISTING_AGE, SNAPSHOTS_SHOWN, rfc3339};

impl Reconciler<'_> {
    /// Grows the volume to the size asked; a machine that must restart for it is
    /// stopped (the plan starts it again).
    pub(super) async fn extend_volume(&self, world: &mut World) -> Result<(), Halt> {
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
            machine.state = MachineState::Stopping;
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
    pub(super) async fn snapshot_before_image(
        &self,
        world: &mut World,
        image: &str,
    ) -> Result<(), Halt> {
        let Some(machine) = world.machine.as_ref() else {
            return Ok(());
        };
        let Some(recorded) = world.storage.volume.as_ref() else {
            return Ok(());
        };
        // Only a machine whose state is on this volume has anything to keep.
        if machine.config.image.is_empty()
            || machine.config.image == image
            || mounted_volume(&machine.config) != Some(recorded.id.as_str())
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
    pub(super) async fn refresh_snapshots(&self, world: &mut World, now: bool) {
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
    pub(super) async fn expire_retained(&self, world: &mut World) {
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
