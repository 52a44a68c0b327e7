//! Looking at Fly.io for an Instance: its app and machine, found by what the status
//! recorded, by name, or by the machine's tags; and, for an Instance that adopts an
//! app, the claim that makes the app its own.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::events::{EventReason, Note};
use super::markers::{Markers, markers};
use super::naming;
use super::outcome::{Halt, Problem};
use super::reconcile::Reconciler;
use super::world::{StorageRecord, World};
use crate::crd::SyncedReason;
use crate::fly::MachineFilter;

impl Reconciler<'_> {
    /// What Fly.io holds for this Instance; a problem when the app is someone else's.
    pub(super) async fn observe(&self) -> Result<World, Halt> {
        let fly = &self.ctx.fly;
        let mut world = World {
            storage: StorageRecord::from_status(&self.previous),
            observed: true,
            upgrade: self.previous.upgrade.clone(),
            ..World::default()
        };
        let adopt = self.instance.spec.adopt.as_ref();
        let adopting = self.previous.fly_app_name.is_none() && adopt.is_some();
        if adopting {
            if !self.claim_adoption().await? {
                // Gone since: the Instance makes it again under the same name.
                return Ok(world);
            }
            world.app_exists = true;
            let text = format!("took over the existing Fly.io app {}", self.app);
            self.publish(Note::new(EventReason::Adopted, text)).await;
        }
        let known_machine = self.previous.fly_machine_id.as_ref().or_else(|| {
            adopt
                .filter(|_| adopting)
                .and_then(|a| a.machine_id.as_ref())
        });
        if let Some(id) = known_machine {
            match fly.get_machine(&self.app, id).await {
                Ok(machine) => {
                    world.app_exists = true;
                    world.machine = Some(machine);
                    return Ok(world);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.previous.fly_app_name.is_none() && !adopting {
            // Nothing was ever made: the first step creates the app and tells.
            return Ok(world);
        }
        match fly.get_app(&self.app).await {
            Ok(app) if app.organization.slug != fly.org_slug() => {
                return Err(Problem::new(
                    SyncedReason::AppNameConflict,
                    format!(
                        "the Fly.io app {} belongs to organization {:?}, not {:?}",
                        self.app,
                        app.organization.slug,
                        fly.org_slug()
                    ),
                )
                .into());
            }
            Ok(_) => world.app_exists = true,
            Err(e) if e.is_not_found() => return Ok(world),
            Err(e) => return Err(e.into()),
        }
        // The machine id was lost or never recorded: find the machine by its tags.
        let tagged = fly
            .list_machines(
                &self.app,
                &MachineFilter::tagged(naming::TAG_UID, self.uid.clone()),
            )
            .await?;
        world.machine = tagged.into_iter().find(|m| !m.state.is_gone());
        Ok(world)
    }

    /// Claims the app the Instance adopts before anything trusts it: only an app of the
    /// original system's name form, in our organization, carrying no other Instance's
    /// marker. This Instance's marker is written before any other change and the app is
    /// checked again, so that of two Instances adopting one app at once at most one
    /// holds it (a loser withdraws its marker). `Ok(false)` when the app is gone.
    pub(super) async fn claim_adoption(&self) -> Result<bool, Halt> {
        let fly = &self.ctx.fly;
        let conflict =
            |message: String| Halt::from(Problem::new(SyncedReason::AppNameConflict, message));
        if crate::domain::parse_original_app_name(&self.app).is_none() {
            return Err(Problem::new(
                SyncedReason::AdoptionRefused,
                format!(
                    "spec.adopt names {}, which is not an app of the original system (openclaw-<8 characters>-<milliseconds>); only apps `fasterclaw import-original` hands over can be adopted",
                    self.app
                ),
            )
            .into());
        }
        // One claim of an app at a time in this process; the check below holds across
        // processes (a leader that just lost its Lease) too.
        let _claiming = self.ctx.adoptions.lock(&self.app).await;
        match fly.get_app(&self.app).await {
            Ok(app) if app.organization.slug != fly.org_slug() => {
                return Err(conflict(format!(
                    "the Fly.io app {} to adopt belongs to organization {:?}, not {:?}",
                    self.app,
                    app.organization.slug,
                    fly.org_slug()
                )));
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let markers = self.markers().await?;
        if let Some(other) = markers.foreign {
            return Err(conflict(format!(
                "the Fly.io app {} to adopt is another Instance's already: it carries the marker secret {other}",
                self.app
            )));
        }
        let marker = naming::marker_secret(&self.uid);
        if !markers.ours {
            let value = BTreeMap::from([(marker.clone(), SecretString::from(self.uid.clone()))]);
            fly.set_secrets(&self.app, &value).await?;
        }
        if let Some(other) = self.markers().await?.foreign {
            // Another Instance claimed it at the same time: step back.
            fly.unset_secrets(&self.app, &[marker.as_str()]).await?;
            return Err(conflict(format!(
                "another Instance claimed the Fly.io app {} at the same time (marker secret {other})",
                self.app
            )));
        }
        Ok(true)
    }

    /// Whether the app carries this Instance's marker secret.
    pub(super) async fn carries_marker(&self) -> Result<bool, Halt> {
        Ok(self.markers().await?.ours)
    }

    /// Which markers the app carries: this Instance's, and another's.
    async fn markers(&self) -> Result<Markers, Halt> {
        Ok(markers(&self.ctx.fly, &self.app, &self.uid).await?)
    }
}
