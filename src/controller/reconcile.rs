//! One reconcile of one Instance: observe Fly.io and the token source, plan the steps
//! (a pure function), perform them, and report the status (written with server-side
//! apply, and only when it changed). Deletion goes through [`super::cleanup`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use secrecy::SecretString;
use serde_json::json;

use super::context::Context;
use super::desired::{self, DesiredSecrets};
use super::error::Error;
use super::naming;
use super::plan::{self, AppState, Observation, Step, Target};
use super::report::{self, Outcome, ReportInput};
use super::settings::PlatformKeys;
use super::{backoff, cleanup, token};
use crate::crd::{FINALIZER, annotation, field_manager};
use crate::crd::{Instance, InstanceStatus, Phase, PowerState};
use crate::fly::{
    AppCreation, CreateMachine, FlyError, FlyErrorCode, Machine, MachineFilter, MachineState,
    UpdateMachine, WaitState,
};

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
        }
        Err(e) => ctx.metrics.reconcile_finished(Some(e.metric_label())),
    }
    if result.is_ok() {
        ctx.metrics.scheduled(1);
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

async fn reconcile_inner(instance: &Instance, ctx: &Context) -> Result<Action, Error> {
    let namespace = instance
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<Instance> = Api::namespaced(ctx.client.clone(), &namespace);
    let has_finalizer = instance.finalizers().iter().any(|f| f == FINALIZER);
    if instance.meta().deletion_timestamp.is_some() {
        if !has_finalizer {
            return Ok(Action::await_change());
        }
        return match cleanup::cleanup(instance, &api, ctx).await? {
            cleanup::Cleanup::Done => {
                remove_finalizer(&api, instance).await?;
                Ok(Action::await_change())
            }
            cleanup::Cleanup::Pending(after) => Ok(Action::requeue(after)),
        };
    }
    if !has_finalizer {
        // The change wakes the next reconcile, which finds the finalizer on. A patch
        // whose test fails was made from a stale copy: the change that made it stale is
        // on its way, and with it the next reconcile.
        match add_finalizer(&api, instance).await {
            Ok(()) => {}
            Err(Error::Kube(kube::Error::Api(e))) if e.code == 422 || e.code == 409 => {
                tracing::debug!(instance = %instance.name_any(), "the Instance changed under the finalizer patch; waiting for the change");
            }
            Err(e) => return Err(e),
        }
        return Ok(Action::await_change());
    }
    Reconciler::new(instance, &api, ctx)?.run().await
}

async fn add_finalizer(api: &Api<Instance>, instance: &Instance) -> Result<(), Error> {
    let patch = match &instance.meta().finalizers {
        None => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
        ]),
        Some(current) => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": current },
            { "op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER },
        ]),
    };
    json_patch(api, instance, patch).await
}

async fn remove_finalizer(api: &Api<Instance>, instance: &Instance) -> Result<(), Error> {
    let Some(index) = instance.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let patch = json!([
        { "op": "test", "path": format!("/metadata/finalizers/{index}"), "value": FINALIZER },
        { "op": "remove", "path": format!("/metadata/finalizers/{index}") },
    ]);
    match json_patch(api, instance, patch).await {
        // Gone already: the finalizer went with it.
        Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => Ok(()),
        other => other,
    }
}

async fn json_patch(
    api: &Api<Instance>,
    instance: &Instance,
    patch: serde_json::Value,
) -> Result<(), Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
    api.patch(
        &instance.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(patch),
    )
    .await?;
    Ok(())
}

/// Writes the status with server-side apply, when it differs from the stored one.
pub async fn write_status(
    api: &Api<Instance>,
    instance: &Instance,
    status: &InstanceStatus,
) -> Result<bool, Error> {
    if instance.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let body = json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "Instance",
        "status": status,
    });
    api.patch_status(
        &instance.name_any(),
        &PatchParams::apply(field_manager::CONTROLLER).force(),
        &Patch::Apply(body),
    )
    .await?;
    Ok(true)
}

