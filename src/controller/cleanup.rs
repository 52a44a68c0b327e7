//! Deletion of an Instance: with `deletionPolicy: Delete`, its machine, app and stored
//! token go, each verified gone before the finalizer is removed; with `Orphan`, Fly.io
//! is left as it is. A half-provisioned Instance cleans up whatever exists.

use std::time::Duration;

use chrono::Utc;
use kube::ResourceExt;
use kube::api::Api;

use super::context::Context;
use super::error::Error;
use super::events::{EventReason, Note};
use super::markers::{Markers, markers};
use super::naming;
use super::report;
use super::write;
use crate::crd::{ConditionType, DeletionPolicy, Instance, InstanceStatus, Phase, ReadyReason};
use crate::fly::WaitState;

/// Where the cleanup stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Everything is gone: the finalizer may go.
    Done,
    /// Not yet: look again after this.
    Pending(Duration),
}

/// Cleans up after a deleted Instance.
pub async fn cleanup(
    instance: &Instance,
    api: &Api<Instance>,
    ctx: &Context,
) -> Result<Cleanup, Error> {
    let status = instance.status.clone().unwrap_or_default();
    if instance.is_paused() {
        let mut waiting = status.clone();
        waiting.message = Some(
            "deletion waits: the instance is paused (fasterclaw.io/paused); remove the annotation to let it finish".to_owned(),
        );
        write::status(api, instance, &waiting).await?;
        return Ok(Cleanup::Pending(ctx.timing.resync));
    }
    match instance.spec.deletion_policy {
        DeletionPolicy::Orphan => {
            let text = format!(
                "deletionPolicy Orphan: Fly.io app {} and its machine are left as they are",
                status.fly_app_name.as_deref().unwrap_or("(none)")
            );
            ctx.publish(instance, Note::new(EventReason::Orphaned, text))
                .await;
            // The stored token stays too, for whoever takes the app over.
            Ok(Cleanup::Done)
        }
        DeletionPolicy::Delete => delete_everything(instance, api, ctx, &status).await,
    }
}

