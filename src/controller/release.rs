//! The fleet release the controller follows (`FLEET_RELEASE`): read every
//! `ROLLOUT_INTERVAL` and whenever an Instance's change of image is judged (its slot is
//! free), shared with every reconcile (which image a new machine gets),
//! and rolled out: each pass decides with [`rollout::plan`], gives the next Instances
//! their image (annotations their reconciles act on: snapshot, update, health), writes
//! the release's status, and tells a halt or a change of phase as an Event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, Shared};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::followed::FollowedRelease;
use super::rollout::{self, Member};
use crate::crd::{FleetRelease, Instance, ReleasePhase, annotation, field_manager};
use crate::runtime::versions;

/// How long after an upgrade is judged its pass begins (at most `ROLLOUT_INTERVAL`).
const JUDGED_SETTLE: Duration = Duration::from_millis(250);

/// Grants made but not yet seen in the Instances' watch, by uid: the next pass counts
/// them, so a slow watch never lets more than `maxUpgrading` change at once.
#[derive(Debug, Default)]
struct Granted {
    by_uid: HashMap<String, (String, DateTime<Utc>)>,
}

/// Reads the release once, before the Instances' reconciles begin: a new machine starts
/// on the release's stable image from the first reconcile.
pub async fn read_once(ctx: &Context) {
    let api: Api<FleetRelease> = Api::all(ctx.client.clone());
    if let Some(release) = read(&api, &ctx.release).await {
        tracing::debug!(
            release = ctx.release.name(),
            found = release.is_some(),
            "read the fleet release"
        );
        ctx.release.set(release);
    }
}

/// The release, `Some(None)` when there is none, `None` when it could not be read.
async fn read(api: &Api<FleetRelease>, followed: &FollowedRelease) -> Option<Option<FleetRelease>> {
    match api.get_opt(followed.name()).await {
        Ok(release) => Some(release),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            // The FleetRelease CRD is not installed: every Instance runs OPENCLAW_IMAGE.
            Some(None)
        }
        Err(e) => {
            tracing::warn!(release = followed.name(), error = %e, "cannot read the fleet release; keeping the last one read");
            None
        }
    }
}

/// The rollout, running while this is held.
#[derive(Debug)]
pub struct RolloutTask(tokio::task::JoinHandle<()>);

impl Drop for RolloutTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the rollout; it runs until `shutdown` or until the task is dropped.
pub fn spawn(
    ctx: Arc<Context>,
    instances: Store<Instance>,
    interval: Duration,
    shutdown: Shared<BoxFuture<'static, ()>>,
) -> RolloutTask {
    RolloutTask(tokio::spawn(run(ctx, instances, interval, shutdown)))
}

/// Rolls the release out until `shutdown`.
async fn run(
    ctx: Arc<Context>,
    instances: Store<Instance>,
    interval: Duration,
    shutdown: Shared<BoxFuture<'static, ()>>,
) {
    let api: Api<FleetRelease> = Api::all(ctx.client.clone());
    let mut granted = Granted::default();
    // The store's readiness wakes only the last of its waiters (the Controller waits
    // too): look again now and then rather than wait once.
    loop {
        match tokio::time::timeout(Duration::from_millis(200), instances.wait_until_ready()).await {
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => {}
        }
    }
    tracing::info!(release = ctx.release.name(), "following the fleet release");
    loop {
        if let Some(release) = read(&api, &ctx.release).await {
            if release.is_none() {
                tracing::debug!(
                    release = ctx.release.name(),
                    "no fleet release: every Instance runs OPENCLAW_IMAGE or its own image"
                );
            }
            ctx.release.set(release.clone());
            if let Some(release) = release {
                pass(&ctx, &api, &release, &instances, &mut granted).await;
            }
        }
        tokio::select! {
            () = shutdown.clone() => return,
            () = tokio::time::sleep(interval) => {}
            () = ctx.release.judged() => {
                // The judged status reaches the store through the watch: a moment later,
                // and the judgements of the same moment are taken together.
                tokio::select! {
                    () = shutdown.clone() => return,
                    () = tokio::time::sleep(JUDGED_SETTLE.min(interval)) => {}
                }
            }
        }
    }
}