/// What is known of Fly.io while a reconcile proceeds.
#[derive(Debug, Default)]
struct World {
    app_exists: bool,
    machine: Option<Machine>,
    /// Secrets written in this reconcile: (digest, version).
    written_secrets: Option<(String, u64)>,
    /// A wait ended before the machine got there; look again soon.
    still_moving: bool,
}

/// The state of one reconcile of one Instance.
struct Reconciler<'a> {
    instance: &'a Instance,
    api: &'a Api<Instance>,
    ctx: &'a Context,
    uid: String,
    app: String,
    previous: InstanceStatus,
    generation: Option<i64>,
    reconcile_requested: Option<&'a str>,
    retry_requested: Option<&'a str>,
    /// A new retry annotation asks to start over.
    retried: bool,
    restarted: bool,
}

/// The marker secrets an app carries.
struct Markers {
    /// This Instance's.
    ours: bool,
    /// Another Instance's, by name.
    foreign: Option<String>,
}

/// A problem the owner must fix, found while acting.
struct Problem {
    reason: &'static str,
    message: String,
    failed: bool,
}

impl From<Problem> for Outcome {
    fn from(p: Problem) -> Self {
        Outcome::Problem {
            reason: p.reason,
            message: p.message,
            failed: p.failed,
        }
    }
}

/// What a failed Fly.io call means for the steps: a problem the owner must fix when
/// Fly.io refused the request, else an error to retry with backoff.
fn refused(error: FlyError) -> Result<Result<(), Problem>, Error> {
    match terminal(&error) {
        Some(problem) => Ok(Err(problem)),
        None => Err(error.into()),
    }
}

