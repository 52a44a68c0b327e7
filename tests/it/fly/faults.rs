//! Attempts counted under injected faults; no duplicate after an ambiguous failure.

use std::time::{Duration, Instant};

use fasterclaw::fly::{MachineFilter, RetryPolicy};
use fasterclaw_sim::fly::{FaultPlan, FaultRule};

use super::{fast_policy, fly, machine};

#[tokio::test]
async fn server_errors_are_retried_up_to_the_policy_then_reported() {
    let fly = fly().await;
    fly.client.create_app("fc-5xx").await.unwrap();
    fly.sim.set_faults(FaultPlan::none().with(
        "Apps_show",
        FaultRule {
            server_error: 1.0,
            ..FaultRule::default()
        },
    ));
    let err = fly.client.get_app("fc-5xx").await.unwrap_err();
    assert!(err.status().is_some_and(|s| s >= 500), "{err}");
    assert_eq!(
        fly.sim.calls_of("Apps_show"),
        u64::from(fast_policy().max_attempts)
    );
}

#[tokio::test]
async fn a_cut_off_body_is_a_failed_attempt_that_is_retried() {
    let fly = fly().await;
    fly.client.create_app("fc-cut").await.unwrap();
    fly.sim.set_faults(FaultPlan::none().with(
        "Apps_show",
        FaultRule {
            drop_connection: 1.0,
            ..FaultRule::default()
        },
    ));
    let err = fly.client.get_app("fc-cut").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("response cut off"), "{err}");
    assert_eq!(
        fly.sim.calls_of("Apps_show"),
        u64::from(fast_policy().max_attempts)
    );
    assert_eq!(
        fly.sim.answers("Apps_show", 0),
        u64::from(fast_policy().max_attempts)
    );

    // With half the responses cut, the client gets through.
    fly.sim.reset_calls();
    fly.sim.set_faults(FaultPlan::none().with(
        "Apps_show",
        FaultRule {
            drop_connection: 0.5,
            ..FaultRule::default()
        },
    ));
    for _ in 0..5 {
        fly.client.get_app("fc-cut").await.unwrap();
    }
    assert!(fly.sim.answers("Apps_show", 0) > 0, "no response was cut");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fly = fly().await;
    fly.sim.reset_calls();
    let err = fly
        .client
        .get_machine("fc-none", "0123456789abcd")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(fly.sim.calls_of("Machines_show"), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let fly = fly().await;
    let client = fly.client.clone().with_retry_policy(RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        max_retry_after: Duration::from_secs(5),
    });
    fly.client.create_app("fc-retry-after").await.unwrap();
    fly.sim.set_faults(FaultPlan::none().with(
        "Apps_show",
        FaultRule {
            rate_limited: 1.0,
            ..FaultRule::default()
        },
    ));
    let started = Instant::now();
    let err = client.get_app("fc-retry-after").await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    // The simulator answers Retry-After: 1; a 1 ms backoff alone would be far quicker.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fly.sim.calls_of("Apps_show"), 2);
}

async fn assert_one_machine_after_ambiguous_creates(rule: FaultRule) {
    let fly = fly().await;
    let app = "fc-ambiguous";
    fly.client.create_app(app).await.unwrap();
    fly.sim
        .set_faults(FaultPlan::none().with("Machines_create", rule));
    let created = fly
        .client
        .create_machine(app, machine("bot"))
        .await
        .unwrap();
    fly.sim.set_faults(FaultPlan::none());
    let all = fly
        .client
        .list_machines(
            app,
            &MachineFilter {
                include_deleted: true,
                ..MachineFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "a retry made a second machine");
    assert_eq!(all[0].id, created.id);
    assert_eq!(
        fly.sim.calls_of("Machines_create"),
        1,
        "the client created again instead of looking"
    );
    assert!(fly.sim.calls_of("Machines_list") >= 1);
}

#[tokio::test]
async fn no_duplicate_machine_after_a_timeout_on_create() {
    assert_one_machine_after_ambiguous_creates(FaultRule {
        timeout: 1.0,
        applied_anyway: 1.0,
        ..FaultRule::default()
    })
    .await;
}

#[tokio::test]
async fn no_duplicate_machine_after_a_cut_connection_on_create() {
    assert_one_machine_after_ambiguous_creates(FaultRule {
        drop_connection: 1.0,
        applied_anyway: 1.0,
        ..FaultRule::default()
    })
    .await;
}

#[tokio::test]
async fn a_create_that_did_not_take_effect_is_sent_again() {
    let fly = fly().await;
    let app = "fc-not-applied";
    fly.client.create_app(app).await.unwrap();
    fly.sim.set_faults(FaultPlan::none().with(
        "Machines_create",
        FaultRule {
            server_error: 0.3,
            applied_anyway: 0.0,
            ..FaultRule::default()
        },
    ));
    for n in 0..5 {
        fly.client
            .create_machine(app, machine(&format!("bot-{n}")))
            .await
            .unwrap();
    }
    let all = fly
        .client
        .list_machines(app, &MachineFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        fly.sim.calls_of("Machines_create") > 5,
        "no fault was injected"
    );
}

#[tokio::test]
async fn no_duplicate_app_after_an_ambiguous_create() {
    let fly = fly().await;
    fly.sim.set_faults(FaultPlan::none().with(
        "Apps_create",
        FaultRule {
            server_error: 1.0,
            applied_anyway: 1.0,
            ..FaultRule::default()
        },
    ));
    // Every attempt takes effect and then fails: the retry meets the idempotency key
    // (or name_taken on our own app) and the client sees the app.
    let result = fly.client.create_app("fc-ambiguous-app").await;
    fly.sim.set_faults(FaultPlan::none());
    assert!(result.is_err(), "every answer was a 5xx");
    let app = fly.client.create_app("fc-ambiguous-app").await.unwrap();
    assert_eq!(app.name, "fc-ambiguous-app");
    assert_eq!(fly.sim.created().0, 1);
}
