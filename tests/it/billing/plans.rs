//! Plan changes and the subscription's life: an upgrade raises the limit, a downgrade
//! lowers it (instances kept, no new ones), a failed payment and a cancellation close
//! instance creation, a renewal opens it again.

use fasterclaw::api::contract::Plan;
use serde_json::json;

use super::{Billing, PRO, STARTER, instance, until_subscription};

const NO_SUBSCRIPTION: &str =
    "403: Active subscription required. Please subscribe to create instances.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_changes_move_the_instance_limit() {
    let billing = Billing::start(&[]).await;
    let (client, _, subscription) = billing.subscriber("starter").await;
    client.create_instance(&instance("One")).await.unwrap();
    client.create_instance(&instance("Two")).await.unwrap();
    assert!(client.create_instance(&instance("Three")).await.is_err());

    // An upgrade in the portal: the price changes, and with it the limit.
    let upgraded = billing
        .control(
            &format!("subscriptions/{subscription}/price"),
            json!({ "price": PRO }),
        )
        .await;
    super::assert_accepted(&upgraded);
    let pro = client.subscription().await.unwrap();
    let held = pro.subscription.unwrap();
    assert_eq!((held.plan, held.instance_limit), (Some(Plan::Pro), 10));
    client.create_instance(&instance("Three")).await.unwrap();

    // A downgrade: the three instances stay, a fourth is refused.
    billing
        .control(
            &format!("subscriptions/{subscription}/price"),
            json!({ "price": STARTER }),
        )
        .await;
    let starter = client.subscription().await.unwrap();
    assert_eq!(starter.subscription.unwrap().instance_limit, 2);
    assert_eq!(
        (
            starter.usage.instances,
            starter.usage.instance_limit,
            starter.usage.can_create_instance
        ),
        (3, 2, false)
    );
    assert_eq!(client.list_instances().await.unwrap().0.len(), 3);
    assert_eq!(
        client
            .create_instance(&instance("Four"))
            .await
            .unwrap_err()
            .to_string(),
        "403: Instance limit reached (2). Please upgrade your plan or delete existing instances."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_payments_and_cancellation_close_instance_creation() {
    let billing = Billing::start(&[]).await;
    let (client, _, subscription) = billing.subscriber("pro").await;
    client.create_instance(&instance("One")).await.unwrap();

    let failed = billing
        .control(
            &format!("subscriptions/{subscription}/payment_failed"),
            json!({}),
        )
        .await;
    super::assert_accepted(&failed);
    assert_eq!(billing.stored_status(&subscription).await, "PAST_DUE");
    // Only an ACTIVE subscription counts.
    let view = client.subscription().await.unwrap();
    assert!(view.subscription.is_none());
    assert!(!view.usage.can_create_instance);
    assert_eq!(
        client
            .create_instance(&instance("Two"))
            .await
            .unwrap_err()
            .to_string(),
        NO_SUBSCRIPTION
    );
    // The instance stays.
    assert_eq!(client.list_instances().await.unwrap().0.len(), 1);
    // The failed invoice is listed as Stripe has it.
    let invoices = client.invoices().await.unwrap().0;
    assert_eq!(
        (
            invoices[0].status.as_str(),
            invoices[0].amount,
            invoices[0].paid_at.is_none()
        ),
        ("open", 0.0, true)
    );

    billing
        .control(&format!("subscriptions/{subscription}/renew"), json!({}))
        .await;
    until_subscription(&client, "active again", |s| s.subscription.is_some()).await;
    client.create_instance(&instance("Two")).await.unwrap();

    let cancelled = billing
        .control(&format!("subscriptions/{subscription}/cancel"), json!({}))
        .await;
    super::assert_accepted(&cancelled);
    assert_eq!(billing.stored_status(&subscription).await, "CANCELED");
    assert_eq!(
        client
            .create_instance(&instance("Three"))
            .await
            .unwrap_err()
            .to_string(),
        NO_SUBSCRIPTION
    );
}
