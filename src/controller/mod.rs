//! The Instance controller: a kube-runtime `Controller` that drives each Instance's
//! Fly.io app and machine to its spec and keeps its status true.
//!
//! Each reconcile observes Fly.io and the token source, plans the steps with a pure
//! function ([`plan`]), performs them, and reports the status ([`report`]) with
//! server-side apply, only when it changed. One replica acts at a time (a Lease);
//! the others stand by.

mod act;
mod backoff;
mod cleanup;
mod context;
mod decide;
mod desired;
mod error;
mod events;
mod followed;
mod healing;
mod health;
mod images;
mod leader;
mod markers;
mod metrics;
mod naming;
mod observe;
mod outcome;
mod pairing;
mod plan;
mod reconcile;
mod regions;
mod release;
mod report;
mod rollout;
mod server;
pub mod settings;
mod storage;
mod token;
mod upgrade;
mod world;
mod write;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

pub use error::{Error, SettingsError};
pub use metrics::Metrics;

use crate::crd::Instance;
use crate::fly::{CallObserver, FlyClient};
use crate::startup::{self, StartError};
use context::Context;
use settings::{ControllerArgs, PlatformKeys};

/// This replica's name in the Lease.
fn identity(args: &ControllerArgs) -> String {
    args.pod_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "controller".to_owned());
            format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
        })
}

/// Runs the controller until SIGTERM or SIGINT.
pub async fn run(args: ControllerArgs) -> Result<(), StartError> {
    let fly_config = args.fly.config().map_err(StartError::setting)?;
    let keyring = args.encryption.keyring().map_err(StartError::setting)?;
    args.validate().map_err(StartError::setting)?;
    let allowed_images = args.allowed_images().map_err(StartError::setting)?;
    let platform_keys =
        PlatformKeys::from_args(&args.platform_keys, |name| std::env::var(name).ok());

    let metrics = Arc::new(Metrics::default());
    let observer = {
        let metrics = metrics.clone();
        CallObserver::new(move |operation, status| metrics.fly_call(operation, status))
    };
    let fly = FlyClient::new(fly_config)
        .map_err(StartError::setting)?
        .with_observer(observer);
    let db = startup::database(&args.database).await?;
    let client = startup::kubernetes().await?;
    let instances: Api<Instance> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    check_crd(&instances).await?;

    let shutdown = startup::shutdown_signal();
    let health = Arc::new(server::Health {
        metrics: metrics.clone(),
        ready: Default::default(),
    });
    let server = server::serve(args.metrics_addr, health.clone(), shutdown.clone()).await?;

    let identity = identity(&args);
    let ctx = Arc::new(Context {
        client: client.clone(),
        fly,
        db,
        keyring,
        platform_keys,
        machine_defaults: args.machine_defaults(),
        storage: args.storage(),
        regions: Default::default(),
        timing: args.timing(),
        health: args.health_policy(),
        app_prefix: args.fly_app_prefix.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "fasterclaw-controller".to_owned(),
                instance: Some(identity.clone()),
            },
        ),
        metrics: metrics.clone(),
        backoff: Default::default(),
        allowed_images,
        release: followed::FollowedRelease::new(&args.fleet_release),
        warnings: Default::default(),
        adoptions: Default::default(),
        carried: Default::default(),
    });

    let (leading_tx, mut leading) = watch::channel(!args.leader_election);
    let election = if args.leader_election {
        let namespace = args
            .lease_namespace
            .clone()
            .or_else(|| args.watch_namespace.clone())
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_owned());
        let election = leader::LeaderElection::new(
            client.clone(),
            &namespace,
            &args.lease_name,
            identity,
            args.lease_duration,
        );
        tracing::info!(identity = election.identity(), namespace, lease = %args.lease_name, "campaigning for the leader Lease");
        Some(tokio::spawn(election.run(leading_tx, shutdown.clone())))
    } else {
        None
    };
    health.ready.store(true, Ordering::SeqCst);

    loop {
        // Stand by until this replica leads, or the process is told to stop.
        tokio::select! {
            () = shutdown.clone() => break,
            changed = leading.wait_for(|l| *l) => if changed.is_err() { break },
        }
        metrics.set_leader(true);
        let lost = {
            let mut leading = leading.clone();
            async move {
                let _ = leading.wait_for(|l| !*l).await;
            }
        };
        let controller = controller(instances.clone(), &args, ctx.clone(), shutdown.clone());
        tokio::select! {
            () = controller => {
                metrics.set_leader(false);
                break;
            }
            () = lost => {
                // Stop acting at once: the new leader owns every Instance now.
                tracing::warn!("no longer the leader: stopped reconciling");
                metrics.set_leader(false);
            }
        }
    }
    if let Some(election) = election {
        let _ = election.await;
    }
    let _ = server.await;
    Ok(())
}

/// How long start-up waits out an API server that answers 5xx or 429 or not at all.
const STARTUP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Checks that Instances can be listed (the CRD is installed, access is granted),
/// trying again while the API server's failure may pass.
async fn check_crd(instances: &Api<Instance>) -> Result<(), StartError> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        let error = match instances.list(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(StartError::CrdMissing(status.message));
            }
            Err(e) => e,
        };
        let passing = match &error {
            kube::Error::Api(status) => status.code >= 500 || status.code == 429,
            _ => true,
        };
        if !passing || started.elapsed() >= STARTUP_PATIENCE {
            return Err(StartError::Kubernetes(error.to_string()));
        }
        tracing::warn!(error = %error, "the Kubernetes API failed; trying again");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

/// The kube-runtime Controller: Instances (changes to their spec, metadata, finalizers
/// or annotations; not their status, which only the controller writes) and the Secrets
/// they take their token from.
async fn controller(
    instances: Api<Instance>,
    args: &ControllerArgs,
    ctx: Arc<Context>,
    shutdown: futures::future::Shared<futures::future::BoxFuture<'static, ()>>,
) {
    let (reader, writer) = reflector::store::<Instance>();
    // List then watch (no WatchList streaming): works on every Kubernetes from 1.25 on.
    let stream = watcher(instances, watcher::Config::default())
        .default_backoff()
        .modify(|instance| {
            instance.managed_fields_mut().clear();
        })
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::annotations)
                .combine(predicates::finalizers)
                .combine(deletion),
            Default::default(),
        );
    let secrets: Api<PartialObjectMeta<Secret>> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let secret_reader = reader.clone();
    // Metadata only: Secret values never enter the controller through the watch.
    let secret_changes = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let config = ControllerConfig::default().concurrency(args.max_concurrent_reconciles);
    release::read_once(&ctx).await;
    // Ends with this function: when leadership is lost, the rollout stops too.
    let _rollout = release::spawn(
        ctx.clone(),
        reader.clone(),
        args.rollout_interval,
        shutdown.clone(),
    );
    Controller::for_stream(stream, reader)
        .with_config(config)
        .watches_stream(secret_changes, move |secret| {
            let namespace = secret.namespace();
            let name = secret.name_any();
            secret_reader
                .state()
                .into_iter()
                .filter(|i| {
                    i.namespace() == namespace
                        && i.spec
                            .telegram_token
                            .secret_key_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                })
                .map(|i| ObjectRef::from_obj(&*i))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

/// A predicate that changes when deletion starts.
fn deletion(instance: &Instance) -> Option<u64> {
    instance
        .meta()
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second().unsigned_abs())
}
