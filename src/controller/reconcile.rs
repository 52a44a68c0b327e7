//! One reconcile of one Instance: the gates ([`decide`]), the token, a look at Fly.io
//! ([`super::observe`]), the steps ([`plan`]) performed ([`super::act`]), and the status
//! ([`report`]) written with what it calls for ([`decide::announcements`]). Deletion
//! goes through [`super::cleanup`]; the writes themselves through [`write`].

use std::sync::Arc;

use chrono::Utc;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::decide::{self, Facts, Gate, Wait};
use super::desired::{self, DesiredSecrets, SecretInputs};
use super::error::Error;
use super::events::{EventReason, Note};
use super::health::Heal;
use super::naming;
use super::outcome::{Halt, Outcome, Problem};
use super::plan::{self, AppState, Observation, Target};
use super::report::{self, ReportInput};
use super::upgrade;
use super::world::World;
use super::write::{self, Patched};
use super::{backoff, cleanup, token};
use crate::crd::{Instance, InstanceStatus, PowerState, SyncedReason, UpgradeResult, annotation};
use crate::crypto::KeyId;

/// Reconciles one Instance. The entry point the kube-runtime `Controller` calls. A
/// panic inside is caught here, reported as `ReconcileError` and backed off like any
/// error: one Instance's bad input never stops the others' reconciles.
pub async fn reconcile(instance: Arc<Instance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started();
    let uid = instance.uid().ok_or(Error::MissingMetadata("uid"))?;
    let result = match guarded(reconcile_inner(&instance, &ctx)).await {
        Err(Error::Panicked(message)) => {
            tracing::error!(instance = %instance.name_any(), panic = %message, "a reconcile panicked");
            report_panic(&instance, &ctx, message).await
        }
        other => other,
    };
    match &result {
        Ok(_) => {
            ctx.backoff.succeeded(&uid);
            ctx.metrics.reconcile_finished(None);
            ctx.metrics.scheduled(1);
        }
        Err(e) => ctx.metrics.reconcile_finished(Some(e.metric_label())),
    }
    result
}

/// Runs `reconcile`, turning a panic into [`Error::Panicked`].
async fn guarded(
    reconcile: impl std::future::Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Err(Error::Panicked(message))
        }
    }
}

/// Reports a panicked reconcile in the status (best effort) and hands it to the backoff.
async fn report_panic(
    instance: &Instance,
    ctx: &Context,
    message: String,
) -> Result<Action, Error> {
    let Some(namespace) = instance.namespace() else {
        return Err(Error::Panicked(message));
    };
    let api: Api<Instance> = Api::namespaced(ctx.client.clone(), &namespace);
    match Reconciler::new(instance, &api, ctx) {
        Ok(reconciler) => reconciler.fail(Error::Panicked(message)).await,
        Err(_) => Err(Error::Panicked(message)),
    }
}

