//! The Fly client's cost per call over a raw reqwest call to the same simulator
//! endpoint, and the simulator's throughput next to a bare axum endpoint on the same
//! machine. Run with `./scripts/bench fly`.

mod support;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fasterclaw::fly::{FlyClient, FlyConfig, Machine};
use fasterclaw_sim::fly::{FlySim, FlySimConfig};
use secrecy::SecretString;
use support::{human, ns_per_async_op};

const MACHINES: usize = 1000;

fn main() {
    support::main(|runtime| {
        let (sim, ids) = runtime.block_on(setup());
        client_overhead(runtime, &sim, &ids);
        throughput(runtime, &sim, &ids);
    });
}

async fn setup() -> (FlySim, Vec<String>) {
    let config = FlySimConfig {
        rate_limits: false,
        transition: Duration::from_millis(1),
        ..FlySimConfig::default()
    };
    let sim = FlySim::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator");
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}", sim.base_url()))
            .bearer_auth(sim.token())
            .json(&body)
            .send()
    };
    post(
        "/v1/apps",
        serde_json::json!({ "name": "bench", "org_slug": "personal" }),
    )
    .await
    .unwrap();
    let mut ids = Vec::with_capacity(MACHINES);
    for n in 0..MACHINES {
        let body = serde_json::json!({
            "name": format!("bot-{n}"),
            "region": "lax",
            "skip_launch": true,
            "config": {"image": "ghcr.io/openclaw/openclaw:latest", "env": {"AI_MODEL": "claude-sonnet-5"},
                       "metadata": {"fasterclaw_instance": format!("i-{n}")}},
        });
        let machine: serde_json::Value = post("/v1/apps/bench/machines", body)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(machine["id"].as_str().unwrap().to_owned());
    }
    (sim, ids)
}

/// One `GET machine` at a time, round-robin over the machines so that the client's own
/// rate limiter (10 per machine in a burst) admits every call at once.
fn client_overhead(runtime: &tokio::runtime::Runtime, sim: &FlySim, ids: &[String]) {
    let client = FlyClient::new(FlyConfig {
        api_token: SecretString::from(sim.token().to_owned()),
        api_url: sim.base_url().parse().unwrap(),
        org_slug: "personal".to_owned(),
    })
    .unwrap();
    let raw = reqwest::Client::new();
    let base = sim.base_url();
    let token = sim.token().to_owned();

    let mut next = 0usize;
    let ours = ns_per_async_op(runtime, 9, 1000, || {
        next = (next + 1) % ids.len();
        let id = &ids[next];
        let client = &client;
        async move {
            black_box(client.get_machine("bench", id).await.expect("a machine"));
        }
    });
    let mut next = 0usize;
    let baseline = ns_per_async_op(runtime, 9, 1000, || {
        next = (next + 1) % ids.len();
        let url = format!("{base}/v1/apps/bench/machines/{}", ids[next]);
        let (raw, token) = (&raw, &token);
        async move {
            let body = raw
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            black_box(serde_json::from_slice::<Machine>(&body).expect("a machine"));
        }
    });
    println!("GET machine, one call at a time (body read and decoded in both)");
    println!("  fasterclaw::fly::FlyClient  {:>10}", human(ours));
    println!("  raw reqwest                 {:>10}", human(baseline));
    println!("  ratio                       {:>9.2}x", ours / baseline);
}

/// Requests per second from 32 concurrent raw callers for two seconds.
fn load(runtime: &tokio::runtime::Runtime, urls: Arc<Vec<String>>, token: Option<String>) -> f64 {
    runtime.block_on(async move {
        let http = reqwest::Client::new();
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(2);
        let tasks: Vec<_> = (0..32)
            .map(|worker| {
                let (http, urls, done, token) =
                    (http.clone(), urls.clone(), done.clone(), token.clone());
                tokio::spawn(async move {
                    let mut n = worker;
                    while Instant::now() < deadline {
                        let mut request = http.get(&urls[n % urls.len()]);
                        if let Some(token) = &token {
                            request = request.bearer_auth(token);
                        }
                        let response = request.send().await.unwrap();
                        assert!(response.status().is_success());
                        black_box(response.bytes().await.unwrap());
                        done.fetch_add(1, Ordering::Relaxed);
                        n += 32;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        done.load(Ordering::Relaxed) as f64 / 2.0
    })
}

fn throughput(runtime: &tokio::runtime::Runtime, sim: &FlySim, ids: &[String]) {
    let urls: Vec<String> = ids
        .iter()
        .map(|id| format!("{}/v1/apps/bench/machines/{id}", sim.base_url()))
        .collect();
    let simulated = load(runtime, Arc::new(urls), Some(sim.token().to_owned()));

    // The floor: an axum endpoint that answers a fixed JSON body of the same size.
    let body = sim.state()["apps"][0]["machines"][0].to_string();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let body: &'static str = Box::leak(body.into_boxed_str());
    runtime.spawn(async move {
        let app = axum::Router::new().route(
            "/{*rest}",
            axum::routing::get(
                move || async move { ([("content-type", "application/json")], body) },
            ),
        );
        axum::serve(listener, app).await.ok();
    });
    let bare = load(
        runtime,
        Arc::new(vec![format!("http://{addr}/machine")]),
        None,
    );

    println!("GET machine throughput, 32 concurrent callers, 2 s");
    println!("  fasterclaw-sim fly          {:>8.0} req/s", simulated);
    println!("  bare axum, same body        {:>8.0} req/s", bare);
    println!(
        "  ratio                       {:>9.2}x of the bare endpoint",
        simulated / bare
    );
}
