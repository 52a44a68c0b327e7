//! Billing end to end: `fasterclaw api` as a process, Postgres, a real kube-apiserver
//! (instances are created against the limits) and the Stripe stand-in, which delivers
//! its events to the facade's webhook signed as Stripe signs them.

mod account;
mod checkout;
mod lifecycle;
mod plans;
mod stand_in;
mod webhook;

use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{CheckoutRequest, CreateInstanceRequest, User};
use fasterclaw_sim::stripe::delivery::Delivery;
use fasterclaw_sim::stripe::{PriceSeed, StripeSim, StripeSimConfig};
use fasterclaw_sim::telegram::TelegramSim;
use serde_json::{Value, json};

use crate::facade::{sign_up, telegram};
use crate::support::stack::{FacadeProcess, Stack};

/// The secret key the facade calls the stand-in with.
pub const STRIPE_KEY: &str = "sk_test_51FasterClawBillingTests0123456789";
/// The webhook endpoint's signing secret.
pub const WEBHOOK_SECRET: &str = "whsec_9f8e7d6c5b4a3928171605f4e3d2c1b0";
/// The plans' prices: $39, $79 and $149 a month.
pub const STARTER: &str = "price_1StarterMonthly";
/// Pro.
pub const PRO: &str = "price_1ProMonthly";
/// Enterprise.
pub const ENTERPRISE: &str = "price_1EnterpriseMonthly";

/// A facade selling the three plans through the Stripe stand-in.
pub struct Billing {
    /// The cluster and database.
    pub stack: Stack,
    /// The Stripe stand-in.
    pub stripe: StripeSim,
    /// The facade.
    pub facade: FacadeProcess,
    _telegram: TelegramSim,
    http: reqwest::Client,
}

impl Billing {
    /// A facade with the Stripe settings, and `extra` ones (an empty value unsets one).
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let stack = Stack::new().await;
        let stripe = StripeSim::start(
            StripeSimConfig {
                secret_key: Some(STRIPE_KEY.to_owned()),
                prices: [(STARTER, 3900), (PRO, 7900), (ENTERPRISE, 14900)]
                    .into_iter()
                    .map(|(id, unit_amount)| PriceSeed {
                        id: id.to_owned(),
                        unit_amount,
                    })
                    .collect(),
                webhook: None,
            },
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .expect("the Stripe stand-in starts");
        let telegram = telegram().await;
        let stripe_url = stripe.base_url();
        let mut settings = vec![
            ("STRIPE_SECRET_KEY", STRIPE_KEY),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_API_URL", stripe_url.as_str()),
            ("STRIPE_PRICE_ID_STARTER", STARTER),
            ("STRIPE_PRICE_ID_PRO", PRO),
            ("STRIPE_PRICE_ID_ENTERPRISE", ENTERPRISE),
        ];
        for (key, value) in extra {
            settings.retain(|(k, _)| k != key);
            if !value.is_empty() {
                settings.push((key, value));
            }
        }
        let facade = stack.api(&telegram.base_url(), &settings).await;
        stripe.set_webhook(&format!("{}/billing/webhook", facade.url), WEBHOOK_SECRET);
        Self {
            stack,
            stripe,
            facade,
            _telegram: telegram,
            http: reqwest::Client::new(),
        }
    }

    /// Calls a `/_sim` control endpoint; returns its answer.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/_sim/{path}", self.stripe.base_url()))
            .json(&body)
            .send()
            .await
            .expect("the stand-in answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.text().await.unwrap_or_default()
        );
        response.json().await.expect("JSON")
    }

    /// Calls the stand-in's Stripe API as the facade does.
    pub async fn stripe_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/v1/{path}", self.stripe.base_url()))
            .bearer_auth(STRIPE_KEY)
            .send()
            .await
            .expect("the stand-in answers")
            .json()
            .await
            .expect("JSON")
    }

    /// A new account with a paid `plan`: Checkout, paid, its events delivered and
    /// accepted. Returns the signed-in client, the user and the subscription id.
    pub async fn subscriber(&self, plan: &str) -> (ApiClient, User, String) {
        let (client, user) = sign_up(&self.facade.client()).await;
        let subscription = self.pay(&client, plan, json!({})).await;
        (client, user, subscription)
    }

    /// Starts a Checkout for `plan` and pays it with delivery `options`; returns the
    /// subscription id once the facade accepted every delivery.
    pub async fn pay(&self, client: &ApiClient, plan: &str, options: Value) -> String {
        let session = self.checkout(client, plan).await;
        let done = self
            .control(&format!("checkout/sessions/{session}/complete"), options)
            .await;
        assert_accepted(&done);
        self.stripe_get(&format!("checkout/sessions/{session}"))
            .await["subscription"]
            .as_str()
            .expect("the session has its subscription")
            .to_owned()
    }

    /// Starts a Checkout for `plan`; returns the session id.
    pub async fn checkout(&self, client: &ApiClient, plan: &str) -> String {
        let request: CheckoutRequest =
            serde_json::from_value(json!({ "plan": plan })).expect("a plan");
        let url = client.checkout(&request).await.expect("a Checkout").url;
        url.rsplit('/').next().unwrap_or_default().to_owned()
    }

    /// The status the store holds for a Stripe subscription.
    pub async fn stored_status(&self, subscription: &str) -> String {
        sqlx::query_scalar("select status from subscriptions where stripe_subscription_id = $1")
            .bind(subscription)
            .fetch_one(self.stack.db.db.pool())
            .await
            .expect("the subscription is recorded")
    }
}

/// Asserts that the facade accepted (2xx) every delivery of a control call's answer.
pub fn assert_accepted(answer: &Value) {
    let deliveries: Vec<Delivery> =
        serde_json::from_value(answer["deliveries"].clone()).expect("deliveries");
    assert!(!deliveries.is_empty(), "nothing was delivered: {answer}");
    for delivery in &deliveries {
        assert!(delivery.accepted(), "a delivery was refused: {delivery:?}");
    }
}

/// An instance named `name`.
pub fn instance(name: &str) -> CreateInstanceRequest {
    serde_json::from_value(json!({
        "name": name,
        "telegramBotToken": crate::support::stack::TOKEN,
    }))
    .expect("a valid request")
}

/// Waits until `check` holds of the caller's subscription view, or panics.
pub async fn until_subscription(
    client: &ApiClient,
    what: &str,
    check: impl Fn(&fasterclaw::api::contract::SubscriptionResponse) -> bool,
) -> fasterclaw::api::contract::SubscriptionResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = client.subscription().await.expect("the subscription");
        if check(&seen) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never held: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