async fn delete_everything(
    instance: &Instance,
    api: &Api<Instance>,
    ctx: &Context,
    status: &InstanceStatus,
) -> Result<Cleanup, Error> {
    let fly = &ctx.fly;
    // Only an app the controller recorded as its own (made, or adopted once checked) is
    // looked at, and only one that carries this Instance's mark is deleted: a status
    // edited to name another app does not reach it.
    if let Some(app) = status.fly_app_name.as_deref() {
        let adopted = instance.spec.adopt.as_ref().filter(|a| a.app_name == app);
        let uid = instance.uid().unwrap_or_default();
        let found = match markers(fly, app, &uid).await {
            Ok(found) => Some(found),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        match ownership(found.as_ref(), app, &uid) {
            Ownership::Gone => {}
            Ownership::Foreign(why) => {
                let text = format!("left the Fly.io app {app} in place: {why}");
                ctx.publish(instance, Note::new(EventReason::AppLeft, text))
                    .await;
            }
            Ownership::Ours => {
                if status.phase != Some(Phase::Deleted) {
                    let mut deleting = status.clone();
                    deleting.message =
                        Some("deleting the machine, the volumes and the app on Fly.io".to_owned());
                    write::status(api, instance, &deleting).await?;
                }
                let machine = status
                    .fly_machine_id
                    .as_deref()
                    .or(adopted.and_then(|a| a.machine_id.as_deref()));
                if let Some(machine) = machine {
                    fly.delete_machine(app, machine, true).await?;
                    match fly
                        .wait_machine(
                            app,
                            machine,
                            None,
                            WaitState::Destroyed,
                            ctx.timing.machine_wait,
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) if e.status() == Some(408) => {
                            return Ok(Cleanup::Pending(Duration::from_secs(2)));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                // The volumes go before the app (kept ones too: the Instance is gone).
                let volumes = match fly.list_volumes(app).await {
                    Ok(volumes) => volumes,
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                for volume in volumes.iter().filter(|v| !v.is_gone()) {
                    fly.delete_volume(app, &volume.id).await?;
                }
                fly.delete_app(app).await?;
                match fly.get_app(app).await {
                    Err(e) if e.is_not_found() => {}
                    Ok(_) => return Ok(Cleanup::Pending(Duration::from_secs(2))),
                    Err(e) => return Err(e.into()),
                }
                let text = format!("deleted Fly.io app {app}, its machine and its volumes");
                ctx.publish(instance, Note::new(EventReason::Deleted, text))
                    .await;
            }
        }
    }
    forget_token(instance, ctx).await?;
    let mut gone = status.clone();
    gone.phase = Some(Phase::Deleted);
    gone.fly_machine_id = None;
    gone.ip_address = None;
    gone.message = None;
    gone.progressing_since = None;
    let now = Utc::now();
    gone.conditions
        .retain(|c| c.type_ != ConditionType::Ready.as_str());
    gone.conditions
        .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: ConditionType::Ready.as_str().to_owned(),
            status: "False".to_owned(),
            reason: ReadyReason::Deleted.as_str().to_owned(),
            message: "the machine and the app are gone".to_owned(),
            observed_generation: instance.metadata.generation,
            last_transition_time: report::time(now),
        });
    // The object may already be going; a failure here does not hold the deletion.
    if let Err(e) = write::status(api, instance, &gone).await {
        tracing::debug!(instance = %instance.name_any(), error = %e, "cannot record DELETED");
    }
    Ok(Cleanup::Done)
}

/// Whose the recorded app is.
enum Ownership {
    /// This Instance's: it carries the Instance's marker secret, or has the name made
    /// from its uid and no other Instance's marker.
    Ours,
    /// Not this Instance's, and why.
    Foreign(String),
    /// It does not exist (any more).
    Gone,
}

/// Whose the recorded app is, from the markers it carries (`None`: it is gone).
fn ownership(markers: Option<&Markers>, app: &str, uid: &str) -> Ownership {
    let Some(markers) = markers else {
        return Ownership::Gone;
    };
    match &markers.foreign {
        _ if markers.ours => Ownership::Ours,
        Some(other) => Ownership::Foreign(format!("it carries another Instance's marker {other}")),
        // Made under the name only this Instance's uid gives, before its marker was set.
        None if naming::is_own_app_name(app, uid) => Ownership::Ours,
        None => Ownership::Foreign(format!(
            "it does not carry this Instance's marker {}",
            naming::marker_secret(uid)
        )),
    }
}

/// Deletes the sealed token the facade stored for the Instance; a token stored for
/// another Instance, which this one's spec may name, is left alone.
async fn forget_token(instance: &Instance, ctx: &Context) -> Result<(), Error> {
    if let Some(id) = instance.spec.telegram_token.stored_secret_id {
        ctx.db
            .secrets(&ctx.keyring)
            .delete_telegram_token_of(
                id,
                &instance.namespace().unwrap_or_default(),
                &instance.name_any(),
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_app_marked_or_named_as_the_instances_own_is_deleted() {
        let uid = "6f1c2a34-5b6d-4e7f-8091-a2b3c4d5e6f7";
        let own = "fasterclaw-6f1c2a345b6d4e7f8091a2b3c4d5e6f7";
        let adopted = "openclaw-clalice0-1732000000001";
        let ours = naming::marker_secret(uid);
        let other = "FASTERCLAW_INSTANCE_0000000000000000000000000000ABCD";
        let markers = |names: &[&str]| Markers::among(names.iter().copied(), uid);
        let verdict = |m: Option<&Markers>, app: &str| match ownership(m, app, uid) {
            Ownership::Ours => "ours",
            Ownership::Foreign(_) => "foreign",
            Ownership::Gone => "gone",
        };
        for (names, app, expected) in [
            (vec![ours.as_str()], adopted, "ours"),
            (vec![ours.as_str(), other], adopted, "ours"),
            (vec![other], adopted, "foreign"),
            (vec![], adopted, "foreign"),
            (vec![], own, "ours"),
            (vec![other], own, "foreign"),
            (vec!["TELEGRAM_BOT_TOKEN"], own, "ours"),
        ] {
            assert_eq!(
                verdict(Some(&markers(&names)), app),
                expected,
                "{names:?} {app}"
            );
        }
        assert_eq!(verdict(None, own), "gone");
    }
}
