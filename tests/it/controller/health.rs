//! The gateway's health through the controller on a real API server and the Fly
//! simulator (machines as records, their checks passing while started): a healthy
//! Instance is `Healthy`; a machine stopped behind the controller's back is started
//! again and the heal recorded; a host that fails moves the assistant to a fork of its
//! volume, the failed machine destroyed by force; a paused Instance is left alone; a
//! gateway that stops answering is restarted, then made again on its volume, and its
//! recovery told.

use std::time::Duration;

use fasterclaw::crd::{HealKind, Instance};
use serde_json::json;

use super::hardening::fly_client;
use crate::support::stack::{Stack, TOKEN, running};

const SOON: Duration = Duration::from_secs(45);

fn health(instance: &Instance) -> Option<(String, String)> {
    let c = instance
        .status
        .as_ref()?
        .condition(fasterclaw::crd::ConditionType::Healthy)?;
    Some((c.status.clone(), c.reason.clone()))
}

fn app_and_machine(instance: &Instance) -> (String, String) {
    let status = instance.status.as_ref().expect("a status");
    (
        status.fly_app_name.clone().expect("an app"),
        status.fly_machine_id.clone().expect("a machine"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_machine_is_started_again_and_a_failed_host_moves_the_assistant() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let controller = stack.controller(&[("RESYNC_INTERVAL", "1s")]);
    stack.instance("bot", json!({})).await;
    let bot = stack
        .until("bot", SOON, "RUNNING and Healthy", |i| {
            running(i) && health(i) == Some(("True".to_owned(), "Healthy".to_owned()))
        })
        .await;
    let (app, machine) = app_and_machine(&bot);

    // Stopped behind the controller's back (`fly machine stop`): started again.
    let fly = fly_client(&stack);
    fly.stop_machine(&app, &machine).await.expect("stopped");
    let healed = stack
        .until("bot", SOON, "started again, the heal recorded", |i| {
            running(i)
                && i.status
                    .as_ref()
                    .and_then(|s| s.last_heal.as_ref())
                    .is_some_and(|h| h.kind == HealKind::Started)
        })
        .await;
    assert_eq!(app_and_machine(&healed).1, machine, "the same machine");
    assert_eq!(
        healed.status.as_ref().map(|s| s.restarts),
        Some(0),
        "a requested stop is no crash"
    );
    let reasons = stack.event_reasons("bot").await;
    assert!(reasons.iter().any(|r| r == "Healed"), "{reasons:?}");

    // Paused, nothing heals it.
    stack
        .annotate("bot", "fasterclaw.io/paused", Some("true"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fly.stop_machine(&app, &machine).await.expect("stopped");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let starts = stack.fly.calls_of("Machines_start");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stack.fly.calls_of("Machines_start"), starts);
    assert_eq!(
        stack
            .fly
            .machine_state(&app, &machine)
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("stopped")
    );
    stack.annotate("bot", "fasterclaw.io/paused", None).await;
    let back = stack.until("bot", SOON, "RUNNING again", running).await;

    // The host fails: a fork of the volume, a new machine on it, the old one destroyed.
    let volume = back
        .status
        .as_ref()
        .and_then(|s| s.volume.clone())
        .expect("a volume");
    assert!(stack.fly.fail_host(&app, &machine));
    let moved = stack
        .until("bot", SOON, "moved off the failed host", |i| {
            running(i)
                && i.status.as_ref().is_some_and(|s| {
                    s.volume.as_ref().is_some_and(|v| v.id != volume.id)
                        && s.fly_machine_id.as_deref() != Some(machine.as_str())
                })
        })
        .await;
    let status = moved.status.as_ref().expect("a status");
    assert_eq!(
        status.last_heal.as_ref().map(|h| h.kind),
        Some(HealKind::Moved)
    );
    assert!(
        status
            .retained_volumes
            .iter()
            .any(|r| r.id == volume.id && r.reason == "HostFailed"),
        "{:?}",
        status.retained_volumes
    );
    let fork = stack
        .fly
        .volumes(&app)
        .into_iter()
        .find(|v| {
            Some(v["id"].as_str().unwrap_or_default())
                == status.volume.as_ref().map(|v| v.id.as_str())
        })
        .expect("the fork");
    assert_eq!(fork["region"], "lax");
    assert_eq!(
        stack
            .fly
            .machine_state(&app, &machine)
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("destroyed")
    );
    stack
        .assert_events("bot", &["HostFailed", "VolumeMoved", "Healed"])
        .await;
    let metrics = controller.metrics().await;
    assert!(
        metrics.contains("fasterclaw_controller_heals_total{kind=\"moved\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fasterclaw_controller_instances_by_health{reason=\"Healthy\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_stops_answering_is_restarted_then_made_again_and_recovers() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let controller = stack.controller(&[
        ("RESYNC_INTERVAL", "1s"),
        ("TRANSITION_REQUEUE", "1s"),
        ("HEALTH_STARTUP_GRACE", "2s"),
        ("HEAL_AFTER", "3s"),
    ]);
    stack.instance("bot", json!({})).await;
    let bot = stack
        .until("bot", SOON, "RUNNING and Healthy", |i| {
            running(i) && health(i) == Some(("True".to_owned(), "Healthy".to_owned()))
        })
        .await;
    let (app, machine) = app_and_machine(&bot);
    let volume = bot
        .status
        .as_ref()
        .and_then(|s| s.volume.clone())
        .expect("a volume");

    // The gateway hangs (the simulator's admin route): its check fails on this machine
    // whatever is done to it.
    let hang = |machine: &str| {
        reqwest::Client::new()
            .post(format!(
                "{}/_sim/apps/{app}/machines/{machine}/hang",
                stack.fly.base_url()
            ))
            .send()
    };
    assert_eq!(
        hang("nosuchmachine").await.expect("the simulator").status(),
        404
    );
    assert_eq!(hang(&machine).await.expect("the simulator").status(), 204);
    stack
        .until("bot", SOON, "CheckFailing", |i| {
            health(i).is_some_and(|(status, reason)| status == "False" && reason == "CheckFailing")
        })
        .await;
    let restarted = stack
        .until("bot", SOON, "restarted", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.last_heal.as_ref())
                .is_some_and(|h| h.kind == HealKind::Restarted)
        })
        .await;
    assert_eq!(app_and_machine(&restarted).1, machine, "restarted in place");

    // Still failing after the restart: made again on the same volume, and healthy there.
    let replaced = stack
        .until("bot", SOON, "made again and Healthy", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.last_heal.as_ref())
                .is_some_and(|h| h.kind == HealKind::Replaced)
                && health(i) == Some(("True".to_owned(), "Healthy".to_owned()))
                && running(i)
        })
        .await;
    let status = replaced.status.as_ref().expect("a status");
    assert_ne!(status.fly_machine_id.as_deref(), Some(machine.as_str()));
    assert_eq!(
        status.volume.as_ref().map(|v| v.id.as_str()),
        Some(volume.id.as_str()),
        "the data stays on its volume"
    );
    assert_eq!(
        status.restarts, 0,
        "no exit: the gateway hung, it did not crash"
    );
    stack
        .assert_events("bot", &["CheckFailing", "Healed", "Recovered"])
        .await;
    let metrics = controller.metrics().await;
    for line in [
        "fasterclaw_controller_heals_total{kind=\"restarted\"} 1",
        "fasterclaw_controller_heals_total{kind=\"replaced\"} 1",
        "fasterclaw_controller_recovery_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}
