//! A hundred apps through create → start → stop → delete under 20% injected 5xx and 10%
//! 429: no duplicate app or machine, no leftover app.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fasterclaw::fly::{CreateMachine, Deleted, FlyClient, MachineFilter, RetryPolicy, WaitState};
use fasterclaw_sim::fly::{FaultPlan, FaultRule};
use secrecy::SecretString;

use super::{fly, machine};

async fn lifecycle(client: &FlyClient, n: usize) -> Result<(), String> {
    let app = format!("fc-soak-{n:03}");
    let fail = |step: &str| {
        let app = app.clone();
        let step = step.to_owned();
        move |e: fasterclaw::fly::FlyError| format!("{app} {step}: {e}")
    };
    client.create_app(&app).await.map_err(fail("create app"))?;
    let secrets = BTreeMap::from([(
        "TELEGRAM_BOT_TOKEN".to_owned(),
        SecretString::from(format!("{n}:token")),
    )]);
    let version = client
        .set_secrets(&app, &secrets)
        .await
        .map_err(fail("set secrets"))?;
    let request = CreateMachine {
        min_secrets_version: Some(version),
        skip_launch: true,
        ..machine("bot")
    };
    let created = client
        .create_machine(&app, request)
        .await
        .map_err(fail("create machine"))?;
    let all = client
        .list_machines(
            &app,
            &MachineFilter {
                include_deleted: true,
                ..MachineFilter::default()
            },
        )
        .await
        .map_err(fail("list"))?;
    if all.len() != 1 {
        return Err(format!("{app}: {} machines", all.len()));
    }
    client
        .start_machine(&app, &created.id)
        .await
        .map_err(fail("start"))?;
    client
        .wait_machine(
            &app,
            &created.id,
            None,
            WaitState::Started,
            Duration::from_secs(30),
        )
        .await
        .map_err(fail("wait started"))?;
    client
        .stop_machine(&app, &created.id)
        .await
        .map_err(fail("stop"))?;
    client
        .wait_machine(
            &app,
            &created.id,
            None,
            WaitState::Stopped,
            Duration::from_secs(30),
        )
        .await
        .map_err(fail("wait stopped"))?;
    client
        .delete_machine(&app, &created.id, false)
        .await
        .map_err(fail("delete machine"))?;
    let gone = client.delete_app(&app).await.map_err(fail("delete app"))?;
    if gone != Deleted::Yes && gone != Deleted::AlreadyGone {
        return Err(format!("{app}: unexpected {gone:?}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_lifecycles_under_faults_leave_no_duplicate_and_nothing_behind() {
    let fly = fly().await;
    fly.sim.set_transition(Duration::from_millis(30));
    fly.sim.set_faults(FaultPlan::everywhere(FaultRule {
        server_error: 0.2,
        rate_limited: 0.1,
        applied_anyway: 0.5,
        ..FaultRule::default()
    }));
    let client = Arc::new(fly.client.clone().with_retry_policy(RetryPolicy {
        max_attempts: 20,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(80),
        max_retry_after: Duration::from_secs(1),
    }));
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { lifecycle(&client, n).await })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} lifecycles failed: {failures:?}",
        failures.len()
    );
    assert!(
        fly.sim.app_names().is_empty(),
        "left over: {:?}",
        fly.sim.app_names()
    );
    assert_eq!(
        fly.sim.created(),
        (100, 100),
        "(apps, machines) ever created"
    );
    assert!(
        fly.sim.answers_with(429) > 0
            && fly.sim.answers_with(500) + fly.sim.answers_with(502) + fly.sim.answers_with(503)
                > 0
    );
}
