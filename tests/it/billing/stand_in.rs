//! The Stripe stand-in speaks Stripe's wire format: `async-stripe` (through the
//! facade's own client) decodes its objects and its error envelope; it authenticates
//! by key, refuses unknown parameters, and replays answers to a repeated idempotency
//! key (refusing the key with other parameters).

use std::time::Duration;

use fasterclaw::billing::stripe::{StripeApi, StripeCallError};
use fasterclaw_sim::stripe::{PriceSeed, StripeSim, StripeSimConfig};
use serde_json::Value;

const KEY: &str = "sk_test_StandInWireFormat";

async fn stand_in() -> StripeSim {
    StripeSim::start(
        StripeSimConfig {
            secret_key: Some(KEY.to_owned()),
            prices: vec![PriceSeed {
                id: "price_wire".to_owned(),
                unit_amount: 1234,
            }],
            webhook: None,
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("the Stripe stand-in starts")
}

async fn form(
    sim: &StripeSim,
    path: &str,
    key: Option<&str>,
    idempotency: Option<&str>,
    body: &str,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/{path}", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(idempotency) = idempotency {
        request = request.header("idempotency-key", idempotency);
    }
    let response = request.send().await.unwrap();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    (
        response.status().as_u16(),
        replayed,
        response.json().await.unwrap(),
    )
}

#[tokio::test]
async fn the_facades_client_decodes_every_answer() {
    let sim = stand_in().await;
    let api = StripeApi::new(
        &KEY.to_owned().into(),
        &sim.base_url(),
        Duration::from_secs(5),
    )
    .unwrap();
    let user = uuid::Uuid::new_v4();
    let customer = api
        .create_customer(user, "ada@example.com", Some("Ada"))
        .await
        .unwrap();
    assert!(customer.starts_with("cus_"), "{customer}");
    // The same user and details give the same customer (one idempotency key), also
    // when Stripe fails the first attempt.
    sim.fail_next(1);
    assert_eq!(
        api.create_customer(user, "ada@example.com", Some("Ada"))
            .await
            .unwrap(),
        customer
    );
    assert_eq!(api.customer_user(&customer).await.unwrap(), Some(user));

    let checkout = fasterclaw::billing::stripe::CheckoutRequest {
        customer: &customer,
        price: "price_wire",
        user_id: user,
        plan: "pro",
        success_url: "https://app.example.com/ok".to_owned(),
        cancel_url: "https://app.example.com/no".to_owned(),
    };
    let url = api.create_checkout(&checkout).await.unwrap();
    assert!(
        url.starts_with(&format!("{}/c/pay/cs_test_", sim.base_url())),
        "{url}"
    );
    let unknown_price = fasterclaw::billing::stripe::CheckoutRequest {
        price: "price_missing",
        ..checkout.clone()
    };
    match api.create_checkout(&unknown_price).await.unwrap_err() {
        StripeCallError::Refused {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code.as_deref()), (400, Some("resource_missing")));
            assert_eq!(message, "No such price: 'price_missing'");
        }
        other => panic!("not a refusal: {other:?}"),
    }
    let missing = api.subscription("sub_missing").await.unwrap_err();
    assert!(missing.is_missing(), "{missing:?}");
    assert!(
        api.create_portal(&customer, "https://app.example.com")
            .await
            .unwrap()
            .contains("/p/session/bps_")
    );
    assert!(api.invoices(&customer, 10).await.unwrap().is_empty());
    // Stripe unavailable, after the retries.
    sim.fail_next(10);
    assert!(matches!(
        api.invoices(&customer, 10).await.unwrap_err(),
        StripeCallError::Unavailable(_)
    ));
    sim.fail_next(0);
    // A key the stand-in does not know.
    let stranger = StripeApi::new(
        &"sk_test_other".to_owned().into(),
        &sim.base_url(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(matches!(
        stranger.invoices(&customer, 10).await.unwrap_err(),
        StripeCallError::Refused { status: 401, .. }
    ));
}

#[tokio::test]
async fn keys_parameters_and_idempotency_follow_stripe() {
    let sim = stand_in().await;
    let (status, _, body) = form(&sim, "customers", None, None, "email=a%40example.com").await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You did not provide an API key")
    );

    let (status, _, body) = form(
        &sim,
        "customers",
        Some(KEY),
        None,
        "email=a%40example.com&nickname=x",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "nickname");

    let params = "email=a%40example.com&metadata[userId]=u-1";
    let (status, replayed, first) = form(&sim, "customers", Some(KEY), Some("key-1"), params).await;
    assert_eq!((status, replayed), (200, None));
    assert_eq!(first["metadata"]["userId"], "u-1");
    let (status, replayed, second) =
        form(&sim, "customers", Some(KEY), Some("key-1"), params).await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    assert_eq!(second["id"], first["id"]);
    let (status, _, body) = form(
        &sim,
        "customers",
        Some(KEY),
        Some("key-1"),
        "email=b%40example.com",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "idempotency_error");

    let (status, _, body) = form(
        &sim,
        "checkout/sessions",
        Some(KEY),
        None,
        "customer=cus_none&mode=subscription&success_url=https%3A%2F%2Fx",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "No such customer: 'cus_none'");
    let (status, _, body) = form(&sim, "nothing/here", Some(KEY), None, "").await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (POST: /v1/nothing/here)")
    );
}
