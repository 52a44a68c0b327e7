//! Checkout, the portal and invoices: a paid Checkout activates the plan and its
//! limit, the customer is made once and remembered, a second Checkout for the plan
//! held is refused, and invoices come back in dollars.

use fasterclaw::api::contract::{CheckoutRequest, Plan};
use serde_json::json;

use super::{Billing, PRO, STARTER, STRIPE_KEY, WEBHOOK_SECRET, instance, until_subscription};
use crate::facade::sign_up;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_checkout_activates_the_plan_and_its_limit() {
    let billing = Billing::start(&[]).await;
    let (client, user) = sign_up(&billing.facade.client()).await;

    let before = client.subscription().await.unwrap();
    assert!(before.subscription.is_none());
    assert_eq!(
        (
            before.usage.instances,
            before.usage.instance_limit,
            before.usage.can_create_instance
        ),
        (0, 0, false)
    );
    let plans = before.plans;
    assert_eq!(
        plans.starter.as_ref().map(|p| p.price_id.as_str()),
        Some(STARTER)
    );
    assert_eq!(plans.pro.as_ref().map(|p| p.instance_limit), Some(10));
    assert_eq!(
        plans.enterprise.as_ref().map(|p| p.instance_limit),
        Some(-1)
    );

    let session_id = billing.checkout(&client, "starter").await;
    let session = billing
        .stripe_get(&format!("checkout/sessions/{session_id}"))
        .await;
    assert_eq!(session["mode"], "subscription");
    assert_eq!(
        session["success_url"],
        "https://app.example.com/dashboard/billing?success=true"
    );
    assert_eq!(
        session["cancel_url"],
        "https://app.example.com/pricing?canceled=true"
    );
    assert_eq!(
        session["metadata"],
        json!({ "userId": user.id.to_string(), "plan": "starter" })
    );
    assert_eq!(session["client_reference_id"], user.id.to_string());
    let customer_id = session["customer"].as_str().unwrap().to_owned();
    let customer = billing
        .stripe_get(&format!("customers/{customer_id}"))
        .await;
    assert_eq!(customer["email"], user.email);
    assert_eq!(customer["metadata"]["userId"], user.id.to_string());
    // Not paid yet: nothing changes.
    assert!(client.subscription().await.unwrap().subscription.is_none());

    let done = billing
        .control(
            &format!("checkout/sessions/{session_id}/complete"),
            json!({}),
        )
        .await;
    super::assert_accepted(&done);
    let types: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        types.contains(&"invoice.paid"),
        "unhandled types are delivered too: {types:?}"
    );

    let view = client.subscription().await.unwrap();
    let subscription = view.subscription.expect("an active subscription");
    assert_eq!(subscription.status, "ACTIVE");
    assert_eq!(subscription.plan, Some(Plan::Starter));
    assert_eq!(subscription.instance_limit, 2);
    assert_eq!(subscription.stripe_customer_id, customer_id);
    assert!(!subscription.cancel_at_period_end);
    let period = subscription.current_period_end.0 - chrono::Utc::now();
    assert!(period.num_days() >= 29, "a month's period, not {period}");
    assert_eq!(
        (
            view.usage.instances,
            view.usage.instance_limit,
            view.usage.can_create_instance
        ),
        (0, 2, true)
    );

    client.create_instance(&instance("One")).await.unwrap();
    client.create_instance(&instance("Two")).await.unwrap();
    let refused = client
        .create_instance(&instance("Three"))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "403: Instance limit reached (2). Please upgrade your plan or delete existing instances."
    );
    let full = client.subscription().await.unwrap().usage;
    assert_eq!((full.instances, full.can_create_instance), (2, false));

    // The plan held cannot be bought again; another plan can, from the same customer.
    let again: CheckoutRequest = serde_json::from_value(json!({ "plan": "starter" })).unwrap();
    let conflict = client.checkout(&again).await.unwrap_err();
    assert_eq!(
        conflict.to_string(),
        "409: You already have an active Starter subscription. Manage it in the billing portal."
    );
    let upgrade = billing.checkout(&client, "pro").await;
    let upgrade = billing
        .stripe_get(&format!("checkout/sessions/{upgrade}"))
        .await;
    assert_eq!(upgrade["customer"], customer_id.as_str());
    let customers_made = billing
        .stripe
        .requests()
        .iter()
        .filter(|r| *r == "POST /v1/customers")
        .count();
    assert_eq!(customers_made, 1, "{:?}", billing.stripe.requests());

    // The keys never reach the log.
    let logs = billing.facade.logs();
    assert!(!logs.contains(STRIPE_KEY) && !logs.contains(WEBHOOK_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_and_invoices_follow_the_customer() {
    let billing = Billing::start(&[("STRIPE_PRICE_ID_ENTERPRISE", "")]).await;
    let (client, _) = sign_up(&billing.facade.client()).await;

    let no_account = client.portal().await.unwrap_err();
    assert_eq!(
        no_account.to_string(),
        "400: No billing account found. Please subscribe first."
    );
    assert!(client.invoices().await.unwrap().0.is_empty());
    let unsold: CheckoutRequest = serde_json::from_value(json!({ "plan": "enterprise" })).unwrap();
    assert_eq!(
        client.checkout(&unsold).await.unwrap_err().to_string(),
        "400: No price ID configured for plan: enterprise. Please set STRIPE_PRICE_ID_ENTERPRISE environment variable."
    );
    assert!(
        client
            .subscription()
            .await
            .unwrap()
            .plans
            .enterprise
            .is_none()
    );

    let subscription = billing.pay(&client, "starter", json!({})).await;
    let portal = client.portal().await.unwrap();
    assert!(
        portal
            .url
            .starts_with(&format!("{}/p/session/bps_", billing.stripe.base_url())),
        "{}",
        portal.url
    );

    billing
        .control(
            &format!("subscriptions/{subscription}/price"),
            json!({ "price": PRO }),
        )
        .await;
    until_subscription(&client, "the Pro plan", |s| {
        s.subscription
            .as_ref()
            .is_some_and(|s| s.plan == Some(Plan::Pro))
    })
    .await;
    let invoices = client.invoices().await.unwrap().0;
    assert_eq!(invoices.len(), 2, "{invoices:?}");
    // Newest first, in dollars.
    assert_eq!((invoices[0].amount, invoices[1].amount), (79.0, 39.0));
    for invoice in &invoices {
        assert_eq!(invoice.status, "paid");
        assert!(invoice.id.starts_with("in_"));
        assert!(invoice.paid_at.is_some());
        let page = invoice.invoice_url.as_deref().unwrap();
        assert_eq!(
            invoice.invoice_pdf.as_deref(),
            Some(format!("{page}/pdf").as_str())
        );
    }
    // ISO dates on the wire.
    let raw: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/billing/invoices", billing.facade.url))
        .bearer_auth(client.token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = raw[0]["createdAt"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert_eq!(raw[0]["amount"], json!(79.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_stripe_settings_billing_says_what_is_missing() {
    let billing = Billing::start(&[("STRIPE_SECRET_KEY", ""), ("STRIPE_WEBHOOK_SECRET", "")]).await;
    let (client, _) = sign_up(&billing.facade.client()).await;
    let request: CheckoutRequest = serde_json::from_value(json!({ "plan": "pro" })).unwrap();
    for refused in [
        client.checkout(&request).await.unwrap_err(),
        client.portal().await.unwrap_err(),
        client.invoices().await.unwrap_err(),
    ] {
        assert_eq!(
            refused.to_string(),
            "503: Billing is not configured on this server (STRIPE_SECRET_KEY is not set)"
        );
    }
    let webhook = reqwest::Client::new()
        .post(format!("{}/billing/webhook", billing.facade.url))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), 500);
    let body: serde_json::Value = webhook.json().await.unwrap();
    assert_eq!(body, json!({ "error": "Webhook secret not configured" }));
    // The plans still show.
    assert!(client.subscription().await.unwrap().plans.pro.is_some());
}