/// What the `Controller` does after a failed reconcile: back off, per Instance.
pub fn error_policy(instance: Arc<Instance>, error: &Error, ctx: Arc<Context>) -> Action {
    let uid = instance.uid().unwrap_or_default();
    let delay = ctx
        .backoff
        .failed(&uid, ctx.timing.backoff_base, ctx.timing.backoff_max);
    tracing::warn!(
        instance = %instance.name_any(),
        namespace = instance.namespace().unwrap_or_default(),
        error = %error,
        retry_in_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    ctx.metrics.scheduled(1);
    Action::requeue(delay)
}

/// The finalizer first, and deletion through the cleanup.
async fn reconcile_inner(instance: &Instance, ctx: &Context) -> Result<Action, Error> {
    let namespace = instance
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<Instance> = Api::namespaced(ctx.client.clone(), &namespace);
    if instance.meta().deletion_timestamp.is_some() {
        if !instance.has_finalizer() {
            return Ok(Action::await_change());
        }
        return match cleanup::cleanup(instance, &api, ctx).await? {
            cleanup::Cleanup::Done => {
                write::remove_finalizer(&api, instance).await?;
                Ok(Action::await_change())
            }
            cleanup::Cleanup::Pending(after) => Ok(Action::requeue(after)),
        };
    }
    if !instance.has_finalizer() {
        // The change wakes the next reconcile, which finds the finalizer on.
        if write::add_finalizer(&api, instance).await? == Patched::Stale {
            tracing::debug!(instance = %instance.name_any(), "waiting for the change that made the copy stale");
        }
        return Ok(Action::await_change());
    }
    Reconciler::new(instance, &api, ctx)?.run().await
}

/// The state of one reconcile of one Instance.
pub(super) struct Reconciler<'a> {
    pub(super) instance: &'a Instance,
    api: &'a Api<Instance>,
    pub(super) ctx: &'a Context,
    pub(super) uid: String,
    /// The name of the Instance's app: recorded, adopted, or made from the uid.
    pub(super) app: String,
    /// The status as it was when the reconcile began.
    pub(super) previous: InstanceStatus,
    pub(super) reconcile_requested: Option<&'a str>,
    retry_requested: Option<&'a str>,
    /// A new retry annotation asks to start over.
    pub(super) retried: bool,
    /// The Instance starts over toward its spec (a new generation, or a retry).
    pub(super) restarted: bool,
}

impl<'a> Reconciler<'a> {
    fn new(
        instance: &'a Instance,
        api: &'a Api<Instance>,
        ctx: &'a Context,
    ) -> Result<Self, Error> {
        let uid = instance.uid().ok_or(Error::MissingMetadata("uid"))?;
        let previous = instance.status.clone().unwrap_or_default();
        let app = previous
            .fly_app_name
            .clone()
            .or_else(|| instance.spec.adopt.as_ref().map(|a| a.app_name.clone()))
            .unwrap_or_else(|| naming::app_name(&ctx.app_prefix, &uid));
        let retry_requested = instance.annotation(annotation::RETRY_REQUESTED_AT);
        let retried = retry_requested.is_some()
            && retry_requested != previous.last_handled_retry_at.as_deref();
        // The fleet release gave it an image it has not moved to yet: a new start, as a
        // spec change would be (a FAILED Instance goes; its crash loop is forgotten).
        let release_moved = instance
            .annotation(annotation::RELEASE_IMAGE)
            .map(str::trim)
            .is_some_and(|image| {
                !image.is_empty()
                    && instance.spec.image.is_none()
                    && previous.image.as_deref() != Some(image)
                    && previous.upgrade.as_ref().is_none_or(|u| u.to != image)
            });
        let restarted = retried
            || release_moved
            || instance.metadata.generation != previous.observed_generation;
        Ok(Self {
            instance,
            api,
            ctx,
            uid,
            app,
            previous,
            reconcile_requested: instance.annotation(annotation::RECONCILE_REQUESTED_AT),
            retry_requested,
            retried,
            restarted,
        })
    }

    /// The image the machine should run ([`desired::image`]), given what runs now.
    pub(super) fn image(&self, world: &World) -> String {
        let release = self.ctx.release.current();
        let running = world
            .machine
            .as_ref()
            .map(|m| m.config.image.as_str())
            .filter(|image| !image.is_empty())
            .or(self.previous.image.as_deref());
        desired::image(
            self.instance,
            release.as_ref().map(|r| &r.spec),
            running,
            &self.ctx.machine_defaults.image,
        )
        .to_owned()
    }

    pub(super) fn power(&self) -> PowerState {
        self.instance.spec.power_state
    }

