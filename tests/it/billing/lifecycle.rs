//! The billing lifecycle, driven by the Stripe stand-in's clock and customers: a failed
//! payment stops the bots after the grace period and paying again starts them (not
//! those their owner stopped); a cancellation at the period's end stops them at once,
//! and the deletion deadline, after its announcement, deletes them with their Fly.io
//! apps; a downgrade stops the most recently created surplus; `start` needs an ACTIVE
//! subscription; a model outside the plan is refused.

use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{InstanceResponse, Plan, UpdateInstanceRequest};
use fasterclaw::crd::{Phase, PowerState};
use serde_json::json;

use super::{Billing, PRO, STARTER, assert_accepted, instance, until_subscription};

const NO_SUBSCRIPTION: &str =
    "403: Active subscription required. Please subscribe to create instances.";

/// Short periods, checked every second.
fn periods<'a>(
    grace: &'a str,
    deadline: &'a str,
    warning: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("BILLING_GRACE_PERIOD", grace),
        ("BILLING_DELETION_DEADLINE", deadline),
        ("BILLING_DELETION_WARNING", warning),
        ("BILLING_CHECK_INTERVAL", "1s"),
    ]
}

async fn until(
    client: &ApiClient,
    id: &str,
    what: &str,
    check: impl Fn(&InstanceResponse) -> bool,
) -> InstanceResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let seen = client.get_instance(id).await.expect("the instance");
        if check(&seen) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: {what} never held: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn audit_actions(billing: &Billing, id: &str) -> Vec<(String, String)> {
    billing
        .stack
        .db
        .db
        .audit()
        .for_target(&format!("instance:{id}"))
        .await
        .expect("the audit log")
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

async fn power_state(billing: &Billing, id: &str) -> PowerState {
    billing
        .stack
        .instances()
        .get(&format!("fc-{id}"))
        .await
        .expect("the Instance")
        .spec
        .power_state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_stops_the_bots_after_the_grace_and_paying_again_starts_them() {
    let billing = Billing::start(&periods("4s", "1h", "10m")).await;
    let _controller = billing.stack.controller(&[]);
    let (client, _, subscription) = billing.subscriber("pro").await;
    let kept = client.create_instance(&instance("Kept")).await.unwrap();
    let parked = client.create_instance(&instance("Parked")).await.unwrap();
    let (kept, parked) = (kept.id.to_string(), parked.id.to_string());
    until(&client, &kept, "RUNNING", |i| i.status == Phase::Running).await;
    until(&client, &parked, "RUNNING", |i| i.status == Phase::Running).await;
    // Its owner stops one: billing never starts that one.
    client.stop_instance(&parked).await.unwrap();
    until(&client, &parked, "STOPPED", |i| i.status == Phase::Stopped).await;

    let failed = billing
        .control(
            &format!("subscriptions/{subscription}/payment_failed"),
            json!({}),
        )
        .await;
    assert_accepted(&failed);
    let view = client.subscription().await.unwrap();
    let lapse = view.lapse.expect("the lapse is shown");
    assert_eq!(lapse.status, "PAST_DUE");
    assert!(lapse.deletion_at.is_none(), "{lapse:?}");
    let grace = lapse.instances_stop_at.0 - lapse.since.0;
    assert_eq!(grace.num_seconds(), 4);
    // Within the grace period the bot runs on.
    let running = client.get_instance(&kept).await.unwrap();
    assert_eq!(
        (running.status, running.stop_reason),
        (Phase::Running, None)
    );

    let stopped = until(&client, &kept, "stopped by billing", |i| {
        i.status == Phase::Stopped
    })
    .await;
    assert_eq!(
        stopped.stop_reason.as_deref(),
        Some("Billing: payment failed")
    );
    let instance = billing
        .stack
        .instances()
        .get(&format!("fc-{kept}"))
        .await
        .unwrap();
    assert_eq!(billing.stack.machine_of(&instance)["state"], "stopped");
    assert_eq!(
        client.get_instance(&parked).await.unwrap().stop_reason,
        None
    );
    assert_eq!(
        client.start_instance(&kept).await.unwrap_err().to_string(),
        NO_SUBSCRIPTION
    );
    assert!(
        audit_actions(&billing, &kept)
            .await
            .contains(&("billing".to_owned(), "instance.billing_stop".to_owned()))
    );

    // Paying again starts what billing stopped, and only that.
    let paid = billing
        .control(&format!("subscriptions/{subscription}/renew"), json!({}))
        .await;
    assert_accepted(&paid);
    let restarted = until(&client, &kept, "RUNNING again", |i| {
        i.status == Phase::Running
    })
    .await;
    assert_eq!(restarted.stop_reason, None);
    let still = client.get_instance(&parked).await.unwrap();
    assert_eq!(still.status, Phase::Stopped);
    assert_eq!(power_state(&billing, &parked).await, PowerState::Stopped);
    assert!(client.subscription().await.unwrap().lapse.is_none());
    assert!(
        audit_actions(&billing, &kept)
            .await
            .contains(&("billing".to_owned(), "instance.billing_start".to_owned()))
    );
    // Started by billing on the plan's machine.
    let instance = billing
        .stack
        .instances()
        .get(&format!("fc-{kept}"))
        .await
        .unwrap();
    assert_eq!(
        instance.spec.machine.map(|m| m.memory_mb),
        Some(4096),
        "Pro's machine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_at_period_end_stops_the_bots_and_the_deadline_deletes_them_with_their_apps() {
    let billing = Billing::start(&periods("8s", "8s", "4s")).await;
    let _controller = billing.stack.controller(&[]);
    let (client, _, subscription) = billing.subscriber("starter").await;
    let bot = client
        .create_instance(&instance("Bot"))
        .await
        .unwrap()
        .id
        .to_string();
    until(&client, &bot, "RUNNING", |i| i.status == Phase::Running).await;
    let app = client
        .get_instance(&bot)
        .await
        .unwrap()
        .fly_app_name
        .expect("an app");

    // Cancelled in the portal: nothing changes until the period ends.
    let cancelled = billing
        .control(
            &format!("subscriptions/{subscription}/cancel_at_period_end"),
            json!({}),
        )
        .await;
    assert_accepted(&cancelled);
    let held = client.subscription().await.unwrap().subscription.unwrap();
    assert!(held.cancel_at_period_end);
    assert_eq!(power_state(&billing, &bot).await, PowerState::Running);

    let ended = billing
        .control(
            &format!("subscriptions/{subscription}/period_end"),
            json!({}),
        )
        .await;
    assert_accepted(&ended);
    assert_eq!(billing.stored_status(&subscription).await, "CANCELED");
    // Stopped at once: the webhook's delivery did it.
    assert_eq!(power_state(&billing, &bot).await, PowerState::Stopped);
    let stopped = until(&client, &bot, "STOPPED", |i| i.status == Phase::Stopped).await;
    assert_eq!(
        stopped.stop_reason.as_deref(),
        Some("Billing: subscription canceled")
    );

    // The deletion is announced before it happens, with its time.
    let announced = until_subscription(&client, "the deletion announced", |s| {
        s.lapse.as_ref().is_some_and(|l| l.deletion_at.is_some())
    })
    .await;
    let lapse = announced.lapse.unwrap();
    assert_eq!(lapse.status, "CANCELED");
    assert!(
        client.list_instances().await.unwrap().0.len() == 1,
        "deleted before its announced time"
    );
    let deletion_at = lapse.deletion_at.unwrap().0;

    billing
        .stack
        .until_gone(&format!("fc-{bot}"), Duration::from_secs(45))
        .await;
    assert!(chrono::Utc::now() >= deletion_at);
    let apps = billing.stack.fly.state()["apps"].clone();
    assert!(
        !apps
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == app.as_str()),
        "the Fly app {app} is still there: {apps}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !client.list_instances().await.unwrap().0.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        audit_actions(&billing, &bot)
            .await
            .contains(&("billing".to_owned(), "instance.billing_delete".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_stops_the_newest_surplus_until_an_upgrade() {
    let billing = Billing::start(&periods("1h", "2h", "10m")).await;
    let (client, _, subscription) = billing.subscriber("pro").await;
    let mut ids = Vec::new();
    for name in ["First", "Second", "Third"] {
        ids.push(
            client
                .create_instance(&instance(name))
                .await
                .unwrap()
                .id
                .to_string(),
        );
        // Distinct creation times, so "the newest" is well defined.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let down = billing
        .control(
            &format!("subscriptions/{subscription}/price"),
            json!({ "price": STARTER }),
        )
        .await;
    assert_accepted(&down);
    assert_eq!(power_state(&billing, &ids[2]).await, PowerState::Stopped);
    for id in &ids[..2] {
        assert_eq!(power_state(&billing, id).await, PowerState::Running);
    }
    let annotations = billing
        .stack
        .instances()
        .get(&format!("fc-{}", ids[2]))
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default();
    assert_eq!(
        annotations
            .get("fasterclaw.io/billing-stopped")
            .map(String::as_str),
        Some("Billing: plan allows 2 instances")
    );

    let up = billing
        .control(
            &format!("subscriptions/{subscription}/price"),
            json!({ "price": PRO }),
        )
        .await;
    assert_accepted(&up);
    assert_eq!(power_state(&billing, &ids[2]).await, PowerState::Running);
    let started = billing
        .stack
        .instances()
        .get(&format!("fc-{}", ids[2]))
        .await
        .unwrap();
    assert!(
        !started
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("fasterclaw.io/billing-stopped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_outside_the_plan_is_refused_on_create_and_patch() {
    let billing = Billing::start(&[]).await;
    let (client, _, _) = billing.subscriber("starter").await;
    let plans = client.subscription().await.unwrap().plans;
    let starter = plans.starter.expect("Starter is on sale");
    let enterprise = plans.enterprise.expect("Enterprise is on sale");
    assert!(starter.models.iter().any(|m| m == "claude-sonnet-5"));
    assert!(!starter.models.iter().any(|m| m == "claude-opus-5-5"));
    assert!(enterprise.models.iter().any(|m| m == "claude-opus-5-5"));
    assert_eq!(
        (starter.machine.memory_mb, enterprise.machine.memory_mb),
        (2048, 8192)
    );

    let mut dear = instance("Dear");
    dear.ai_model = fasterclaw::domain::AiModel::parse("claude-opus-5-5").unwrap();
    assert_eq!(
        client.create_instance(&dear).await.unwrap_err().to_string(),
        "403: The Starter plan does not include the model claude-opus-5-5; the Enterprise plan does. Please upgrade your plan to use it."
    );
    let created = client.create_instance(&instance("Cheap")).await.unwrap();
    let id = created.id.to_string();
    let on_plan = billing
        .stack
        .instances()
        .get(&format!("fc-{id}"))
        .await
        .unwrap();
    assert_eq!(on_plan.spec.machine.map(|m| m.memory_mb), Some(2048));

    let change: UpdateInstanceRequest =
        serde_json::from_value(json!({ "aiModel": "gpt-5.5" })).unwrap();
    assert_eq!(
        client
            .update_instance(&id, &change)
            .await
            .unwrap_err()
            .to_string(),
        "403: The Starter plan does not include the model gpt-5.5; the Pro plan does. Please upgrade your plan to use it."
    );
    assert_eq!(
        client.get_instance(&id).await.unwrap().ai_model,
        "claude-sonnet-5"
    );
    let view = client.subscription().await.unwrap();
    assert_eq!(view.subscription.unwrap().plan, Some(Plan::Starter));
}

async fn audit_count(billing: &Billing, target: &str, action: &str) -> usize {
    billing
        .stack
        .db
        .db
        .audit()
        .for_target(target)
        .await
        .expect("the audit log")
        .iter()
        .filter(|e| e.action == action)
        .count()
}

async fn until_power(billing: &Billing, ids: &[String], want: PowerState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = true;
        for id in ids {
            all &= power_state(billing, id).await == want;
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all {want:?} in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_facade_replicas_act_once_on_each_instance() {
    let settings = periods("2s", "1h", "10m");
    let billing = Billing::start(&settings).await;
    // A second replica on the same database and cluster, checking on the same period.
    let telegram = crate::facade::telegram().await;
    let stripe_url = billing.stripe.base_url();
    let mut second: Vec<(&str, &str)> = vec![
        ("STRIPE_SECRET_KEY", super::STRIPE_KEY),
        ("STRIPE_WEBHOOK_SECRET", super::WEBHOOK_SECRET),
        ("STRIPE_API_URL", stripe_url.as_str()),
        ("STRIPE_PRICE_ID_STARTER", STARTER),
        ("STRIPE_PRICE_ID_PRO", PRO),
    ];
    second.extend(settings);
    let _replica = billing.stack.api(&telegram.base_url(), &second).await;
    let (client, user, subscription) = billing.subscriber("pro").await;
    let mut ids = Vec::new();
    for name in ["One", "Two", "Three"] {
        ids.push(
            client
                .create_instance(&instance(name))
                .await
                .unwrap()
                .id
                .to_string(),
        );
    }

    let failed = billing
        .control(
            &format!("subscriptions/{subscription}/payment_failed"),
            json!({}),
        )
        .await;
    assert_accepted(&failed);
    until_power(&billing, &ids, PowerState::Stopped).await;
    // Several more rounds of both replicas' checks.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in &ids {
        assert_eq!(
            audit_count(&billing, &format!("instance:{id}"), "instance.billing_stop").await,
            1,
            "{id} was stopped more than once"
        );
    }
    let account = format!("user:{}", user.id);
    assert_eq!(audit_count(&billing, &account, "billing.lapse").await, 1);

    let paid = billing
        .control(&format!("subscriptions/{subscription}/renew"), json!({}))
        .await;
    assert_accepted(&paid);
    until_power(&billing, &ids, PowerState::Running).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in &ids {
        assert_eq!(
            audit_count(
                &billing,
                &format!("instance:{id}"),
                "instance.billing_start"
            )
            .await,
            1
        );
    }
    assert_eq!(
        audit_count(&billing, &account, "billing.lapse_ended").await,
        1
    );
}
