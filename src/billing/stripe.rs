//! Stripe's API as billing uses it: customers, Checkout, the Billing Portal,
//! subscriptions and invoices, through `async-stripe`, answered in the facade's terms.

use std::collections::HashMap;
use std::time::Duration;

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::ListInvoice;
use stripe_billing::subscription::{CancelSubscription, RetrieveSubscription};
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use uuid::Uuid;

use crate::domain::Timestamp;

/// How often a call is tried before its error is returned: Stripe's 409, 429 and 5xx
/// answers and network failures are retried with backoff, under one idempotency key.
const ATTEMPTS: u32 = 3;

/// Why a Stripe call failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    /// Stripe could not be reached, timed out or failed on its side.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// Stripe refused the request.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stripe's error code, such as `resource_missing`.
        code: Option<String>,
        /// Stripe's message.
        message: String,
    },
    /// Stripe's answer was not what its API documents.
    #[error("Stripe's answer did not decode: {0}")]
    Decode(String),
}

impl StripeCallError {
    /// Whether the object asked for does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Refused { status: 404, .. })
            || matches!(self, Self::Refused { code: Some(code), .. } if code == "resource_missing")
    }
}

impl From<StripeError> for StripeCallError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::Stripe(error, status) if status < 500 && status != 429 => Self::Refused {
                status,
                code: error.code.as_ref().map(|c| c.as_str().to_owned()),
                message: error
                    .message
                    .clone()
                    .unwrap_or_else(|| error.type_.as_str().to_owned()),
            },
            StripeError::Stripe(error, status) => Self::Unavailable(format!(
                "{status}: {}",
                error.message.as_deref().unwrap_or("no message")
            )),
            StripeError::JSONDeserialize(message) => Self::Decode(message),
            StripeError::Timeout => Self::Unavailable("timed out".to_owned()),
            StripeError::ClientError(message) | StripeError::ConfigError(message) => {
                Self::Unavailable(message)
            }
        }
    }
}

/// A subscription as Stripe holds it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionState {
    /// Stripe subscription id.
    pub id: String,
    /// Stripe customer id.
    pub customer: String,
    /// Stripe's status (`active`, `past_due`, `canceled`, ...).
    pub status: String,
    /// The price of its first item.
    pub price_id: Option<String>,
    /// Its metadata.
    pub metadata: HashMap<String, String>,
    /// Start of the current period, in Unix seconds.
    pub current_period_start: Option<i64>,
    /// End of the current period, in Unix seconds.
    pub current_period_end: i64,
    /// Whether it ends with the current period.
    pub cancel_at_period_end: bool,
}

/// An invoice of the signed-in user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::domain::require_every_property)]
pub struct Invoice {
    /// Stripe invoice id.
    pub id: String,
    /// Amount paid, in dollars.
    pub amount: f64,
    /// Stripe's invoice status, or `unknown`.
    pub status: String,
    /// When the invoice was created.
    pub created_at: Timestamp,
    /// When the invoice was paid.
    pub paid_at: Option<Timestamp>,
    /// Hosted invoice page.
    #[schemars(url)]
    pub invoice_url: Option<String>,
    /// Invoice PDF.
    #[schemars(url)]
    pub invoice_pdf: Option<String>,
}

/// What a Checkout is for.
#[derive(Clone, Debug)]
pub struct CheckoutRequest<'a> {
    /// The Stripe customer.
    pub customer: &'a str,
    /// The price to subscribe to.
    pub price: &'a str,
    /// The subscribing user.
    pub user_id: Uuid,
    /// The plan's name, kept in the metadata.
    pub plan: &'a str,
    /// Where Stripe sends the browser after paying.
    pub success_url: String,
    /// Where Stripe sends the browser when the customer gives up.
    pub cancel_url: String,
}

/// A Stripe API client.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi").finish_non_exhaustive()
    }
}

