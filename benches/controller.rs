//! The controller at scale, as a process (release build): N new Instances converged to
//! RUNNING on the Fly simulator with 50 ms per call and Fly's rate limits, against the
//! ideal for the configured concurrency; then M settled Instances watched for a while:
//! memory, Fly calls and Kubernetes writes per Instance per hour.
//!
//! Run with `./scripts/bench controller`. Sizes: `BENCH_NEW` (default 1000),
//! `BENCH_SETTLED` (10000), `BENCH_SETTLED_MINUTES` (10), `BENCH_CONCURRENCY` (16).

mod support;

use support::{create_instances, free_addr, peak_rss_mib, setting, token_secret};

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fasterclaw::crd::Instance;
use fasterclaw_sim::fly::{FaultPlan, FaultRule, FlySim};
use fasterclaw_sim::kube::KubeSimConfig;
use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;

const FLY_LATENCY_MS: u64 = 50;
const BOOT_MS: u64 = 300;
/// App, secrets, volume, machine, wait: the fewest Fly.io calls that can make an
/// Instance.
const CALL_FLOOR: f64 = 5.0;

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
    let fly = support::fly_sim(Duration::from_millis(BOOT_MS)).await;
    fly.set_faults(FaultPlan::everywhere(FaultRule {
        latency_ms: FLY_LATENCY_MS,
        ..FaultRule::default()
    }));
    Rig { kube, fly }
}

fn controller(rig: &Rig, concurrency: u64) -> Child {
    let database_url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL: run ./scripts/bench controller");
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
        .env("MAX_CONCURRENT_RECONCILES", concurrency.to_string())
        .env("TRANSITION_REQUEUE", "1s")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fasterclaw controller starts")
}

/// Peak resident memory of a process, in MiB.
async fn count_running(rig: &Rig) -> usize {
    let api: Api<Instance> = Api::namespaced(rig.kube.client.clone(), "default");
    api.list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|i| {
                    i.status.as_ref().and_then(|s| s.phase).map(|p| p.as_str()) == Some("RUNNING")
                })
                .count()
        })
        .unwrap_or(0)
}

async fn converge(rig: &Rig, target: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    while count_running(rig).await < target {
        assert!(started.elapsed() < limit, "did not converge in {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    started.elapsed()
}

fn fly_calls(fly: &FlySim) -> u64 {
    fly.calls().values().sum()
}

async fn run() {
    let new = setting("BENCH_NEW", 1000);
    let settled = setting("BENCH_SETTLED", 10_000);
    let minutes = setting("BENCH_SETTLED_MINUTES", 10);
    let concurrency = setting("BENCH_CONCURRENCY", 16);

    // 1. Converge N new Instances.
    let rig = start_rig().await;
    token_secret(&rig.kube.client).await;
    let mut process = controller(&rig, concurrency);
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.fly.reset_calls();
    let started = Instant::now();
    create_instances(&rig.kube.client, "new", new).await;
    let created_in = started.elapsed();
    converge(&rig, new as usize, Duration::from_secs(3600)).await;
    let wall = started.elapsed();
    let calls = fly_calls(&rig.fly) as f64 / new as f64;
    // Ideal: each reconcile slot makes one Instance in the floor's calls at the Fly
    // latency, the wait overlapping the machine's boot, with no time lost elsewhere.
    let per_instance = Duration::from_millis(
        (CALL_FLOOR as u64 - 1) * FLY_LATENCY_MS + BOOT_MS.max(FLY_LATENCY_MS),
    );
    let ideal = per_instance.mul_f64(new as f64 / concurrency as f64);
    println!(
        "converge {new} new Instances to RUNNING (Fly.io: {FLY_LATENCY_MS} ms per call, its rate limits, {BOOT_MS} ms boots; concurrency {concurrency}):"
    );
    println!(
        "  wall time            {:>9.1} s   ideal {:>7.1} s   ratio {:.2}x   (creates took {:.1} s)",
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        wall.as_secs_f64() / ideal.as_secs_f64(),
        created_in.as_secs_f64()
    );
    println!(
        "  Fly.io calls/Instance {:>8.2}     floor {CALL_FLOOR:>7.1}     ratio {:.2}x",
        calls,
        calls / CALL_FLOOR
    );
    println!("  429 answers          {:>9}", rig.fly.answers_with(429));
    println!(
        "  controller peak RSS  {:>9.1} MiB",
        peak_rss_mib(process.id())
    );
    let _ = process.kill();
    let _ = process.wait();
    drop(rig);

    // 2. Settled Instances: nothing changes for a while.
    if settled == 0 {
        return;
    }
    let rig = start_rig().await;
    token_secret(&rig.kube.client).await;
    rig.fly.set_faults(FaultPlan::none());
    let mut process = controller(&rig, 32);
    create_instances(&rig.kube.client, "settled", settled).await;
    converge(&rig, settled as usize, Duration::from_secs(7200)).await;
    rig.fly.set_faults(FaultPlan::everywhere(FaultRule {
        latency_ms: FLY_LATENCY_MS,
        ..FaultRule::default()
    }));
    // Let the last status writes land, then count.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = Arc::new(AtomicU64::new(0));
    let counter = writes.clone();
    let api: Api<Instance> = Api::namespaced(rig.kube.client.clone(), "default");
    let watch = tokio::spawn(async move {
        let config = watcher::Config::default();
        let mut stream = watcher(api, config).boxed();
        let mut initial_done = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::InitDone) => initial_done = true,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) if initial_done => {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    });
    rig.fly.reset_calls();
    let window = Duration::from_secs(minutes * 60);
    tokio::time::sleep(window).await;
    watch.abort();
    let hours = window.as_secs_f64() / 3600.0;
    let fly_per_hour = fly_calls(&rig.fly) as f64 / settled as f64 / hours;
    let writes_per_hour = writes.load(Ordering::SeqCst) as f64 / settled as f64 / hours;
    println!("{settled} settled Instances for {minutes} min (resync 10 min, jittered):");
    println!("  Fly.io calls/Instance/hour  {fly_per_hour:>8.2}   (one look per resync: 6.0)");
    println!("  Kubernetes writes/Instance/hour {writes_per_hour:>5.2}   (target 0)");
    println!(
        "  controller peak RSS  {:>9.1} MiB",
        peak_rss_mib(process.id())
    );
    let _ = process.kill();
    let _ = process.wait();
}