    async fn run(self) -> Result<Action, Error> {
        let spec = &self.instance.spec;
        let provider = spec.effective_provider();
        let platform_key = self.ctx.platform_keys.get(provider).cloned();
        let facts = Facts {
            previous: &self.previous,
            uid: &self.uid,
            adopt: spec.adopt.as_ref(),
            paused: self.instance.is_paused(),
            retried: self.retried,
            restarted: self.restarted,
            imported_failed: self.instance.annotation(annotation::IMPORTED_FAILED),
            image: spec.image.as_deref(),
            allowed_images: &self.ctx.allowed_images,
            model: &spec.ai_model,
        };
        let recorded = World::from_status(&self.previous);
        match decide::gate(&facts) {
            Gate::Go => {}
            Gate::Paused => return self.finish(&recorded, Outcome::Paused, None).await,
            Gate::StayFailed(problem) => {
                return self
                    .finish(&recorded, Outcome::Problem(problem), None)
                    .await;
            }
            Gate::Stop(problem) => return self.stop(&recorded, problem).await,
            Gate::ImportedFailed(problem) => return self.imported_failed(problem).await,
        }
        let Some(platform_key) = platform_key else {
            return self
                .stop(&recorded, decide::platform_key_missing(provider))
                .await;
        };
        let token = match token::resolve(
            self.instance,
            &self.ctx.client,
            &self.ctx.db,
            &self.ctx.keyring,
        )
        .await
        {
            Ok(Ok(token)) => token,
            Ok(Err(unavailable)) => {
                let problem = Problem::new(SyncedReason::TokenUnavailable, unavailable.0);
                return self.stop(&recorded, problem).await;
            }
            Err(e) => return self.fail(e).await,
        };
        let timeout = self.ctx.timing.transition_timeout;
        if let Some(problem) = decide::timed_out(
            &self.previous,
            self.power(),
            self.restarted,
            Utc::now(),
            timeout,
        ) {
            return self.stop(&recorded, problem).await;
        }
        let deriving_key = self.ctx.keyring.deriving_key(
            self.previous
                .gateway_token_key
                .as_deref()
                .and_then(KeyId::parse),
        );
        let secrets = desired::secrets(SecretInputs {
            uid: &self.uid,
            telegram_token: token,
            provider,
            platform_key,
            deriving_key,
        });
        let mut world = match self.observe().await {
            Ok(world) => world,
            Err(Halt::Problem(problem)) => return self.stop(&recorded, problem).await,
            Err(Halt::Error(e)) => return self.fail(e).await,
        };
        world.app_new = !world.app_exists;
        let heal = self.look_at_health(&mut world);
        if heal == Some(Heal::StopCrashLoop) {
            return self.stop_crash_loop(world, &secrets).await;
        }
        // A changed volume (made, restored, moved) plans again, a few times at most.
        let mut outcome = Outcome::Synced;
        let mut starts = false;
        for round in 0..4 {
            world.replan = false;
            world.still_moving = false;
            let volume = world.volume.as_ref().map(|v| v.id.clone());
            let image = self.image(&world);
            let config = desired::machine_config(
                self.instance,
                &self.ctx.machine_defaults,
                &image,
                volume.as_deref(),
            );
            let steps = plan::plan(
                Target {
                    config: &config,
                    secrets: &secrets.digest,
                    power: self.power(),
                },
                Observation {
                    app: if world.app_exists {
                        AppState::Ours
                    } else {
                        AppState::Missing
                    },
                    machine: world.machine.as_ref(),
                    applied_secrets: world
                        .written_secrets
                        .as_ref()
                        .map(|(digest, _)| digest.as_str())
                        .or(self.previous.secrets_digest.as_deref()),
                    start_over: self.retried && round == 0,
                    volume: volume.as_deref(),
                    heal: heal.filter(|_| round == 0),
                },
            );
            starts |= steps.contains(&plan::Step::Start);
            match self.act(&steps, &mut world, &secrets, &config).await {
                Ok(()) if world.replan => {
                    world.still_moving = true;
                    continue;
                }
                Ok(()) => {
                    self.record_heal(&mut world, heal, starts).await;
                    self.import_state(&world).await;
                    self.attend_pairing(&mut world).await;
                    self.diagnose_channel(&mut world).await;
                    outcome = Outcome::Synced;
                    break;
                }
                Err(Halt::Problem(problem)) => {
                    outcome = Outcome::Problem(problem);
                    break;
                }
                Err(Halt::Error(e)) => {
                    // Best effort: the error itself is what the backoff acts on.
                    let outcome = Outcome::Error(e.to_string());
                    let _ = self.report(&world, &outcome, Some(&secrets)).await;
                    return Err(e);
                }
            }
        }
        self.finish(&world, outcome, Some(&secrets)).await
    }

