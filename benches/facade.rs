//! The facade as a process (release build): `GET /instances` for a user with 100
//! instances at 32 connections, next to a bare axum handler answering the same bytes
//! in the same run; `POST /instances` latency; and the facade's memory with 10,000
//! Instances in its cache. The Kubernetes API is the simulator, Postgres a database of
//! the bench's own.
//!
//! Run with `./scripts/bench facade`. `BENCH_SECONDS` (default 10) sets each load run.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fasterclaw::crd::Instance;
use fasterclaw::db::{Database, NewInstance, SubscriptionUpdate};
use fasterclaw::domain::{DisplayName, TelegramBotToken};
use fasterclaw_sim::kube::KubeSimConfig;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::json;

mod support;

const KEY: &str = "5f1d3a9c0b7e4d2f8a6c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a2c4e6b8d0f";
const TOKEN: &str = "7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e";
const CONNECTIONS: usize = 32;

fn main() {
    support::main(|runtime| runtime.block_on(run()));
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Load from `CONNECTIONS` clients for `seconds`: (requests per second, p50, p99).
async fn load(url: String, token: Option<String>, seconds: u64) -> (f64, Duration, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("a client");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers = (0..CONNECTIONS).map(|_| {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let mut request = client.get(&url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.expect("an answer");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("a body");
                latencies.push(started.elapsed());
            }
            latencies
        })
    });
    let started = Instant::now();
    let mut all: Vec<Duration> = futures::future::join_all(workers)
        .await
        .into_iter()
        .flat_map(|r| r.expect("a worker"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, at(0.50), at(0.99))
}

