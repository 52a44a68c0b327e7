//! The webhook: Stripe's signature checked over the raw body (forged, altered, stale
//! and replayed deliveries refused), each event applied once however often and however
//! concurrently it arrives, and events out of order ending in Stripe's own state.

use std::time::Duration;

use fasterclaw::api::contract::Plan;
use fasterclaw::billing::signature::signature_header;
use fasterclaw_sim::stripe::delivery::DeliveryOptions;
use serde_json::{Value, json};

use super::{Billing, PRO, WEBHOOK_SECRET, until_subscription};
use crate::facade::sign_up;

async fn post(billing: &Billing, signature: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/billing/webhook", billing.facade.url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn audit_lines(billing: &Billing, user: uuid::Uuid) -> usize {
    billing
        .stack
        .db
        .db
        .audit()
        .for_target(&format!("user:{user}"))
        .await
        .unwrap()
        .iter()
        .filter(|line| line.action == "subscription.sync")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_stale_and_replayed_deliveries_are_refused() {
    let billing = Billing::start(&[("STRIPE_WEBHOOK_TOLERANCE", "2s")]).await;
    let body = serde_json::to_string_pretty(&json!({
        "id": "evt_1WebhookSignatureTest",
        "object": "event",
        "type": "customer.created",
        "created": now(),
        "data": { "object": { "id": "cus_1", "object": "customer" } },
    }))
    .unwrap();

    let forged = signature_header(body.as_bytes(), "whsec_not_the_endpoints", now());
    let genuine = signature_header(body.as_bytes(), WEBHOOK_SECRET, now());
    let altered = body.replace("cus_1", "cus_2");
    // The raw bytes are signed: the same JSON written otherwise is refused too.
    let compact = serde_json::to_string(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    let stale = signature_header(body.as_bytes(), WEBHOOK_SECRET, now() - 60);
    // Each refused with a 400: what is sent (signature header, body), and what else the
    // answer must say.
    type Refusal<'a> = (&'a str, Option<&'a str>, &'a str, fn(&Value));
    let refusals: [Refusal; 6] = [
        ("no signature", None, &body, |answer| {
            assert_eq!(
                answer,
                &json!({ "error": "Missing stripe-signature header" })
            )
        }),
        (
            "another secret's signature",
            Some(&forged),
            &body,
            |answer| {
                assert_eq!(
                    answer["error"],
                    "Invalid signature: no signatures found matching the expected signature for payload"
                )
            },
        ),
        ("an altered body", Some(&genuine), &altered, |_| {}),
        (
            "the same JSON written otherwise",
            Some(&genuine),
            &compact,
            |_| {},
        ),
        ("a stale signature", Some(&stale), &body, |answer| {
            assert!(
                answer["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("Invalid signature: timestamp outside the tolerance zone"),
                "{answer}"
            )
        }),
        (
            "a header without a timestamp",
            Some("v1=abc"),
            &body,
            |_| {},
        ),
    ];
    for (what, signature, sent, check) in refusals {
        let (status, answer) = post(&billing, signature, sent).await;
        assert_eq!(status, 400, "{what}: {answer}");
        check(&answer);
    }

    // Genuine: accepted (an event type billing does not act on is acknowledged)...
    let (status, answer) = post(&billing, Some(&genuine), &body).await;
    assert_eq!((status, answer), (200, json!({ "received": true })));
    // ...and the same delivery replayed once the tolerance has passed is refused.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(post(&billing, Some(&genuine), &body).await.0, 400);

    // Signed but not an event.
    let junk = "[1, 2, 3]";
    let signed = signature_header(junk.as_bytes(), WEBHOOK_SECRET, now());
    let (status, answer) = post(&billing, Some(&signed), junk).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid payload"),
        "{answer}"
    );
    assert!(!billing.facade.logs().contains(WEBHOOK_SECRET));
}

/// Stripe's documented scheme, with a vector computed outside this code base (Python's
/// `hmac.new(secret, f"{t}.{payload}", sha256).hexdigest()`, as Stripe's libraries do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_made_by_stripes_algorithm_passes_the_webhook() {
    const PAYLOAD: &str = r#"{"id":"evt_1FixedVector","object":"event","type":"customer.created","created":1767225600,"data":{"object":{"id":"cus_Fixed","object":"customer"}}}"#;
    const SECRET: &str = "whsec_3d2c1b0a9f8e7d6c5b4a39281706f5e4";
    const HEADER: &str =
        "t=1767225600,v1=0005a6157783a165e0c7dc9b86013cb3aec483c78aae90588919c37d0ac58ce1";
    // Old as the vector is, a tolerance covering its age lets the path be exercised.
    let billing = Billing::start(&[
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("STRIPE_WEBHOOK_TOLERANCE", "100years"),
    ])
    .await;
    let (status, answer) = post(&billing, Some(HEADER), PAYLOAD).await;
    assert_eq!((status, answer), (200, json!({ "received": true })));
    let tampered = HEADER.replace("t=1767225600", "t=1767225601");
    assert_eq!(post(&billing, Some(&tampered), PAYLOAD).await.0, 400);
    // Our own signer agrees with the vector.
    assert_eq!(
        signature_header(PAYLOAD.as_bytes(), SECRET, 1_767_225_600),
        HEADER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_concurrent_deliveries_apply_once() {
    let billing = Billing::start(&[]).await;
    let (client, user) = sign_up(&billing.facade.client()).await;
    // Every event of the Checkout delivered twice at once.
    let subscription = billing
        .pay(&client, "starter", json!({ "duplicate": true }))
        .await;
    // Applied: the subscription's creation, the paid invoice and the Checkout.
    assert_eq!(audit_lines(&billing, user.id).await, 3);
    let events = billing.stripe.events();
    let recorded: i64 = sqlx::query_scalar("select count(*) from stripe_webhook_events")
        .fetch_one(billing.stack.db.db.pool())
        .await
        .unwrap();
    assert_eq!(recorded, events.len() as i64);

    // A burst: the same event eight times at once, then once more later.
    let created = events
        .iter()
        .find(|e| e["type"] == "customer.subscription.created")
        .cloned()
        .unwrap();
    let burst = (0..4).map(|_| {
        billing.stripe.deliver(
            std::slice::from_ref(&created),
            DeliveryOptions {
                duplicate: true,
                reversed: false,
            },
        )
    });
    for deliveries in futures::future::join_all(burst).await {
        assert!(deliveries.iter().all(|d| d.accepted()), "{deliveries:?}");
    }
    let again = billing
        .control(
            &format!("events/{}/deliver", created["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    super::assert_accepted(&again);
    assert_eq!(audit_lines(&billing, user.id).await, 3);
    let held = client.subscription().await.unwrap().subscription.unwrap();
    assert_eq!(
        (held.stripe_subscription_id, held.status.as_str()),
        (subscription, "ACTIVE")
    );
    let logs = billing.facade.logs();
    assert!(logs.contains("a Stripe event delivered again; already applied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_out_of_order_end_in_stripes_state() {
    let billing = Billing::start(&[]).await;
    let (client, user) = sign_up(&billing.facade.client()).await;
    // The Checkout's own events newest first: the Checkout before the subscription.
    let subscription = billing
        .pay(&client, "starter", json!({ "reversed": true }))
        .await;
    let view = client.subscription().await.unwrap().subscription.unwrap();
    assert_eq!(
        (view.plan, view.status.as_str()),
        (Some(Plan::Starter), "ACTIVE")
    );

    // The endpoint is down while the plan changes and the subscription is cancelled;
    // Stripe then delivers what failed, oldest last.
    let seen = billing.stripe.events().len();
    billing
        .stripe
        .set_webhook("http://127.0.0.1:9/billing/webhook", WEBHOOK_SECRET);
    let changed = billing
        .control(
            &format!("subscriptions/{subscription}/price"),
            json!({ "price": PRO }),
        )
        .await;
    assert!(
        changed["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"].is_null())
    );
    billing
        .control(&format!("subscriptions/{subscription}/cancel"), json!({}))
        .await;
    billing.stripe.set_webhook(
        &format!("{}/billing/webhook", billing.facade.url),
        WEBHOOK_SECRET,
    );
    let missed: Vec<Value> = billing.stripe.events()[seen..].to_vec();
    let deliveries = billing
        .stripe
        .deliver(
            &missed,
            DeliveryOptions {
                duplicate: false,
                reversed: true,
            },
        )
        .await;
    assert!(deliveries.iter().all(|d| d.accepted()), "{deliveries:?}");
    // The last event to arrive says "active on Pro"; Stripe says cancelled.
    assert_eq!(
        deliveries.last().map(|d| d.event_type.as_str()),
        Some("customer.subscription.updated")
    );
    assert_eq!(billing.stored_status(&subscription).await, "CANCELED");
    until_subscription(&client, "no active subscription", |s| {
        s.subscription.is_none()
    })
    .await;
    assert!(audit_lines(&billing, user.id).await >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lock_or_transaction_is_held_while_stripe_is_asked() {
    let billing = Billing::start(&[]).await;
    let (_client, user, subscription) = billing.subscriber("pro").await;
    let pool = billing.stack.db.db.pool().clone();
    let before = audit_lines(&billing, user.id).await;
    let asked = |billing: &Billing| {
        billing
            .stripe
            .requests()
            .iter()
            .filter(|r| r.ends_with(&format!("/v1/subscriptions/{subscription}")))
            .count()
    };
    let asked_before = asked(&billing);

    // Stripe answers slowly; while the webhook waits for it, the account is not locked
    // and no transaction of the facade's is open.
    // Long enough that the checks below all fall inside the call, however loaded the
    // machine is: they stop after the first five seconds of it.
    billing.stripe.slow_down(Duration::from_secs(8));
    let renewal = {
        let url = format!(
            "{}/_sim/subscriptions/{subscription}/renew",
            billing.stripe.base_url()
        );
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({}))
                .send()
                .await
                .expect("the stand-in answers")
                .json::<Value>()
                .await
                .expect("JSON")
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while asked(&billing) == asked_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook never asked Stripe"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked_at = tokio::time::Instant::now();
    for _ in 0..5 {
        if asked_at.elapsed() > Duration::from_secs(5) {
            break;
        }
        let mut tx = pool.begin().await.unwrap();
        let locked = sqlx::query("select id from users where id = $1 for update nowait")
            .bind(user.id)
            .execute(&mut *tx)
            .await;
        assert!(
            locked.is_ok(),
            "the account was locked across a Stripe call: {locked:?}"
        );
        tx.rollback().await.unwrap();
        let idle_in_transaction: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and state like 'idle in transaction%'
               and pid <> pg_backend_pid()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(idle_in_transaction, 0, "a transaction waited on Stripe");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    billing.stripe.slow_down(Duration::ZERO);
    let delivered = renewal.await.unwrap();
    super::assert_accepted(&delivered);
    assert!(
        audit_lines(&billing, user.id).await > before,
        "the renewal was not recorded"
    );
}