    /// Imported FAILED, as the original left it: reported so, holding the app it
    /// adopts once that app is known to be one it may hold.
    async fn imported_failed(&self, problem: Problem) -> Result<Action, Error> {
        let mut world = World::from_status(&self.previous);
        let mut problem = problem;
        if self.instance.spec.adopt.is_some() {
            match self.claim_adoption().await {
                Ok(exists) => world.app_exists = exists,
                Err(Halt::Problem(conflict)) => problem = conflict,
                Err(Halt::Error(e)) => return self.fail(e).await,
            }
        }
        self.stop(&world, problem).await
    }

    /// Reports a problem and waits for a change (a FAILED Instance, a Secret, the
    /// controller's settings).
    async fn stop(&self, world: &World, problem: Problem) -> Result<Action, Error> {
        self.finish(world, Outcome::Problem(problem), None).await
    }

    /// Reports an error that may pass, and hands it to the backoff.
    pub(super) async fn fail(&self, error: Error) -> Result<Action, Error> {
        let outcome = Outcome::Error(error.to_string());
        let _ = self
            .report(&World::from_status(&self.previous), &outcome, None)
            .await;
        Err(error)
    }

    /// Reports how the reconcile ended and says when to look again.
    pub(super) async fn finish(
        &self,
        world: &World,
        outcome: Outcome,
        secrets: Option<&DesiredSecrets>,
    ) -> Result<Action, Error> {
        if let Outcome::Problem(problem) = &outcome {
            self.ctx.metrics.error(problem.reason.as_str());
        }
        let written = self.report(world, &outcome, secrets).await?;
        if let Outcome::Problem(problem) = &outcome
            && problem.reason.passes()
        {
            // No room anywhere now: look again after the backoff.
            let delay = self.ctx.backoff.failed(
                &self.uid,
                self.ctx.timing.backoff_base,
                self.ctx.timing.backoff_max,
            );
            return Ok(Action::requeue(delay));
        }
        if outcome == Outcome::Synced && self.verdict(world).reason.is_owners() {
            // Only the owner can mend it: look now and then to see it recover.
            return Ok(Action::requeue(backoff::jittered(
                self.ctx.timing.health_recheck,
            )));
        }
        // A change of image under way is judged as soon as the gateway answers.
        // (For a while: a change that never gets judged waits at the resync pace.)
        let judging = upgrade::awaits_verdict(written.upgrade.as_ref(), Utc::now())
            && self.power() == PowerState::Running;
        let ready = !judging
            && world.machine.as_ref().is_some_and(|m| {
                m.state.is_settled_as(self.power())
                    && (self.power() == PowerState::Stopped || report::gateway_trouble(m).is_none())
            });
        Ok(
            match decide::wait_after(&outcome, world.still_moving, ready) {
                Wait::ForChange => Action::await_change(),
                Wait::Transition => Action::requeue(self.ctx.timing.transition_requeue),
                Wait::Resync if outcome == Outcome::Paused => {
                    Action::requeue(backoff::jittered(self.ctx.timing.resync))
                }
                Wait::Resync => Action::requeue(backoff::jittered(self.poll_interval().await)),
            },
        )
    }

