use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::billing::catalog::{PlanConfig, Plans};
pub use crate::billing::stripe::Invoice;
pub use crate::domain::Plan;
use crate::domain::Timestamp;

/// The plan to subscribe to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "CreateCheckoutRequest")]
pub struct CheckoutRequest {
    /// Plan to subscribe to.
    pub plan: Plan,
}

/// The Stripe Checkout page to send the browser to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckoutResponse {
    /// Stripe Checkout address.
    #[schemars(url)]
    pub url: String,
}

/// The Stripe Billing Portal page to send the browser to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PortalResponse {
    /// Stripe Billing Portal address.
    #[schemars(url)]
    pub url: String,
}

/// The caller's last invoices, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct InvoiceList(pub Vec<Invoice>);

/// A subscription of the signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct Subscription {
    /// Subscription id.
    pub id: Uuid,
    /// Id of the subscribing user.
    pub user_id: Uuid,
    /// Stripe customer id.
    pub stripe_customer_id: String,
    /// Stripe subscription id.
    pub stripe_subscription_id: String,
    /// Stripe's status, upper-cased: ACTIVE, PAST_DUE, CANCELED, ...
    pub status: String,
    /// The plan, when known.
    pub plan: Option<Plan>,
    /// How many instances the plan allows; -1 means unlimited.
    pub instance_limit: i32,
    /// Start of the current billing period.
    pub current_period_start: Option<Timestamp>,
    /// End of the current billing period.
    pub current_period_end: Timestamp,
    /// Whether the subscription ends with the current period.
    pub cancel_at_period_end: bool,
    /// When the subscription was recorded.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The signed-in user's active subscription and the plans on offer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = super::require_every_property)]
pub struct SubscriptionResponse {
    /// The active subscription, or null.
    pub subscription: Option<Subscription>,
    /// The plans on offer.
    pub plans: Plans,
    /// How many instances the user has and may have.
    pub usage: InstanceUsage,
    /// Since when the user has been without an ACTIVE subscription, and what happens to
    /// their instances when; null while a subscription is ACTIVE (or there never was
    /// one).
    pub lapse: Option<BillingLapse>,
}

/// An account without an ACTIVE subscription, and what billing does to its instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct BillingLapse {
    /// The status of the newest subscription: PAST_DUE, UNPAID, CANCELED, ...
    pub status: String,
    /// Since when there has been no ACTIVE subscription.
    pub since: Timestamp,
    /// When the instances stop (or stopped): at once for an ended subscription, after
    /// the grace period for a failed payment.
    pub instances_stop_at: Timestamp,
    /// When the instances and their Fly.io apps are deleted, once that is announced
    /// (for the warning period before it); null until then.
    pub deletion_at: Option<Timestamp>,
}

/// The user's instances against the active subscription's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct InstanceUsage {
    /// Instances the user has (not deleted).
    pub instances: i64,
    /// Instances the active subscription allows: -1 is unlimited, 0 without one.
    pub instance_limit: i32,
    /// Whether one more instance may be created now. An account over a lowered
    /// limit keeps its instances but cannot create more.
    pub can_create_instance: bool,
}

/// Acknowledgement of a Stripe webhook event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "WebhookResponse")]
pub struct WebhookReceived {
    /// Always `true` once the signature is verified.
    pub received: bool,
}

/// A Stripe event as Stripe delivers it to the webhook. The fields listed are the
/// ones the facade reads; Stripe's others are accepted and ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StripeEvent {
    /// Event id (`evt_...`); each is processed once.
    pub id: String,
    /// Event type, such as `checkout.session.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When Stripe created the event, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the event comes from live mode.
    pub livemode: bool,
    /// The object the event is about.
    pub data: StripeEventData,
}

/// The payload of a Stripe event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StripeEventData {
    /// The Stripe object (a checkout session, a subscription, an invoice...).
    pub object: serde_json::Map<String, serde_json::Value>,
}