/// One pass of the rollout.
async fn pass(
    ctx: &Context,
    api: &Api<FleetRelease>,
    release: &FleetRelease,
    store: &Store<Instance>,
    granted: &mut Granted,
) {
    let now = Utc::now();
    let instances: Vec<Arc<Instance>> = store
        .state()
        .into_iter()
        .filter(|i| i.meta().deletion_timestamp.is_none())
        .collect();
    let mut members: Vec<Member<'_>> = instances.iter().map(|i| Member::of(i)).collect();
    // Grants the watch has not shown yet count as made.
    granted.by_uid.retain(|uid, (image, _)| {
        members
            .iter()
            .any(|m| m.uid == uid && m.assigned != Some(image.as_str()))
    });
    for member in &mut members {
        if let Some((image, at)) = granted.by_uid.get(member.uid) {
            member.assigned = Some(image.as_str());
            member.assigned_at = Some(*at);
        }
    }
    let refused = [
        Some(release.spec.stable.as_str()),
        release.spec.candidate.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|image| refusal(ctx, image));
    let rollout = match refused {
        Some(why) => refused_rollout(release, &members, why, now),
        None => rollout::plan(release, &members, now),
    };
    let mut given = Vec::new();
    for grant in &rollout.grants {
        let member = &members[grant.member];
        let instance = &instances[grant.member];
        match give(ctx, instance, &grant.image, grant.restore.as_deref(), now).await {
            Ok(()) => {
                tracing::info!(instance = %member.name, image = %grant.image, restore = grant.restore.as_deref().unwrap_or_default(), "the release gave an Instance its image");
                given.push((member.uid.to_owned(), (grant.image.clone(), now)));
            }
            Err(e) => {
                tracing::warn!(instance = %member.name, error = %e, "cannot give an Instance its image; the next pass tries again");
            }
        }
    }
    granted.by_uid.extend(given);
    let status = &rollout.status;
    ctx.metrics.release_counts(&[
        ("upgraded", status.upgraded),
        ("upgrading", status.upgrading),
        ("waiting", status.waiting),
        ("failed", status.failed),
        ("on_candidate", status.on_candidate),
        ("pinned", status.pinned),
    ]);
    let before = release.status.as_ref().and_then(|s| s.phase);
    if rollout.halted_now {
        ctx.metrics.release_halted();
    }
    if status.phase != before
        && let Some(phase) = status.phase
    {
        let warning = matches!(phase, ReleasePhase::Halted);
        let note = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: phase.as_str().to_owned(),
            note: status.message.clone(),
            action: "Rollout".to_owned(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&note, &release.object_ref(&())).await {
            tracing::debug!(error = %e, "cannot publish an Event about the release");
        }
        tracing::info!(release = %release.name_any(), phase = phase.as_str(), message = status.message.as_deref().unwrap_or_default(), "the release changed phase");
    }
    if release.status.as_ref() != Some(status) {
        let patch = json!({
            "apiVersion": "fasterclaw.io/v1alpha1",
            "kind": "FleetRelease",
            "status": status,
        });
        let params = PatchParams::apply(field_manager::CONTROLLER).force();
        if let Err(e) = api
            .patch_status(&release.name_any(), &params, &Patch::Apply(&patch))
            .await
        {
            tracing::warn!(release = %release.name_any(), error = %e, "cannot write the release's status");
        }
    }
}

/// Why the release may not give `image` to anyone: a repository the platform's keys may
/// not go to, or an OpenClaw version the controller does not know the configuration of.
fn refusal(ctx: &Context, image: &str) -> Option<String> {
    if !ctx.allowed_images.allows(image) {
        return Some(format!(
            "{image:?} is not from a repository ALLOWED_IMAGE_REPOSITORIES allows"
        ));
    }
    versions::check_image(image).err().map(|e| e.to_string())
}

/// A release naming an image it may not give moves nobody.
fn refused_rollout(
    release: &FleetRelease,
    members: &[Member<'_>],
    why: String,
    now: DateTime<Utc>,
) -> rollout::Rollout {
    let mut halted = release.clone();
    halted.spec.paused = true;
    let mut rollout = rollout::plan(&halted, members, now);
    rollout.status.phase = Some(ReleasePhase::Halted);
    rollout.status.message = Some(format!(
        "{why}: no Instance moves until the release names another image"
    ));
    rollout.halted_now = false;
    rollout
}

/// Gives an Instance its image (and the snapshot to restore first) through its
/// annotations; its reconcile carries it out.
async fn give(
    ctx: &Context,
    instance: &Instance,
    image: &str,
    restore: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let namespace = instance.namespace().unwrap_or_default();
    let api: Api<Instance> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut annotations = serde_json::Map::new();
    annotations.insert(annotation::RELEASE_IMAGE.to_owned(), json!(image));
    annotations.insert(
        annotation::RELEASE_ASSIGNED_AT.to_owned(),
        json!(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    if let Some(snapshot) = restore {
        annotations.insert(annotation::RESTORE.to_owned(), json!(snapshot));
    }
    // No resourceVersion: the Instance's status changes all the time, and the grant
    // depends on none of it that a pass could have read stale (the grants not yet seen
    // are counted by the caller).
    let patch = json!({ "metadata": { "annotations": annotations } });
    api.patch(
        &instance.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}
