//! Normal operation never provokes Fly's rate limits.

use std::sync::Arc;
use std::time::Duration;

use fasterclaw::fly::{CreateMachine, WaitState};

use super::{fly, machine};

/// Twenty machines, created without booting. They are made straight over HTTP with
/// the simulator's limits off, since pacing creates is not what these tests are about.
async fn stopped_machines(fly: &super::Fly, app: &str) -> Vec<String> {
    fasterclaw::tls::install_crypto_provider();
    fly.client.create_app(app).await.unwrap();
    fly.sim.set_rate_limits(false);
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for n in 0..20 {
        let request = CreateMachine {
            skip_launch: true,
            ..machine(&format!("bot-{n}"))
        };
        let created: serde_json::Value = http
            .post(format!("{}/v1/apps/{app}/machines", fly.sim.base_url()))
            .bearer_auth(fly.sim.token())
            .json(&request)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    fly.sim.set_rate_limits(true);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_starts_provoke_no_429() {
    let fly = fly().await;
    fly.sim.set_transition(Duration::from_millis(50));
    let app = "fc-concurrent";
    let ids = Arc::new(stopped_machines(&fly, app).await);
    fly.sim.reset_calls();

    // Five starts for each of twenty machines, all at once: more than Fly's burst of 3
    // per machine, so the client must pace them.
    let client = Arc::new(fly.client.clone());
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let (client, ids) = (client.clone(), ids.clone());
            tokio::spawn(async move { client.start_machine(app, &ids[n % ids.len()]).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Every start reached Fly; one the client sent again after a dropped connection on
    // a loaded machine counts twice, which is no rate-limit problem.
    let starts = fly.sim.calls_of("Machines_start");
    assert!((100..=105).contains(&starts), "{starts} start calls");
    assert_eq!(
        fly.sim.answers_with(429),
        0,
        "the client provoked Fly's rate limits"
    );
    for id in ids.iter() {
        fly.client
            .wait_machine(app, id, None, WaitState::Started, Duration::from_secs(10))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_burst_without_client_limits_is_answered_429() {
    // The control: the simulator does enforce the limits the client respects.
    let fly = fly().await;
    let app = "fc-unpaced";
    let ids = Arc::new(stopped_machines(&fly, app).await);
    fasterclaw::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let (http, ids, base, token) = (
                http.clone(),
                ids.clone(),
                fly.sim.base_url(),
                fly.sim.token().to_owned(),
            );
            tokio::spawn(async move {
                http.post(format!(
                    "{base}/v1/apps/{app}/machines/{}/start",
                    ids[n % ids.len()]
                ))
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut limited = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "the simulator did not enforce Fly's limits");
    assert_eq!(fly.sim.answers_with(429), limited);
}
