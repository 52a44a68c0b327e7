//! Broken releases in the simulator without a machine runtime: a started machine of a
//! broken image exits with code 1 at once, restarting as its policy says, as a real
//! Fly machine whose gateway refuses its configuration does; set through the Rust API
//! and the admin API.

use std::time::{Duration, Instant};

use fasterclaw::fly::{
    FlyClient, Machine, MachineEvent, MachineState, RestartPolicy, UpdateMachine,
};
use fasterclaw::runtime::machine;
use serde_json::{Value, json};

use super::{fly, machine as create_request};

const BROKEN: &str = "ghcr.io/openclaw/openclaw:2026.9.7";
const SOUND: &str = "ghcr.io/openclaw/openclaw:2026.9.6";

/// A machine of `image` with the gateway's checks and `on-failure` up to `retries`.
async fn create(client: &FlyClient, app: &str, name: &str, image: &str, retries: u32) -> String {
    let mut request = create_request(name);
    request.config.image = image.to_owned();
    request.config.checks = machine::checks();
    request.config.restart = Some(RestartPolicy {
        policy: "on-failure".to_owned(),
        max_retries: Some(retries),
    });
    client.create_machine(app, request).await.unwrap().id
}

fn exits(machine: &Machine) -> Vec<&MachineEvent> {
    machine.events.iter().filter(|e| e.kind == "exit").collect()
}

/// Polls the machine until `done` holds.
async fn until(
    client: &FlyClient,
    app: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Machine) -> bool,
) -> Machine {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let machine = client.get_machine(app, id).await.unwrap();
        if done(&machine) {
            return machine;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen: {machine:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_machine_of_a_broken_image_exits_at_start_until_its_policy_stops_it() {
    let fly = fly().await;
    let app = "fc-broken";
    fly.client.create_app(app).await.unwrap();
    fly.sim.break_image(BROKEN);
    assert_eq!(
        fly.sim.broken_images().into_iter().collect::<Vec<_>>(),
        [BROKEN]
    );

    let broken = create(&fly.client, app, "broken", BROKEN, 2).await;
    let sound = create(&fly.client, app, "sound", SOUND, 2).await;
    let machine = until(&fly.client, app, &broken, "the policy giving up", |m| {
        m.state == MachineState::Stopped && exits(m).len() == 3
    })
    .await;
    // Newest first: two exits followed by a restart, then the last one.
    let events = exits(&machine);
    for (event, (restarting, count)) in events.iter().zip([(false, 2), (true, 1), (true, 0)]) {
        let exit = event.exit().expect("an exit");
        assert_eq!(exit.code, 1);
        assert!(!exit.requested_stop && !exit.oom_killed && exit.signal.is_none());
        assert_eq!(event.request["exit_event"]["restarting"], restarting);
        assert_eq!(event.request["restart_count"], count);
        assert_eq!(event.source, "flyd");
    }
    assert_eq!(events[0].status, "stopped");
    assert_eq!(events[1].status, "restarting");
    let starts = machine
        .events
        .iter()
        .filter(|e| e.kind == "start" && e.status == "started")
        .count();
    assert_eq!(starts, 3, "the first start and two restarts");
    assert!(
        machine.checks.iter().all(|c| c.status == "critical"),
        "{:?}",
        machine.checks
    );

    // Another image is not touched.
    let sound_machine = fly.client.get_machine(app, &sound).await.unwrap();
    assert_eq!(sound_machine.state, MachineState::Started);
    assert!(exits(&sound_machine).is_empty());
    assert!(sound_machine.checks.iter().all(|c| c.status == "passing"));

    // Started again, it crash-loops again: each start is a new run of the policy.
    fly.client.start_machine(app, &broken).await.unwrap();
    until(&fly.client, app, &broken, "a second loop", |m| {
        m.state == MachineState::Stopped && exits(m).len() == 6
    })
    .await;

    // An update to a broken image makes a running machine exit too.
    let mut config = sound_machine.config.clone();
    config.image = BROKEN.to_owned();
    config.restart = Some(RestartPolicy {
        policy: "no".to_owned(),
        max_retries: None,
    });
    fly.client
        .update_machine(
            app,
            &sound,
            &UpdateMachine {
                config,
                current_version: None,
                min_secrets_version: None,
                skip_launch: false,
            },
        )
        .await
        .unwrap();
    let machine = until(&fly.client, app, &sound, "the exit after the update", |m| {
        m.state == MachineState::Stopped && !exits(m).is_empty()
    })
    .await;
    assert_eq!(exits(&machine).len(), 1, "policy `no`: one exit");
    assert_eq!(exits(&machine)[0].exit_code(), Some(1));
}

#[tokio::test]
async fn broken_images_are_set_through_the_admin_api_and_mended_at_the_next_start() {
    let fly = fly().await;
    let app = "fc-broken-admin";
    fly.client.create_app(app).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/_sim/broken-images", fly.sim.base_url());
    let status = http
        .put(&url)
        .json(&json!([BROKEN]))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let listed: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([BROKEN]));
    assert_eq!(fly.sim.state()["broken_images"], json!([BROKEN]));

    let id = create(&fly.client, app, "admin", BROKEN, 10).await;
    until(&fly.client, app, &id, "a crash loop", |m| {
        exits(m).len() >= 2
    })
    .await;

    // Mended: the next restart runs.
    let status = http
        .put(&url)
        .json(&json!([]))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert!(fly.sim.broken_images().is_empty());
    let machine = until(&fly.client, app, &id, "a start that lasts", |m| {
        m.state == MachineState::Started && m.checks.iter().all(|c| c.status == "passing")
    })
    .await;
    let exits_then = exits(&machine).len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let machine = fly.client.get_machine(app, &id).await.unwrap();
    assert_eq!(machine.state, MachineState::Started);
    assert_eq!(exits(&machine).len(), exits_then, "no exit since");

    let bad = http
        .put(&url)
        .json(&json!({"image": BROKEN}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(bad, 422, "the body is a list of images");
}
