//! A fleet release at scale, with the controller as a process (release build): N
//! Instances settled on the stable image, then a healthy candidate rolled through all of
//! them `maxUpgrading` at a time, on the Kubernetes API simulator and the Fly simulator
//! (machines without processes) with 50 ms per call, Fly's rate limits and 300 ms boots.
//! The rollout's wall time is set against its floor, measured in the same run on the
//! same simulator: one machine update and the wait for it to start again, with the
//! product's Fly client, times ⌈N / maxUpgrading⌉. The release's `status.upgrading`
//! and the Instances changing at once (from their watch) must never exceed
//! `maxUpgrading`: the bench fails if they do.
//!
//! Run with `./scripts/bench rollout`. Sizes: `BENCH_INSTANCES` (default 1000),
//! `BENCH_ROLLOUT_CONCURRENCY` (`maxUpgrading`, 16); the controller's
//! `BENCH_ROLLOUT_INTERVAL` (200ms), `BENCH_TRANSITION_REQUEUE` (1s) and
//! `BENCH_RECONCILES` (`MAX_CONCURRENT_RECONCILES`, twice the concurrency, at least 32).

mod support;

use support::{create_instances, free_addr, peak_rss_mib, setting, token_secret};

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fasterclaw::crd::{FleetRelease, Instance, ReleasePhase, UpgradeResult, annotation};
use fasterclaw::fly::{
    CreateMachine, FlyClient, FlyConfig, MachineConfig, UpdateMachine, WaitState,
};
use fasterclaw_sim::fly::{FaultPlan, FaultRule, FlySim};
use fasterclaw_sim::kube::KubeSimConfig;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

const FLY_LATENCY_MS: u64 = 50;
const BOOT_MS: u64 = 300;
const STABLE: &str = "ghcr.io/openclaw/openclaw:2026.8.2";
const CANDIDATE: &str = "ghcr.io/openclaw/openclaw:2026.9.6";
const RELEASE: &str = "fleet";
/// Updates measured for the floor; the median is taken.
const FLOOR_SAMPLES: usize = 7;

fn text_setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn main() {
    support::main(|runtime| runtime.block_on(run()));
}

struct Rig {
    kube: support::KubeRig,
    fly: FlySim,
}

async fn start_rig() -> Rig {
    let kube = support::kube_rig(KubeSimConfig {
        change_log: 200_000,
        ..KubeSimConfig::default()
    })
    .await;
    kube.kube
        .install_crds_from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/fleetrelease.yaml"),
        )
        .expect("the FleetRelease CRD");
    let fly = support::fly_sim(Duration::from_millis(BOOT_MS)).await;
    Rig { kube, fly }
}

/// The controller's settings that shape a rollout.
struct Timing {
    rollout_interval: String,
    transition_requeue: String,
    reconciles: u64,
}

fn controller(rig: &Rig, timing: &Timing) -> Child {
    let database_url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL: run ./scripts/bench rollout");
    Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
        .arg("controller")
        .env_clear()
        .env("KUBECONFIG", &rig.kube.kubeconfig)
        .env("FLY_API_URL", rig.fly.base_url())
        .env("FLY_API_TOKEN", rig.fly.token())
        .env("DATABASE_URL", database_url)
        .env(
            "ENCRYPTION_KEY",
            "5f1d3a9c0b7e4d2f8a6c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a2c4e6b8d0f",
        )
        .env("ANTHROPIC_API_KEY", "sk-ant-bench")
        .env("METRICS_ADDR", free_addr().to_string())
        .env("FLEET_RELEASE", RELEASE)
        .env("ROLLOUT_INTERVAL", &timing.rollout_interval)
        .env("TRANSITION_REQUEUE", &timing.transition_requeue)
        .env("HEALTH_STARTUP_GRACE", "1s")
        .env("MAX_CONCURRENT_RECONCILES", timing.reconciles.to_string())
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fasterclaw controller starts")
}

/// Peak resident memory of a process, in MiB.
async fn create_release(client: &kube::Client) {
    let api: Api<FleetRelease> = Api::all(client.clone());
    let release: FleetRelease = serde_json::from_value(json!({
        "apiVersion": "fasterclaw.io/v1alpha1", "kind": "FleetRelease",
        "metadata": { "name": RELEASE },
        "spec": { "stable": STABLE },
    }))
    .expect("a FleetRelease");
    api.create(&PostParams::default(), &release)
        .await
        .expect("the release");
}