/// A Fly.io error that more retries will not fix: a refused request.
fn terminal(error: &FlyError) -> Option<Problem> {
    match error {
        FlyError::Api {
            code: Some(FlyErrorCode::NameTaken),
            ..
        } => Some(Problem {
            reason: "AppNameConflict",
            message: format!("{error}: the app name belongs to another Fly.io organization"),
            failed: true,
        }),
        FlyError::Api {
            status: 401 | 403, ..
        } => Some(Problem {
            reason: "FlyUnauthorized",
            message: format!("{error}: check FLY_API_TOKEN and FLY_ORG_SLUG on the controller"),
            failed: false,
        }),
        e if e.is_terminal() => Some(Problem {
            reason: "FlyRejected",
            message: format!("{error}; fix the spec (or the controller's settings), then retry"),
            failed: true,
        }),
        _ => None,
    }
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
        let generation = instance.meta().generation;
        let retry_requested = instance.annotation(annotation::RETRY_REQUESTED_AT);
        let retried = retry_requested.is_some()
            && retry_requested != previous.last_handled_retry_at.as_deref();
        let restarted = retried || generation != previous.observed_generation;
        Ok(Self {
            instance,
            api,
            ctx,
            uid,
            app,
            previous,
            generation,
            reconcile_requested: instance.annotation(annotation::RECONCILE_REQUESTED_AT),
            retry_requested,
            retried,
            restarted,
        })
    }

    fn power(&self) -> PowerState {
        self.instance.spec.power_state
    }

    async fn run(self) -> Result<Action, Error> {
        if self.instance.is_paused() {
            self.report(
                &World::from_status(&self.previous),
                &Outcome::Paused,
                None,
                false,
            )
            .await?;
            return Ok(Action::requeue(backoff::jittered(self.ctx.timing.resync)));
        }
        if let Some(recorded) = self.previous.fly_app_name.as_deref()
            && !naming::is_own_app_name(recorded, &self.uid)
            && self.adopted().is_none_or(|a| a.app_name != recorded)
        {
            // Only the controller writes the status; an edit that names another app
            // does not hand that app to this Instance.
            let problem = Problem {
                reason: "AppNameConflict",
                message: format!(
                    "status.flyAppName names {recorded}, which this Instance neither made nor adopts; the controller leaves it alone"
                ),
                failed: true,
            };
            return self.stop_with(problem).await;
        }
        if self.previous.phase == Some(Phase::Failed) && !self.restarted {
            // FAILED waits for a spec change or a retry; a sync request is echoed.
            let outcome = Outcome::Problem {
                reason: self
                    .previous
                    .condition(crate::crd::ConditionType::Synced)
                    .map(|c| leak_reason(&c.reason))
                    .unwrap_or("Failed"),
                message: self.previous.message.clone().unwrap_or_default(),
                failed: true,
            };
            self.report(&World::from_status(&self.previous), &outcome, None, false)
                .await?;
            return Ok(Action::await_change());
        }
        if self.previous.phase.is_none()
            && !self.retried
            && let Some(message) = self.instance.annotation(annotation::IMPORTED_FAILED)
        {
            // Imported as the original left it: FAILED, holding the app it adopts once
            // that app is known to be one it may hold.
            let mut world = World::from_status(&self.previous);
            let mut problem = Problem {
                reason: "ImportedFailed",
                message: format!("{message}; retry to provision it again"),
                failed: true,
            };
            if self.adopted().is_some() {
                match self.claim_adoption().await {
                    Ok(Ok(exists)) => world.app_exists = exists,
                    Ok(Err(conflict)) => problem = conflict,
                    Err(e) => return self.fail(e).await,
                }
            }
            return self.stop_in(&world, problem).await;
        }
        if let Some(image) = &self.instance.spec.image
            && !self.ctx.allowed_images.allows(image)
        {
            let problem = Problem {
                reason: "ImageNotAllowed",
                message: format!(
                    "spec.image {image:?} is not from a repository the controller allows ({}); the platform's keys go to those images only, so nothing runs until the image changes",
                    self.ctx.allowed_images.describe()
                ),
                failed: false,
            };
            return self.stop_with(problem).await;
        }
        let provider = self.instance.spec.effective_provider();
        let Some(platform_key) = self.ctx.platform_keys.get(provider).cloned() else {
            let variable = PlatformKeys::variable(provider);
            let problem = Problem {
                reason: "PlatformKeyMissing",
                message: format!(
                    "{variable} is not set on the controller, so no {} assistant can run; set it and restart the controller",
                    provider.as_str()
                ),
                failed: false,
            };
            return self.stop_with(problem).await;
        };
        let namespace = self.instance.namespace().unwrap_or_default();
        let token = match token::resolve(
            self.instance,
            &namespace,
            &self.ctx.client,
            &self.ctx.db,
            &self.ctx.keyring,
        )
        .await
        {
            Ok(Ok(token)) => token,
            Ok(Err(unavailable)) => {
                return self
                    .stop_with(Problem {
                        reason: "TokenUnavailable",
                        message: unavailable.0,
                        failed: false,
                    })
                    .await;
            }
            Err(e) => return self.fail(e).await,
        };
        if let Some(problem) = self.timed_out() {
            return self.stop_with(problem).await;
        }
        let secrets = desired::secrets(&self.uid, token, provider, platform_key);
        let config = desired::machine_config(self.instance, &self.ctx.machine_defaults);
        let mut world = match self.observe().await {
            Ok(Ok(world)) => world,
            Ok(Err(problem)) => return self.stop_with(problem).await,
            Err(e) => return self.fail(e).await,
        };
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
                applied_secrets: self.previous.secrets_digest.as_deref(),
                start_over: self.retried,
            },
        );
        match self.act(&steps, &mut world, &secrets, &config).await {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => {
                self.ctx.metrics.error(problem.reason);
                let outcome = Outcome::from(problem);
                self.announce_problem(&outcome).await;
                self.report(&world, &outcome, Some(&secrets), false).await?;
                return Ok(Action::await_change());
            }
            Err(e) => {
                let outcome = Outcome::Problem {
                    reason: "ReconcileError",
                    message: e.to_string(),
                    failed: false,
                };
                // Best effort: the error itself is what the backoff acts on.
                let _ = self.report(&world, &outcome, Some(&secrets), false).await;
                return Err(e);
            }
        }
        let ready = world
            .machine
            .as_ref()
            .is_some_and(|m| m.state.is_settled_as(self.power()));
        self.report(&world, &Outcome::Synced, Some(&secrets), ready)
            .await?;
        Ok(if world.still_moving || !ready {
            Action::requeue(self.ctx.timing.transition_requeue)
        } else {
            Action::requeue(backoff::jittered(self.poll_interval().await))
        })
    }

    /// The resync interval: the Instance's annotation when it is valid, else the
    /// controller's (and a Warning Event, once per value, naming the annotation).
    async fn poll_interval(&self) -> Duration {
        match self.instance.poll_interval() {
            Ok(interval) => {
                self.ctx.warnings.forget(&self.uid);
                interval.unwrap_or(self.ctx.timing.resync)
            }
            Err(message) => {
                if self.ctx.warnings.first(&self.uid, &message) {
                    tracing::warn!(instance = %self.instance.name_any(), namespace = self.instance.namespace().unwrap_or_default(), %message, "an annotation is ignored");
                    self.ctx
                        .publish(
                            self.instance,
                            true,
                            "InvalidAnnotation",
                            "Reconcile",
                            message,
                        )
                        .await;
                }
                self.ctx.timing.resync
            }
        }
    }

    /// A transition that has lasted longer than the timeout.
    fn timed_out(&self) -> Option<Problem> {
        let since = self.previous.progressing_since?;
        let phase = self.previous.phase?;
        let transitional = matches!(
            phase,
            Phase::Creating | Phase::Provisioning | Phase::Starting | Phase::Stopping
        );
        let elapsed = (Utc::now() - since.0).to_std().ok()?;
        (transitional && !self.restarted && elapsed > self.ctx.timing.transition_timeout).then(
            || Problem {
                reason: "Timeout",
                message: format!(
                    "{} for more than {}: the machine did not reach {}; retry to start over",
                    phase.as_str(),
                    humantime::format_duration(self.ctx.timing.transition_timeout),
                    match self.power() {
                        PowerState::Running => "started",
                        PowerState::Stopped => "stopped",
                    }
                ),
                failed: true,
            },
        )
    }

    /// Reports a problem that stops the reconcile before Fly.io is touched, and waits
    /// for a change (a FAILED Instance, a Secret, the controller's settings).
    async fn stop_with(&self, problem: Problem) -> Result<Action, Error> {
        self.stop_in(&World::from_status(&self.previous), problem)
            .await
    }

    /// [`Self::stop_with`], reporting `world` as what Fly.io holds.
    async fn stop_in(&self, world: &World, problem: Problem) -> Result<Action, Error> {
        self.ctx.metrics.error(problem.reason);
        let outcome = Outcome::from(problem);
        self.announce_problem(&outcome).await;
        self.report(world, &outcome, None, false).await?;
        Ok(Action::await_change())
    }

    /// Reports an error that may pass, and hands it to the backoff.
    async fn fail(&self, error: Error) -> Result<Action, Error> {
        let outcome = Outcome::Problem {
            reason: "ReconcileError",
            message: error.to_string(),
            failed: false,
        };
        let _ = self
            .report(&World::from_status(&self.previous), &outcome, None, false)
            .await;
        Err(error)
    }

    /// An Event for a problem, once per change of reason.
    async fn announce_problem(&self, outcome: &Outcome) {
        let Outcome::Problem {
            reason, message, ..
        } = outcome
        else {
            return;
        };
        let before = self.previous.condition(crate::crd::ConditionType::Synced);
        if before.is_some_and(|c| c.reason == *reason && c.message == *message) {
            return;
        }
        self.ctx
            .publish(self.instance, true, reason, "Reconcile", message.clone())
            .await;
    }

    /// What Fly.io holds for this Instance. `Ok(Err)` when the app's name belongs to
    /// someone else.
    async fn observe(&self) -> Result<Result<World, Problem>, Error> {
        let fly = &self.ctx.fly;
        let mut world = World::default();
        let adopting = self.previous.fly_app_name.is_none() && self.adopted().is_some();
        if adopting {
            match self.claim_adoption().await? {
                Err(problem) => return Ok(Err(problem)),
                // Gone since: the Instance makes it again under the same name.
                Ok(false) => return Ok(Ok(world)),
                Ok(true) => {
                    world.app_exists = true;
                    self.ctx
                        .publish(
                            self.instance,
                            false,
                            "Adopted",
                            "Adopt",
                            format!("took over the existing Fly.io app {}", self.app),
                        )
                        .await;
                }
            }
        }
        let known_machine = self.previous.fly_machine_id.as_ref().or_else(|| {
            self.adopted()
                .filter(|_| adopting)
                .and_then(|a| a.machine_id.as_ref())
        });
        if let Some(id) = known_machine {
            match fly.get_machine(&self.app, id).await {
                Ok(machine) => {
                    world.app_exists = true;
                    world.machine = Some(machine);
                    return Ok(Ok(world));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.previous.fly_app_name.is_none() && !adopting {
            // Nothing was ever made: the first step creates the app and tells.
            return Ok(Ok(world));
        }
        match fly.get_app(&self.app).await {
            Ok(app) if app.organization.slug != fly.org_slug() => {
                return Ok(Err(Problem {
                    reason: "AppNameConflict",
                    message: format!(
                        "the Fly.io app {} belongs to organization {:?}, not {:?}",
                        self.app,
                        app.organization.slug,
                        fly.org_slug()
                    ),
                    failed: true,
                }));
            }
            Ok(_) => world.app_exists = true,
            Err(e) if e.is_not_found() => return Ok(Ok(world)),
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
        Ok(Ok(world))
    }

    /// Performs the steps. `Ok(Err)` for a problem the owner must fix.
    async fn act(
        &self,
        steps: &[Step],
        world: &mut World,
        secrets: &DesiredSecrets,
        config: &crate::fly::MachineConfig,
    ) -> Result<Result<(), Problem>, Error> {
        let fly = &self.ctx.fly;
        let app = self.app.as_str();
        for step in steps {
            tracing::debug!(instance = %self.instance.name_any(), ?step, "step");
            match *step {
                Step::CreateApp => {
                    if self.previous.fly_app_name.is_none() {
                        // Recorded before the create, so that after a crash the app is
                        // known to be ours even before it carries its marker.
                        self.report(world, &Outcome::Synced, None, false).await?;
                    }
                    match fly.create_app_checked(app).await {
                        Ok(AppCreation::Created(_)) => {
                            self.ctx
                                .publish(
                                    self.instance,
                                    false,
                                    "AppCreated",
                                    "CreateApp",
                                    format!("created Fly.io app {app}"),
                                )
                                .await;
                        }
                        Ok(AppCreation::Existing(_)) => {
                            let ours_by_record = self.previous.fly_app_name.as_deref() == Some(app);
                            if !ours_by_record && !self.carries_marker().await? {
                                return Ok(Err(Problem {
                                    reason: "AppNameConflict",
                                    message: format!(
                                        "the Fly.io app {app} exists and is not this Instance's: it lacks the {} marker secret",
                                        naming::marker_secret(&self.uid)
                                    ),
                                    failed: true,
                                }));
                            }
                        }
                        Err(e) => return refused(e),
                    }
                    world.app_exists = true;
                }
                Step::WriteSecrets => {
                    let version = fly
                        .replace_secrets(app, &secrets.values, &secrets.stale)
                        .await;
                    let version = match version {
                        Ok(v) => v,
                        Err(e) => return refused(e),
                    };
                    world.written_secrets = Some((secrets.digest.clone(), version));
                    self.ctx
                        .publish(
                            self.instance,
                            false,
                            "SecretsUpdated",
                            "SetSecrets",
                            format!("wrote the app secrets (version {version})"),
                        )
                        .await;
                }
                Step::CreateMachine { launch } => {
                    let request = CreateMachine {
                        name: Some(naming::machine_name(self.instance)),
                        region: Some(self.instance.spec.region.as_str().to_owned()),
                        config: config.clone(),
                        min_secrets_version: self.secrets_version(world),
                        skip_launch: !launch,
                    };
                    let machine = match fly.create_machine(app, request).await {
                        Ok(machine) => machine,
                        Err(e) if e.is_conflict() => {
                            // A machine with our name exists, made by an earlier attempt.
                            let named = fly.list_machines(app, &MachineFilter::default()).await?;
                            match named.into_iter().find(|m| {
                                m.name == naming::machine_name(self.instance)
                                    && m.state != MachineState::Destroyed
                            }) {
                                Some(m) => m,
                                None => return Err(e.into()),
                            }
                        }
                        Err(e) => return refused(e),
                    };
                    self.ctx
                        .publish(
                            self.instance,
                            false,
                            "MachineCreated",
                            "CreateMachine",
                            format!("created machine {} in {}", machine.id, machine.region),
                        )
                        .await;
                    world.machine = Some(machine);
                    // Recorded at once, before any wait, so a restart finds it.
                    self.report(world, &Outcome::Synced, Some(secrets), false)
                        .await?;
                }
                Step::UpdateMachine { launch } => {
                    let Some(machine) = world.machine.as_ref() else {
                        continue;
                    };
                    let request = UpdateMachine {
                        config: desired::updated_config(&machine.config, config),
                        current_version: Some(machine.current_version().to_owned())
                            .filter(|v| !v.is_empty()),
                        min_secrets_version: self.secrets_version(world),
                        skip_launch: !launch,
                    };
                    let updated = match fly.update_machine(app, &machine.id, &request).await {
                        Ok(updated) => updated,
                        Err(e) => return refused(e),
                    };
                    self.ctx
                        .publish(
                            self.instance,
                            false,
                            "MachineUpdated",
                            "UpdateMachine",
                            format!(
                                "updated machine {} to version {}",
                                updated.id,
                                updated.current_version()
                            ),
                        )
                        .await;
                    world.machine = Some(updated);
                }
                Step::Start => {
                    let Some(machine) = world.machine.as_mut() else {
                        continue;
                    };
                    fly.start_machine(app, &machine.id).await?;
                    machine.state = MachineState::Starting;
                }
                Step::Stop => {
                    let Some(machine) = world.machine.as_mut() else {
                        continue;
                    };
                    fly.stop_machine(app, &machine.id).await?;
                    machine.state = MachineState::Stopping;
                }
                Step::Wait(state) => {
                    let Some(machine) = world.machine.as_mut() else {
                        continue;
                    };
                    let version = machine.current_version().to_owned();
                    let waited = fly
                        .wait_machine(
                            app,
                            &machine.id,
                            Some(&version).filter(|v| !v.is_empty()).map(String::as_str),
                            state,
                            self.ctx.timing.machine_wait,
                        )
                        .await;
                    match waited {
                        Ok(answer) if answer.ok || answer.state.as_str() == state.as_str() => {
                            machine.state = MachineState::parse(state.as_str());
                            let (reason, verb) = match state {
                                WaitState::Stopped => ("MachineStopped", "stopped"),
                                _ => ("MachineStarted", "started"),
                            };
                            self.ctx
                                .publish(
                                    self.instance,
                                    false,
                                    reason,
                                    "Wait",
                                    format!("machine {} {verb}", machine.id),
                                )
                                .await;
                        }
                        Ok(_) => {
                            world.still_moving = true;
                            break;
                        }
                        Err(e) if e.status() == Some(408) => {
                            world.still_moving = true;
                            break;
                        }
                        Err(e) if e.status() == Some(400) || e.is_not_found() => {
                            // The machine moved on (another version, or it is gone):
                            // look at it afresh.
                            *machine = fly.get_machine(app, &machine.id).await?;
                            world.still_moving = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// The secrets version the machine must boot with.
    fn secrets_version(&self, world: &World) -> Option<u64> {
        world
            .written_secrets
            .as_ref()
            .map(|(_, version)| *version)
            .or(self.previous.secrets_version)
    }

    /// The Fly.io resources the Instance takes over, if any.
    fn adopted(&self) -> Option<&crate::crd::Adoption> {
        self.instance.spec.adopt.as_ref()
    }

    /// Claims the app the Instance adopts before anything trusts it: only an app of the
    /// original system's name form, in our organization, carrying no other Instance's
    /// marker. This Instance's marker is written before any other change and the app is
    /// checked again, so that of two Instances adopting one app at once at most one
    /// holds it (a loser withdraws its marker). `Ok(Ok(false))` when the app is gone.
    async fn claim_adoption(&self) -> Result<Result<bool, Problem>, Error> {
        let fly = &self.ctx.fly;
        let conflict = |message: String| {
            Ok(Err(Problem {
                reason: "AppNameConflict",
                message,
                failed: true,
            }))
        };
        if crate::domain::parse_original_app_name(&self.app).is_none() {
            return Ok(Err(Problem {
                reason: "AdoptionRefused",
                message: format!(
                    "spec.adopt names {}, which is not an app of the original system (openclaw-<8 characters>-<milliseconds>); only apps `fasterclaw import-original` hands over can be adopted",
                    self.app
                ),
                failed: true,
            }));
        }
        // One claim of an app at a time in this process; the check below holds across
        // processes (a leader that just lost its Lease) too.
        let _claiming = self.ctx.adoptions.lock(&self.app).await;
        match fly.get_app(&self.app).await {
            Ok(app) if app.organization.slug != fly.org_slug() => {
                return conflict(format!(
                    "the Fly.io app {} to adopt belongs to organization {:?}, not {:?}",
                    self.app,
                    app.organization.slug,
                    fly.org_slug()
                ));
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Ok(false)),
            Err(e) => return Err(e.into()),
        }
        let markers = self.markers().await?;
        if let Some(other) = markers.foreign {
            return conflict(format!(
                "the Fly.io app {} to adopt is another Instance's already: it carries the marker secret {other}",
                self.app
            ));
        }
        let marker = naming::marker_secret(&self.uid);
        if !markers.ours {
            let value = BTreeMap::from([(marker.clone(), SecretString::from(self.uid.clone()))]);
            fly.set_secrets(&self.app, &value).await?;
        }
        if let Some(other) = self.markers().await?.foreign {
            // Another Instance claimed it at the same time: step back.
            fly.unset_secrets(&self.app, &[marker.as_str()]).await?;
            return conflict(format!(
                "another Instance claimed the Fly.io app {} at the same time (marker secret {other})",
                self.app
            ));
        }
        Ok(Ok(true))
    }

    /// Which markers the app carries: this Instance's, and another's.
    async fn markers(&self) -> Result<Markers, Error> {
        let ours = naming::marker_secret(&self.uid);
        let secrets = self.ctx.fly.list_secrets(&self.app).await?;
        Ok(Markers {
            ours: secrets.iter().any(|s| s.name == ours),
            foreign: secrets
                .into_iter()
                .map(|s| s.name)
                .find(|name| name.starts_with(naming::MARKER_PREFIX) && *name != ours),
        })
    }

    /// Whether the app carries this Instance's marker secret.
    async fn carries_marker(&self) -> Result<bool, Error> {
        Ok(self.markers().await?.ours)
    }

    /// Computes and writes the status.
    async fn report(
        &self,
        world: &World,
        outcome: &Outcome,
        secrets: Option<&DesiredSecrets>,
        ready: bool,
    ) -> Result<(), Error> {
        let written = world
            .written_secrets
            .as_ref()
            .map(|(digest, version)| (digest.as_str(), Some(*version)));
        let secrets_current = match (secrets, &self.previous.secrets_digest, written) {
            (Some(want), _, Some((digest, _))) => want.digest == digest,
            (Some(want), Some(applied), None) => &want.digest == applied,
            (None, Some(_), _) => true,
            _ => false,
        };
        let app_named = world.app_exists
            || self.previous.fly_app_name.is_some()
            || matches!(outcome, Outcome::Synced);
        let status = report::status(&ReportInput {
            previous: &self.previous,
            generation: self.generation,
            now: Utc::now(),
            app: app_named.then_some(self.app.as_str()),
            app_exists: world.app_exists,
            machine: world.machine.as_ref(),
            power: self.power(),
            secrets: written,
            secrets_current,
            outcome,
            reconcile_requested: self.reconcile_requested,
            // A retry counts as handled once it reached a definite outcome, not when
            // an error that may pass interrupted it.
            retry_requested: self.retry_requested.filter(|_| {
                !matches!(
                    outcome,
                    Outcome::Problem {
                        reason: "ReconcileError",
                        ..
                    }
                )
            }),
            restarted: self.restarted,
        });
        let became_ready = ready
            && self
                .previous
                .condition(crate::crd::ConditionType::Ready)
                .is_none_or(|c| c.status != "True");
        let first_ready = became_ready
            && !self.previous.provisioning_steps.iter().any(|s| {
                s.name == crate::crd::ProvisioningStepName::MachineStarted
                    && s.completed_at.is_some()
            });
        if first_ready && let Some(created) = &self.instance.meta().creation_timestamp {
            let created_ms = created.0.as_millisecond();
            let seconds = (Utc::now().timestamp_millis() - created_ms) as f64 / 1000.0;
            self.ctx.metrics.became_ready(seconds);
        }
        if became_ready {
            self.ctx
                .publish(
                    self.instance,
                    false,
                    "Ready",
                    "Reconcile",
                    format!(
                        "{} is {}",
                        self.instance.name_any(),
                        status.phase.map(Phase::as_str).unwrap_or("ready")
                    ),
                )
                .await;
        }
        if self.reconcile_requested.is_some()
            && self.reconcile_requested != self.previous.last_handled_reconcile_at.as_deref()
        {
            self.ctx
                .publish(
                    self.instance,
                    false,
                    "ReconcileRequestHandled",
                    "Reconcile",
                    "synced on request".to_owned(),
                )
                .await;
        }
        write_status(self.api, self.instance, &status).await?;
        Ok(())
    }
}

impl World {
    /// What the status says of Fly.io, for reports made without looking.
    fn from_status(status: &InstanceStatus) -> Self {
        let machine = status.fly_machine_id.as_ref().map(|id| Machine {
            id: id.clone(),
            state: match status.phase {
                Some(Phase::Running) => MachineState::Started,
                Some(Phase::Stopped) => MachineState::Stopped,
                Some(Phase::Starting) => MachineState::Starting,
                Some(Phase::Stopping) => MachineState::Stopping,
                Some(Phase::Failed) => MachineState::Failed,
                _ => MachineState::Created,
            },
            private_ip: status.ip_address.clone().unwrap_or_default(),
            region: status.region.clone().unwrap_or_default(),
            ..Machine::default()
        });
        Self {
            app_exists: status.provisioning_steps.iter().any(|s| {
                s.name == crate::crd::ProvisioningStepName::AppCreated && s.completed_at.is_some()
            }),
            machine,
            written_secrets: None,
            still_moving: false,
        }
    }
}

/// The stable reasons a FAILED Instance may carry, for re-reporting it unchanged.
fn leak_reason(reason: &str) -> &'static str {
    match reason {
        "Timeout" => "Timeout",
        "FlyRejected" => "FlyRejected",
        "AppNameConflict" => "AppNameConflict",
        "ImportedFailed" => "ImportedFailed",
        "AdoptionRefused" => "AdoptionRefused",
        _ => "Failed",
    }
}

#[cfg(test)]
mod tests {
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