    /// The resync interval: the Instance's annotation when it is valid, else the
    /// controller's (and a Warning Event, once per value, naming the annotation).
    async fn poll_interval(&self) -> std::time::Duration {
        match self.instance.poll_interval() {
            Ok(interval) => {
                self.ctx.warnings.forget(&self.uid);
                interval.unwrap_or(self.ctx.timing.resync)
            }
            Err(message) => {
                if self.ctx.warnings.first(&self.uid, &message) {
                    tracing::warn!(instance = %self.instance.name_any(), namespace = self.instance.namespace().unwrap_or_default(), %message, "an annotation is ignored");
                    self.publish(Note::new(EventReason::InvalidAnnotation, message))
                        .await;
                }
                self.ctx.timing.resync
            }
        }
    }

    /// Publishes an Event about the Instance.
    pub(super) async fn publish(&self, note: Note) {
        self.ctx.publish(self.instance, note).await;
    }

    /// Computes the status, publishes the Events it calls for, and writes it; returns it.
    pub(super) async fn report(
        &self,
        world: &World,
        outcome: &Outcome,
        secrets: Option<&DesiredSecrets>,
    ) -> Result<InstanceStatus, Error> {
        let health = self.verdict(world);
        let running = world
            .machine
            .as_ref()
            .map(|m| m.config.image.as_str())
            .filter(|image| !image.is_empty())
            .or(self.previous.image.as_deref());
        let record = upgrade::observed(
            world.upgrade.clone(),
            self.previous.image.as_deref(),
            running,
            world.machine.as_ref(),
            self.verdict_before().as_ref(),
        );
        let fresh = upgrade::proven_since_it_began(world.machine.as_ref(), record.as_ref());
        let upgrade = upgrade::judge(record, running, &health, fresh);
        // Told once: when this reconcile judged it.
        let judged_now = upgrade.as_ref().filter(|judged| {
            judged.result != UpgradeResult::Upgrading
                && world
                    .upgrade
                    .as_ref()
                    .is_none_or(|u| u.to != judged.to || u.result != judged.result)
        });
        if let Some(judged) = judged_now {
            self.count_upgrade(judged).await;
        }
        let status = report::status(&ReportInput {
            previous: &self.previous,
            generation: self.instance.metadata.generation,
            now: Utc::now(),
            app: &self.app,
            app_exists: world.app_exists,
            machine: world.machine.as_ref(),
            power: self.power(),
            wanted_secrets: secrets.map(|s| s.digest.as_str()),
            written_secrets: world
                .written_secrets
                .as_ref()
                .map(|(digest, version)| (digest.as_str(), *version)),
            gateway_token_key: secrets.map(|s| s.gateway_token_key.as_str()),
            pairing: world.pairing.as_ref(),
            storage: &world.storage,
            outcome,
            reconcile_requested: self.reconcile_requested,
            retry_requested: self.retry_requested,
            restarted: self.restarted,
            health: &health,
            exits: &world.exits,
            heal: world.heal.as_ref(),
            upgrade: upgrade.as_ref(),
        });
        self.count_health(&status);
        let (notes, first_ready) = decide::announcements(
            &self.instance.name_any(),
            &self.previous,
            &status,
            outcome,
            self.reconcile_requested,
        );
        if first_ready && let Some(created) = &self.instance.meta().creation_timestamp {
            let created_ms = created.0.as_millisecond();
            let seconds = (Utc::now().timestamp_millis() - created_ms) as f64 / 1000.0;
            self.ctx.metrics.became_ready(seconds);
        }
        for note in notes {
            self.publish(note).await;
        }
        write::status(self.api, self.instance, &status).await?;
        if judged_now.is_some() {
            self.ctx.release.upgrade_judged();
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_reconcile_becomes_an_error_of_that_reconcile() {
        let value: Option<u32> = "not a number".parse().ok();
        let panicking = async move {
            let n = value.expect("an annotation the controller never expected");
            Ok(Action::requeue(Duration::from_secs(u64::from(n))))
        };
        match guarded(panicking).await {
            Err(Error::Panicked(message)) => {
                assert_eq!(message, "an annotation the controller never expected");
            }
            other => panic!("not caught: {other:?}"),
        }
        assert!(guarded(async { Ok(Action::await_change()) }).await.is_ok());
    }
}