fn image_of(instance: &Instance) -> Option<&str> {
    instance.status.as_ref().and_then(|s| s.image.as_deref())
}

fn phase_of(release: &FleetRelease) -> Option<ReleasePhase> {
    release.status.as_ref().and_then(|s| s.phase)
}

/// The release is Complete for its current generation.
fn complete(release: &FleetRelease) -> bool {
    phase_of(release) == Some(ReleasePhase::Complete)
        && release
            .status
            .as_ref()
            .is_some_and(|s| s.observed_generation == release.metadata.generation)
}

/// Waits until every Instance runs `image` and the release is Complete.
async fn settle(client: &kube::Client, count: usize, image: &str, limit: Duration) {
    let started = Instant::now();
    let instances: Api<Instance> = Api::namespaced(client.clone(), "default");
    let releases: Api<FleetRelease> = Api::all(client.clone());
    loop {
        let on_image = instances
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|i| image_of(i) == Some(image))
                    .count()
            })
            .unwrap_or(0);
        let done = on_image >= count
            && releases
                .get_opt(RELEASE)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| complete(&r));
        if done {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{on_image} of {count} Instances run {image} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn fly_client(fly: &FlySim) -> FlyClient {
    FlyClient::new(FlyConfig {
        api_token: fly.token().to_owned().into(),
        api_url: fly.base_url().parse().expect("a URL"),
        org_slug: "personal".to_owned(),
    })
    .expect("a Fly client")
}

/// The floor of one Instance's change: a machine updated to another image, then waited
/// for until that version is started, as the controller does it; the median of a few.
async fn one_update_and_wait(fly: &FlySim) -> Duration {
    let client = fly_client(fly);
    let app = "bench-floor";
    client.create_app(app).await.expect("the floor's app");
    let mut machine = client
        .create_machine(
            app,
            CreateMachine {
                name: None,
                region: Some("lax".to_owned()),
                config: MachineConfig {
                    image: STABLE.to_owned(),
                    ..MachineConfig::default()
                },
                min_secrets_version: None,
                skip_launch: false,
            },
        )
        .await
        .expect("the floor's machine");
    client
        .wait_machine(
            app,
            &machine.id,
            Some(machine.current_version()),
            WaitState::Started,
            Duration::from_secs(30),
        )
        .await
        .expect("the floor's machine starts");
    let mut samples = Vec::with_capacity(FLOOR_SAMPLES);
    for n in 0..FLOOR_SAMPLES {
        // Fly allows one update per second per machine (bursts of three).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let image = if n % 2 == 0 { CANDIDATE } else { STABLE };
        let started = Instant::now();
        let updated = client
            .update_machine(
                app,
                &machine.id,
                &UpdateMachine {
                    config: MachineConfig {
                        image: image.to_owned(),
                        ..machine.config.clone()
                    },
                    current_version: Some(machine.current_version().to_owned()),
                    min_secrets_version: None,
                    skip_launch: false,
                },
            )
            .await
            .expect("the floor's update");
        let waited = client
            .wait_machine(
                app,
                &updated.id,
                Some(updated.current_version()),
                WaitState::Started,
                Duration::from_secs(30),
            )
            .await
            .expect("the floor's wait");
        samples.push(started.elapsed());
        assert!(waited.ok, "the updated machine started");
        machine = updated;
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// When the bench first saw each step of one Instance's change.
#[derive(Clone, Copy, Debug, Default)]
struct Steps {
    /// The release gave it the candidate (its annotation).
    given: Option<Instant>,
    /// Its status records the change to the candidate (the machine updated, started).
    recorded: Option<Instant>,
    /// Its status says the change is `Upgraded` and it runs the candidate.
    upgraded: Option<Instant>,
}

/// What the watches saw during the rollout.
#[derive(Debug, Default)]
struct Seen {
    steps: HashMap<String, Steps>,
    /// Instances given the candidate and not yet judged upgraded, now and at most.
    changing: usize,
    max_changing: usize,
    /// The release's `status.upgrading`, at most, over every status it wrote.
    max_upgrading: u32,
    release_writes: u64,
    /// Instances running the candidate, judged upgraded.
    upgraded: usize,
    /// The generation the release last said it completed.
    complete: Option<i64>,
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

fn observe_instance(seen: &Mutex<Seen>, instance: &Instance) {
    let now = Instant::now();
    let given = instance
        .annotations()
        .get(annotation::RELEASE_IMAGE)
        .is_some_and(|image| image == CANDIDATE);
    let upgrade = instance
        .status
        .as_ref()
        .and_then(|s| s.upgrade.as_ref())
        .filter(|u| u.to == CANDIDATE);
    let upgraded = upgrade.is_some_and(|u| u.result == UpgradeResult::Upgraded)
        && image_of(instance) == Some(CANDIDATE);
    let mut seen = lock(seen);
    let steps = seen.steps.entry(instance.name_any()).or_default();
    let before = steps.given.is_some() && steps.upgraded.is_none();
    if given && steps.given.is_none() {
        steps.given = Some(now);
    }
    if upgrade.is_some() && steps.recorded.is_none() {
        steps.recorded = Some(now);
    }
    let newly_upgraded = upgraded && steps.upgraded.is_none();
    if newly_upgraded {
        steps.upgraded = Some(now);
    }
    let after = steps.given.is_some() && steps.upgraded.is_none();
    match (before, after) {
        (false, true) => seen.changing += 1,
        (true, false) => seen.changing -= 1,
        _ => {}
    }
    if newly_upgraded {
        seen.upgraded += 1;
    }
    seen.max_changing = seen.max_changing.max(seen.changing);
}

/// Watches the Instances and the release for the rollout's figures.
fn watch(client: &kube::Client, seen: Arc<Mutex<Seen>>) -> Vec<tokio::task::JoinHandle<()>> {
    let instances: Api<Instance> = Api::namespaced(client.clone(), "default");
    let on_instances = seen.clone();
    let instances = tokio::spawn(async move {
        let mut stream = watcher(instances, watcher::Config::default()).boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(i) | watcher::Event::InitApply(i)) => {
                    observe_instance(&on_instances, &i);
                }
                Ok(_) => {}
                Err(e) => eprintln!("the Instances' watch: {e}"),
            }
        }
    });
    let releases: Api<FleetRelease> = Api::all(client.clone());
    let release = tokio::spawn(async move {
        let config = watcher::Config::default().fields(&format!("metadata.name={RELEASE}"));
        let mut stream = watcher(releases, config).boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r)) => {
                    let upgrading = r.status.as_ref().map_or(0, |s| s.upgrading);
                    let mut seen = lock(&seen);
                    seen.max_upgrading = seen.max_upgrading.max(upgrading);
                    seen.release_writes += 1;
                    seen.complete = complete(&r).then_some(r.metadata.generation).flatten();
                }
                Ok(_) => {}
                Err(e) => eprintln!("the release's watch: {e}"),
            }
        }
    });
    vec![instances, release]
}

