//! Deleting an account cancels its Stripe subscription first; when Stripe keeps
//! failing, the account stays (503) rather than leaving a subscription billing a
//! deleted customer.

use fasterclaw::api::contract::DeleteAccountRequest;

use super::Billing;

/// The password of the accounts the billing tests sign up.
fn password() -> DeleteAccountRequest {
    serde_json::from_value(serde_json::json!({ "password": "a good password" })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_account_cancels_its_subscription_first() {
    let billing = Billing::start(&[]).await;
    let (client, _, subscription) = billing.subscriber("pro").await;

    // Stripe fails every attempt: the account stays, the subscription runs on.
    billing.stripe.fail_next(100);
    let refused = client.delete_account(&password()).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "503: Your subscription could not be cancelled with Stripe, so the account was not deleted. Please try again shortly."
    );
    assert!(client.me().await.is_ok());
    assert_eq!(
        billing.stripe.subscription(&subscription).unwrap()["status"],
        "active"
    );
    let attempts = billing
        .stripe
        .requests()
        .iter()
        .filter(|r| **r == format!("DELETE /v1/subscriptions/{subscription}"))
        .count();
    assert!(
        attempts >= 2,
        "a failed cancellation is retried: {attempts} attempt(s)"
    );

    // Stripe fails twice more, then answers: the retries carry the deletion through.
    billing.stripe.fail_next(2);
    client.delete_account(&password()).await.unwrap();
    assert_eq!(client.me().await.unwrap_err().status(), Some(401));
    let cancelled = billing.stripe.subscription(&subscription).unwrap();
    assert_eq!(cancelled["status"], "canceled");
    // Stripe's own event about it reaches the facade and is acknowledged, whether it
    // arrives before the user is gone or after.
    let deleted = billing
        .stripe
        .events()
        .into_iter()
        .find(|e| e["type"] == "customer.subscription.deleted")
        .expect("Stripe emitted the cancellation");
    let id = deleted["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !billing.facade.logs().contains(&id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never arrived: {}",
            billing.facade.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
