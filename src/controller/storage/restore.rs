//! `fasterclaw.io/restore`: a new volume from one of the Instance's snapshots, or back
//! to a volume it kept; the previous one kept in turn.

use chrono::Utc;

use crate::controller::desired::DesiredSecrets;
use crate::controller::events::{EventReason, Note};
use crate::controller::outcome::{Halt, Outcome};
use crate::controller::reconcile::Reconciler;
use crate::controller::world::World;
use crate::crd::{RestoreResult, RestoreStatus, annotation};
use crate::fly::{CreateVolume, Volume};

use super::rfc3339;

/// What a restore annotation names.
enum RestoreSource<'a> {
    Snapshot(&'a str),
    Volume(&'a str),
}

impl Reconciler<'_> {
    pub(super) fn restore_handled(&self, world: &World, source: &str) -> bool {
        world
            .storage
            .restore
            .as_ref()
            .is_some_and(|r| r.source == source)
    }

    /// Carries out a new `fasterclaw.io/restore`: `true` when the volume changed.
    pub(super) async fn attend_restore(
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
    pub(super) async fn restore_snapshot(
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
    pub(super) async fn return_to_volume(
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
}