fn median_and_p90(mut values: Vec<f64>) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

async fn run() {
    let count = setting("BENCH_INSTANCES", 1000);
    let concurrency = setting("BENCH_ROLLOUT_CONCURRENCY", 16);
    let timing = Timing {
        rollout_interval: text_setting("BENCH_ROLLOUT_INTERVAL", "200ms"),
        transition_requeue: text_setting("BENCH_TRANSITION_REQUEUE", "1s"),
        reconciles: setting("BENCH_RECONCILES", (2 * concurrency).max(32)),
    };

    // 1. N Instances settle on the stable image (no Fly latency, to get there sooner).
    let rig = start_rig().await;
    let client = rig.kube.client.clone();
    token_secret(&client).await;
    create_release(&client).await;
    let mut process = controller(&rig, &timing);
    let settling = Instant::now();
    create_instances(&client, "bot", count).await;
    settle(&client, count as usize, STABLE, Duration::from_secs(3600)).await;
    let settled_in = settling.elapsed();

    // 2. The floor, on the same simulator, now at Fly's latency.
    rig.fly.set_faults(FaultPlan::everywhere(FaultRule {
        latency_ms: FLY_LATENCY_MS,
        ..FaultRule::default()
    }));
    let one = one_update_and_wait(&rig.fly).await;
    let rounds = count.div_ceil(concurrency);
    let floor = one * rounds as u32;

    // 3. The candidate, to every Instance, `concurrency` at a time.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watches = watch(&client, seen.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.fly.reset_calls();
    let releases: Api<FleetRelease> = Api::all(client.clone());
    let started = Instant::now();
    let patched = releases
        .patch(
            RELEASE,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": {
                "candidate": CANDIDATE, "share": 100, "maxUpgrading": concurrency,
            } })),
        )
        .await
        .expect("the candidate is set");
    let generation = patched.metadata.generation;
    loop {
        {
            let seen = lock(&seen);
            if seen.upgraded >= count as usize
                && generation.is_some()
                && seen.complete == generation
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(7200),
                "the rollout did not complete in 2 hours: {} of {count} upgraded",
                seen.upgraded
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = started.elapsed();
    settle(&client, count as usize, CANDIDATE, Duration::from_secs(60)).await;
    let calls = rig.fly.calls();
    let answers_429 = rig.fly.answers_with(429);
    for watch in watches {
        watch.abort();
    }
    let rss = peak_rss_mib(process.id());
    let _ = process.kill();
    let _ = process.wait();

    let seen = lock(&seen);
    let total_calls: u64 = calls.values().sum();
    let per_instance = |n: u64| n as f64 / count as f64;
    let mut by_operation: Vec<(&String, &u64)> = calls.iter().collect();
    by_operation.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let operations: Vec<String> = by_operation
        .iter()
        .map(|(op, n)| format!("{op} {:.2}", per_instance(**n)))
        .collect();
    let secs = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(from), Some(to)) if to >= from => Some((to - from).as_secs_f64()),
        _ => None,
    };
    let steps: Vec<Steps> = seen.steps.values().copied().collect();
    let given_to_recorded: Vec<f64> = steps
        .iter()
        .filter_map(|s| secs(s.given, s.recorded))
        .collect();
    let recorded_to_upgraded: Vec<f64> = steps
        .iter()
        .filter_map(|s| secs(s.recorded, s.upgraded))
        .collect();
    let held: Vec<f64> = steps
        .iter()
        .filter_map(|s| secs(s.given, s.upgraded))
        .collect();
    let slot = wall.as_secs_f64() * concurrency as f64 / count as f64;
    let (a50, a90) = median_and_p90(given_to_recorded);
    let (b50, b90) = median_and_p90(recorded_to_upgraded);
    let held_mean = mean(&held);
    let (c50, c90) = median_and_p90(held);

    println!(
        "roll a healthy candidate through {count} Instances (Fly.io: {FLY_LATENCY_MS} ms per call, its rate limits, {BOOT_MS} ms boots; maxUpgrading {concurrency}; ROLLOUT_INTERVAL {}, TRANSITION_REQUEUE {}, {} reconciles):",
        timing.rollout_interval, timing.transition_requeue, timing.reconciles
    );
    println!(
        "  wall time            {:>9.1} s   floor {:>7.1} s   ratio {:.2}x   (floor: one update + wait {:.0} ms, median of {FLOOR_SAMPLES}, × {rounds})",
        wall.as_secs_f64(),
        floor.as_secs_f64(),
        wall.as_secs_f64() / floor.as_secs_f64(),
        one.as_secs_f64() * 1000.0,
    );
    println!(
        "  max upgrading        {:>9}     (release status, {} writes; Instances changing at once, from their watch: {})",
        seen.max_upgrading, seen.release_writes, seen.max_changing
    );
    println!(
        "  Fly.io calls/Instance {:>8.2}     ({})",
        per_instance(total_calls),
        operations.join(", ")
    );
    println!("  429 answers          {answers_429:>9}");
    println!(
        "  slot per Instance    {slot:>9.2} s   given → Upgraded {held_mean:.2} s mean (median {c50:.2}, p90 {c90:.2}); the rest, {:.2} s, waits for the rollout's next pass",
        slot - held_mean
    );
    println!(
        "    given → change recorded {a50:>5.2} s median (p90 {a90:.2}): the reconcile picks it up, snapshots, updates, waits for the start"
    );
    println!(
        "    recorded → Upgraded     {b50:>5.2} s median (p90 {b90:.2}): the next reconcile, TRANSITION_REQUEUE later, sees the gateway healthy"
    );
    println!("  controller peak RSS  {rss:>9.1} MiB");
    println!(
        "  (the {count} Instances settled on the stable image in {:.1} s, without Fly latency)",
        settled_in.as_secs_f64()
    );

    let given = steps.iter().filter(|s| s.given.is_some()).count();
    assert_eq!(
        given, count as usize,
        "every Instance was given the candidate"
    );
    assert!(
        seen.max_upgrading as u64 <= concurrency,
        "the release counted {} upgrading, more than maxUpgrading {concurrency}",
        seen.max_upgrading
    );
    assert!(
        seen.max_changing as u64 <= concurrency,
        "{} Instances changed at once, more than maxUpgrading {concurrency}",
        seen.max_changing
    );
}