impl StripeApi {
    /// A client of the Stripe API at `base_url` with `secret_key`, each attempt
    /// bounded by `timeout`.
    pub fn new(
        secret_key: &SecretString,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut base =
            url::Url::parse(base_url).map_err(|e| format!("STRIPE_API_URL is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err("STRIPE_API_URL must be an http:// or https:// URL".to_owned());
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = ClientBuilder::new(secret_key.expose_secret())
            .url(base.as_str())
            .timeout(timeout)
            .request_strategy(RequestStrategy::ExponentialBackoff(ATTEMPTS))
            .app_info(
                "fasterclaw",
                Some(env!("CARGO_PKG_VERSION").to_owned()),
                None,
            )
            .build()
            .map_err(|e| format!("STRIPE_SECRET_KEY cannot be used: {e}"))?;
        Ok(Self { client })
    }

    /// Creates the customer for `user_id`. Its idempotency key is derived from the
    /// user and the details sent, so concurrent first Checkouts make one customer.
    pub async fn create_customer(
        &self,
        user_id: Uuid,
        email: &str,
        name: Option<&str>,
    ) -> Result<String, StripeCallError> {
        let mut request = CreateCustomer::new()
            .email(email)
            .metadata(HashMap::from([("userId".to_owned(), user_id.to_string())]));
        if let Some(name) = name {
            request = request.name(name);
        }
        let digest = sha2::Sha256::digest(format!("{email}\n{}", name.unwrap_or("")));
        let key = format!(
            "fasterclaw-customer-{user_id}-{}",
            hex::encode(&digest[..8])
        );
        let key = IdempotencyKey::try_from(key)
            .map_err(|e| StripeCallError::Decode(format!("idempotency key: {e}")))?;
        // Retried by hand: the library's retrying strategies pick their own key.
        let mut attempt = 1;
        let customer = loop {
            let sent = request
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key.clone()))
                .send(&self.client)
                .await
                .map_err(StripeCallError::from);
            match sent {
                Err(StripeCallError::Unavailable(_)) if attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        Ok(customer.id.to_string())
    }

    /// The user a customer was created for (its `metadata.userId`).
    pub async fn customer_user(&self, customer: &str) -> Result<Option<Uuid>, StripeCallError> {
        let answer = RetrieveCustomer::new(customer).send(&self.client).await?;
        Ok(match answer {
            RetrieveCustomerReturned::Customer(customer) => customer
                .metadata
                .as_ref()
                .and_then(|m| m.get("userId"))
                .and_then(|id| id.parse().ok()),
            RetrieveCustomerReturned::DeletedCustomer(_) => None,
        })
    }

    /// Starts a subscription Checkout; returns the page to send the browser to.
    pub async fn create_checkout(
        &self,
        request: &CheckoutRequest<'_>,
    ) -> Result<String, StripeCallError> {
        let metadata = HashMap::from([
            ("userId".to_owned(), request.user_id.to_string()),
            ("plan".to_owned(), request.plan.to_owned()),
        ]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(request.price.to_owned());
        item.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .customer(request.customer)
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![item])
            .success_url(request.success_url.as_str())
            .cancel_url(request.cancel_url.as_str())
            .client_reference_id(request.user_id.to_string())
            .metadata(metadata)
            .subscription_data(subscription)
            .send(&self.client)
            .await?;
        session
            .url
            .ok_or_else(|| StripeCallError::Decode("the Checkout session has no url".to_owned()))
    }

    /// Opens a Billing Portal session for `customer`; returns its page.
    pub async fn create_portal(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<String, StripeCallError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await?;
        Ok(session.url)
    }

    /// The customer's last `limit` invoices, newest first.
    pub async fn invoices(
        &self,
        customer: &str,
        limit: i64,
    ) -> Result<Vec<Invoice>, StripeCallError> {
        let list = ListInvoice::new()
            .customer(customer)
            .limit(limit)
            .send(&self.client)
            .await?;
        Ok(list.data.into_iter().map(invoice_view).collect())
    }

    /// The subscription as Stripe holds it now.
    pub async fn subscription(&self, id: &str) -> Result<SubscriptionState, StripeCallError> {
        let subscription = RetrieveSubscription::new(id).send(&self.client).await?;
        Ok(subscription_state(subscription))
    }

    /// Cancels a subscription at once. One that no longer exists counts as cancelled.
    pub async fn cancel_subscription(&self, id: &str) -> Result<(), StripeCallError> {
        match CancelSubscription::new(id).send(&self.client).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = StripeCallError::from(e);
                if e.is_missing() { Ok(()) } else { Err(e) }
            }
        }
    }
}

fn subscription_state(subscription: stripe_billing::Subscription) -> SubscriptionState {
    let item = subscription.items.data.first();
    SubscriptionState {
        id: subscription.id.to_string(),
        customer: subscription.customer.id().to_string(),
        status: subscription.status.as_str().to_owned(),
        price_id: item.map(|i| i.price.id.to_string()),
        metadata: subscription.metadata,
        current_period_start: item.map(|i| i.current_period_start),
        current_period_end: item
            .map(|i| i.current_period_end)
            .unwrap_or(subscription.billing_cycle_anchor),
        cancel_at_period_end: subscription.cancel_at_period_end,
    }
}

/// An invoice as the original showed it: dollars, ISO dates, the hosted page and PDF.
fn invoice_view(invoice: stripe_billing::Invoice) -> Invoice {
    Invoice {
        id: invoice.id.map(|id| id.to_string()).unwrap_or_default(),
        amount: invoice.amount_paid as f64 / 100.0,
        status: invoice
            .status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "unknown".to_owned()),
        created_at: unix_time(invoice.created),
        paid_at: invoice.status_transitions.paid_at.map(unix_time),
        invoice_url: invoice.hosted_invoice_url,
        invoice_pdf: invoice.invoice_pdf,
    }
}

/// A Unix time in seconds as a timestamp (the epoch for one out of range).
pub fn unix_time(seconds: i64) -> Timestamp {
    Timestamp::from(chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default())
}
