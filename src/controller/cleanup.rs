//! Deletion of an Instance: with `deletionPolicy: Delete`, its machine, app and stored
//! token go, each verified gone before the finalizer is removed; with `Orphan`, Fly.io
//! is left as it is. A half-provisioned Instance cleans up whatever exists.

use std::time::Duration;

use chrono::Utc;
use kube::ResourceExt;
use kube::api::Api;

use super::context::Context;
use super::error::Error;
use super::naming;
use super::reconcile::write_status;
use super::report;
use crate::crd::{ConditionType, DeletionPolicy, Instance, InstanceStatus, Phase};

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
        write_status(api, instance, &waiting).await?;
        return Ok(Cleanup::Pending(ctx.timing.resync));
    }
    match instance.spec.deletion_policy {
        DeletionPolicy::Orphan => {
            ctx.publish(
                instance,
                false,
                "Orphaned",
                "Delete",
                format!(
                    "deletionPolicy Orphan: Fly.io app {} and its machine are left as they are",
                    status.fly_app_name.as_deref().unwrap_or("(none)")
                ),
            )
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
        match ownership(instance, ctx, app).await? {
            Ownership::Gone => {}
            Ownership::Foreign(why) => {
                ctx.publish(
                    instance,
                    true,
                    "AppLeft",
                    "Delete",
                    format!("left the Fly.io app {app} in place: {why}"),
                )
                .await;
            }
            Ownership::Ours => {
                if status.phase != Some(Phase::Deleted) {
                    let mut deleting = status.clone();
                    deleting.message =
                        Some("deleting the machine and the app on Fly.io".to_owned());
                    write_status(api, instance, &deleting).await?;
                }
                let machine = status
                    .fly_machine_id
                    .as_deref()
                    .or(adopted.and_then(|a| a.machine_id.as_deref()));
                if let Some(machine) = machine {
                    fly.delete_machine(app, machine, true).await?;
                }
                fly.delete_app(app).await?;
                match fly.get_app(app).await {
                    Err(e) if e.is_not_found() => {}
                    Ok(_) => return Ok(Cleanup::Pending(Duration::from_secs(2))),
                    Err(e) => return Err(e.into()),
                }
                ctx.publish(
                    instance,
                    false,
                    "Deleted",
                    "Delete",
                    format!("deleted Fly.io app {app} and its machine"),
                )
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
            reason: "Deleted".to_owned(),
            message: "the machine and the app are gone".to_owned(),
            observed_generation: instance.metadata.generation,
            last_transition_time: report::time(now),
        });
    // The object may already be going; a failure here does not hold the deletion.
    if let Err(e) = write_status(api, instance, &gone).await {
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

async fn ownership(instance: &Instance, ctx: &Context, app: &str) -> Result<Ownership, Error> {
    let uid = instance.uid().unwrap_or_default();
    let ours = naming::marker_secret(&uid);
    let secrets = match ctx.fly.list_secrets(app).await {
        Ok(secrets) => secrets,
        Err(e) if e.is_not_found() => return Ok(Ownership::Gone),
        Err(e) => return Err(e.into()),
    };
    if secrets.iter().any(|s| s.name == ours) {
        return Ok(Ownership::Ours);
    }
    let foreign = secrets
        .iter()
        .find(|s| s.name.starts_with(naming::MARKER_PREFIX))
        .map(|s| s.name.clone());
    Ok(match foreign {
        Some(other) => Ownership::Foreign(format!("it carries another Instance's marker {other}")),
        // Made under the name only this Instance's uid gives, before its marker was set.
        None if naming::is_own_app_name(app, &uid) => Ownership::Ours,
        None => Ownership::Foreign(format!("it does not carry this Instance's marker {ours}")),
    })
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