/// An Instance as the facade creates them.
fn instance_object(name: &str, n: usize, owner: &str, secret: uuid::Uuid) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "fasterclaw-api", "fasterclaw.io/owner": owner } },
        "spec": { "displayName": format!("Bench bot {n}"), "ownerId": owner, "telegramToken": { "storedSecretId": secret } }
    }))
    .expect("an Instance")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rig = support::kube_rig(KubeSimConfig::default()).await;
    let (kubeconfig, client) = (&rig.kubeconfig, rig.client.clone());
    let (db_url, pool) =
        support::database(&format!("fasterclaw_bench_{}", std::process::id()), true).await;
    let db = Database::from_pool(pool);

    let addr = free_addr();
    let mut facade: Child = Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
        .arg("api")
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .env("DATABASE_URL", &db_url)
        .env("ENCRYPTION_KEY", KEY)
        .env("API_JWT_SECRET", "bench-session-secret-0123456789abcdef")
        .env("HOST", "127.0.0.1")
        .env("PORT", addr.port().to_string())
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fasterclaw api starts");
    let api = fasterclaw::api::client::ApiClient::new(&format!("http://{addr}"));
    let started = Instant::now();
    while api.ready().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the facade did not get ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let session = api
        .register(&serde_json::from_value(json!({ "email": "bench@example.com", "password": "bench password", "name": "Bench" })).unwrap())
        .await
        .expect("registered");
    let owner = session.user.id;
    let signed_in = api.with_token(session.access_token.clone());
    db.subscriptions()
        .upsert(
            owner,
            &SubscriptionUpdate {
                stripe_subscription_id: "sub_bench",
                stripe_price_id: None,
                status: "ACTIVE",
                plan: Some("enterprise"),
                instance_limit: -1,
                current_period_start: None,
                current_period_end: chrono::Utc::now() + chrono::Duration::days(30),
                cancel_at_period_end: false,
            },
        )
        .await
        .expect("a subscription");

    // 100 instances of the user, running; 9,900 more of other owners.
    let keyring = fasterclaw::crypto::Keyring::new(
        fasterclaw::crypto::EncryptionKey::from_hex(KEY, "ENCRYPTION_KEY").unwrap(),
    );
    let token = TelegramBotToken::parse(TOKEN).unwrap();
    let display = DisplayName::parse("Bench bot").unwrap();
    let instances: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::erase::<Instance>(&()),
    );
    let typed: Api<Instance> = Api::namespaced(client.clone(), "default");
    for n in 0..100 {
        let id = uuid::Uuid::new_v4();
        let name = format!("fc-{id}");
        let new = NewInstance {
            id,
            owner_id: owner,
            namespace: "default",
            name: &name,
            display_name: &display,
        };
        let (_, secret) = db
            .instances(&keyring)
            .create(new, &token)
            .await
            .expect("a record");
        let object = instance_object(&name, n, &owner.to_string(), secret);
        instances
            .create(&PostParams::default(), &object)
            .await
            .expect("an Instance");
        let status = json!({ "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance", "status": {
            "phase": "RUNNING", "flyAppName": format!("fasterclaw-{}", id.simple()), "flyMachineId": "e784079b449483",
            "ipAddress": "fdaa:0:1:a7b:1::2", "region": "lax" } });
        typed
            .patch_status(
                &name,
                &PatchParams::apply("bench").force(),
                &Patch::Apply(status),
            )
            .await
            .expect("a status");
    }
    futures::stream::iter(100..10_000)
        .for_each_concurrent(32, |n| {
            let instances = instances.clone();
            let object = instance_object(
                &format!("fc-{}", uuid::Uuid::new_v4()),
                n,
                &uuid::Uuid::new_v4().to_string(),
                uuid::Uuid::new_v4(),
            );
            async move {
                instances
                    .create(&PostParams::default(), &object)
                    .await
                    .expect("an Instance");
            }
        })
        .await;
    // Let the facade's cache take them in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let listed = signed_in.list_instances().await.expect("the list");
    assert_eq!(listed.0.len(), 100);
    let bytes = Arc::new(serde_json::to_vec(&listed).unwrap());

    // The same bytes from a bare axum handler, measured the same way.
    let bare_addr = free_addr();
    let body = bytes.clone();
    let bare = axum::Router::new().route(
        "/instances",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body.as_ref().clone(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(bare_addr)
        .await
        .expect("a port");
    tokio::spawn(async move { axum::serve(listener, bare).await.ok() });

    let (facade_rps, facade_p50, facade_p99) = load(
        format!("http://{addr}/instances"),
        Some(session.access_token.clone()),
        seconds,
    )
    .await;
    let (bare_rps, bare_p50, bare_p99) =
        load(format!("http://{bare_addr}/instances"), None, seconds).await;
    println!(
        "GET /instances, 100 instances ({} KiB), {CONNECTIONS} connections, {seconds} s each:",
        bytes.len() / 1024
    );
    println!(
        "  facade      {facade_rps:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        ms(facade_p50),
        ms(facade_p99)
    );
    println!(
        "  bare axum   {bare_rps:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        ms(bare_p50),
        ms(bare_p99)
    );
    println!(
        "  ratio       {:>8.2}x throughput, {:.2}x p99",
        facade_rps / bare_rps,
        ms(facade_p99) / ms(bare_p99)
    );
    // What a request costs before any work: the layers alone, then the account check.
    let (health_rps, _, health_p99) = load(format!("http://{addr}/health"), None, seconds).await;
    let (me_rps, _, me_p99) = load(
        format!("http://{addr}/auth/me"),
        Some(session.access_token.clone()),
        seconds,
    )
    .await;
    println!(
        "  GET /health {health_rps:>8.0} req/s   p99 {:>6.2} ms   (every layer, no work)",
        ms(health_p99)
    );
    println!(
        "  GET /auth/me {me_rps:>7.0} req/s   p99 {:>6.2} ms   (the account check: one query)",
        ms(me_p99)
    );

    let mut creates = Vec::new();
    for n in 0..200 {
        let request = serde_json::from_value(
            json!({ "name": format!("New {n}"), "telegramBotToken": TOKEN }),
        )
        .unwrap();
        let started = Instant::now();
        signed_in.create_instance(&request).await.expect("created");
        creates.push(started.elapsed());
    }
    creates.sort();
    println!(
        "POST /instances, 200 one after another: p50 {:.2} ms, p99 {:.2} ms",
        ms(creates[100]),
        ms(creates[197])
    );
    println!(
        "facade RSS with 10,000 Instances cached: {:.1} MiB",
        rss_mib(facade.id())
    );
    let _ = facade.kill();
    let _ = facade.wait();
}
