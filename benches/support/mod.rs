//! A small measuring harness: each case runs in rounds after a warm-up, and the median
//! round is reported, so one noisy round on a shared machine does not move the figure.
//! Each benchmark uses the helpers it needs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The `main` of every benchmark: installs the TLS crypto provider, then runs `bench`
/// on a multi-threaded runtime of two workers.
pub fn main<T>(bench: impl FnOnce(&tokio::runtime::Runtime) -> T) -> T {
    fasterclaw::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    bench(&runtime)
}

/// Nanoseconds per operation of `op`, the median of `rounds` rounds of `per_round`.
pub fn ns_per_op(rounds: usize, per_round: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..per_round / 4 {
        op();
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                op();
            }
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2].as_nanos() as f64 / f64::from(per_round)
}

/// The same for an async operation, on the given runtime.
pub fn ns_per_async_op<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    rounds: usize,
    per_round: u32,
    mut op: F,
) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime.block_on(async {
        for _ in 0..per_round / 4 {
            op().await;
        }
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            for _ in 0..per_round {
                op().await;
            }
            samples.push(start.elapsed());
        }
        samples.sort();
        samples[samples.len() / 2].as_nanos() as f64 / f64::from(per_round)
    })
}

/// Formats nanoseconds with a readable unit.
pub fn human(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The Kubernetes API simulator with the Instance CRD, a kubeconfig for processes and a
/// client for the bench itself.
pub struct KubeRig {
    /// The simulator.
    pub kube: fasterclaw_sim::kube::KubeSim,
    /// A client of it.
    pub client: kube::Client,
    /// A kubeconfig naming it, for the processes under test.
    pub kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the Kubernetes API simulator with `config` and installs the CRD.
pub async fn kube_rig(config: fasterclaw_sim::kube::KubeSimConfig) -> KubeRig {
    let kube = fasterclaw_sim::kube::KubeSim::start(
        config,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("the Kubernetes API simulator");
    kube.install_crds_from_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/instance.yaml"),
    )
    .expect("the CRD");
    let dir = tempfile::tempdir().expect("a directory");
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig).expect("a kubeconfig");
    let client = kube::Client::try_from(kube::Config::new(kube.url().parse().expect("a URL")))
        .expect("a client");
    KubeRig {
        kube,
        client,
        kubeconfig,
        _dir: dir,
    }
}

/// The Fly.io simulator as the benches run it: machines boot in `boot`, Fly.io's rate
/// limits on.
pub async fn fly_sim(boot: Duration) -> fasterclaw_sim::fly::FlySim {
    fasterclaw_sim::fly::FlySim::start(
        fasterclaw_sim::fly::FlySimConfig {
            transition: boot,
            rate_limits: true,
            ..fasterclaw_sim::fly::FlySimConfig::default()
        },
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("the Fly simulator")
}

/// A fresh database `name` on the server of `DATABASE_URL` (an earlier one of that name
/// is dropped), migrated when `migrated`; its URL and a pool on it.
pub async fn database(name: &str, migrated: bool) -> (String, sqlx::PgPool) {
    use sqlx::{ConnectOptions, Executor};
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL: run ./scripts/bench");
    let options: sqlx::postgres::PgConnectOptions = admin.parse().expect("DATABASE_URL parses");
    let mut conn = options.connect().await.expect("Postgres answers");
    conn.execute(sqlx::AssertSqlSafe(format!(
        r#"drop database if exists "{name}""#
    )))
    .await
    .ok();
    conn.execute(sqlx::AssertSqlSafe(format!(r#"create database "{name}""#)))
        .await
        .expect("a database");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.database(name))
        .await
        .expect("a pool");
    if migrated {
        fasterclaw::db::MIGRATOR
            .run(&pool)
            .await
            .expect("migrations");
    }
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => admin.clone(),
    };
    (url, pool)
}

/// Drops the database at `url` (one [`database`] made).
pub async fn drop_database(url: &str) {
    use sqlx::{ConnectOptions, Executor};
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL: run ./scripts/bench");
    let options: sqlx::postgres::PgConnectOptions = admin.parse().expect("DATABASE_URL parses");
    if let Ok(mut conn) = options.connect().await {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                r#"drop database if exists "{name}""#
            )))
            .await;
    }
}

/// A numeric setting of a benchmark from the environment, or `default`.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A free loopback address.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
}

/// A process's peak resident memory (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The Secret `bench-telegram` (namespace `default`) the benchmarks' Instances take
/// their token from.
pub async fn token_secret(client: &kube::Client) {
    use k8s_openapi::api::core::v1::Secret;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), "default");
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "bench-telegram" },
        "stringData": { "token": "7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e" }
    }))
    .expect("a Secret");
    secrets
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .expect("the Secret");
}

/// `count` Instances `<prefix>-<n>` in `default`, 32 created at a time, their token
/// from [`token_secret`].
pub async fn create_instances(client: &kube::Client, prefix: &str, count: u64) {
    use futures::StreamExt;
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        "default",
        &kube::core::ApiResource::erase::<fasterclaw::crd::Instance>(&()),
    );
    let names: Vec<String> = (0..count).map(|n| format!("{prefix}-{n}")).collect();
    futures::stream::iter(names)
        .for_each_concurrent(32, |name| {
            let api = api.clone();
            async move {
                let object: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
                    "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance", "metadata": { "name": name },
                    "spec": { "displayName": "Bench", "ownerId": "bench",
                              "telegramToken": { "secretKeyRef": { "name": "bench-telegram", "key": "token" } } }
                }))
                .expect("an Instance");
                api.create(&kube::api::PostParams::default(), &object)
                    .await
                    .expect("created");
            }
        })
        .await;
}
