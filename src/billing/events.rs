//! Stripe events as the webhook receives them: which kind each is and the ids it
//! carries. Parsed loosely (only the fields read are required), so events of any API
//! version decode.

use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The events the facade acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `checkout.session.completed`: a Checkout finished, usually with a subscription.
    CheckoutCompleted,
    /// `customer.subscription.created`.
    SubscriptionCreated,
    /// `customer.subscription.updated`: status, period or plan changed.
    SubscriptionUpdated,
    /// `customer.subscription.deleted`: the subscription ended.
    SubscriptionDeleted,
    /// `invoice.payment_succeeded`.
    PaymentSucceeded,
    /// `invoice.payment_failed`.
    PaymentFailed,
    /// Any other type: acknowledged, not acted on.
    Other(String),
}

impl EventKind {
    fn of(event_type: &str) -> Self {
        match event_type {
            "checkout.session.completed" => Self::CheckoutCompleted,
            "customer.subscription.created" => Self::SubscriptionCreated,
            "customer.subscription.updated" => Self::SubscriptionUpdated,
            "customer.subscription.deleted" => Self::SubscriptionDeleted,
            "invoice.payment_succeeded" => Self::PaymentSucceeded,
            "invoice.payment_failed" => Self::PaymentFailed,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Why a verified body is not a Stripe event.
#[derive(Debug, thiserror::Error)]
#[error("Invalid payload: {0}")]
pub struct EventError(String);

/// A Stripe event.
#[derive(Clone, Debug)]
pub struct Event {
    /// Event id (`evt_...`).
    pub id: String,
    /// Event type, as Stripe names it.
    pub event_type: String,
    /// What the facade does with it.
    pub kind: EventKind,
    /// The object the event is about.
    pub object: Map<String, Value>,
}

#[derive(Deserialize)]
struct Wire {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: WireData,
}

#[derive(Deserialize)]
struct WireData {
    object: Map<String, Value>,
}

impl Event {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| EventError(e.to_string()))?;
        if wire.id.is_empty() || wire.id.len() > 255 {
            return Err(EventError("the event id is empty or too long".to_owned()));
        }
        Ok(Self {
            kind: EventKind::of(&wire.event_type),
            id: wire.id,
            event_type: wire.event_type,
            object: wire.data.object,
        })
    }

    /// The subscription the event is about, if any: the object itself for subscription
    /// events, the Checkout's or the invoice's subscription otherwise.
    pub fn subscription_id(&self) -> Option<&str> {
        match self.kind {
            EventKind::SubscriptionCreated
            | EventKind::SubscriptionUpdated
            | EventKind::SubscriptionDeleted => text(&self.object, "id"),
            EventKind::CheckoutCompleted => id_of(self.object.get("subscription")),
            EventKind::PaymentSucceeded | EventKind::PaymentFailed => {
                // Since API version 2025-03-31 an invoice names its subscription under
                // `parent.subscription_details`; before, at the top level.
                let nested = self
                    .object
                    .get("parent")
                    .and_then(|p| p.get("subscription_details"))
                    .and_then(|d| d.get("subscription"));
                id_of(nested).or_else(|| id_of(self.object.get("subscription")))
            }
            EventKind::Other(_) => None,
        }
    }

    /// Whether a completed Checkout started a subscription (not a one-off payment).
    pub fn is_subscription_checkout(&self) -> bool {
        text(&self.object, "mode") == Some("subscription")
    }

    /// The customer the object belongs to.
    pub fn customer_id(&self) -> Option<&str> {
        id_of(self.object.get("customer"))
    }

    /// The user the object names: `metadata.userId`, or a Checkout's
    /// `client_reference_id`.
    pub fn user_id(&self) -> Option<Uuid> {
        metadata_user(&self.object)
            .or_else(|| text(&self.object, "client_reference_id").and_then(|t| t.parse().ok()))
    }

    /// The plan the object's metadata names.
    pub fn metadata_plan(&self) -> Option<&str> {
        self.object
            .get("metadata")
            .and_then(|m| m.get("plan"))
            .and_then(Value::as_str)
    }
}

/// `metadata.userId` of a Stripe object, when it is a user id.
pub fn metadata_user(object: &Map<String, Value>) -> Option<Uuid> {
    object
        .get("metadata")
        .and_then(|m| m.get("userId"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// The id of a field that is either an id or an expanded object.
fn id_of(value: Option<&Value>) -> Option<&str> {
    match value? {
        Value::String(id) if !id.is_empty() => Some(id),
        Value::Object(object) => text(object, "id"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, object: Value) -> Event {
        let body =
            json!({ "id": "evt_1", "type": kind, "created": 1, "data": { "object": object } });
        Event::parse(body.to_string().as_bytes()).expect("an event")
    }

    #[test]
    fn subscription_events_are_about_their_object() {
        let e = event(
            "customer.subscription.updated",
            json!({ "id": "sub_1", "customer": "cus_1", "metadata": {} }),
        );
        assert_eq!(e.kind, EventKind::SubscriptionUpdated);
        assert_eq!(e.subscription_id(), Some("sub_1"));
        assert_eq!(e.customer_id(), Some("cus_1"));
        assert_eq!(e.user_id(), None);
    }

    #[test]
    fn invoices_name_their_subscription_in_either_api_version() {
        let new = event(
            "invoice.payment_failed",
            json!({ "id": "in_1", "parent": { "subscription_details": { "subscription": "sub_new" } } }),
        );
        assert_eq!(new.subscription_id(), Some("sub_new"));
        let old = event(
            "invoice.payment_succeeded",
            json!({ "id": "in_1", "subscription": { "id": "sub_old" } }),
        );
        assert_eq!(old.subscription_id(), Some("sub_old"));
        let none = event(
            "invoice.payment_succeeded",
            json!({ "id": "in_1", "subscription": null }),
        );
        assert_eq!(none.subscription_id(), None);
    }

    #[test]
    fn checkouts_name_the_user_and_plan() {
        let user = Uuid::new_v4();
        let e = event(
            "checkout.session.completed",
            json!({ "id": "cs_1", "mode": "subscription", "subscription": "sub_1",
                    "client_reference_id": user.to_string(), "metadata": { "plan": "pro" } }),
        );
        assert!(e.is_subscription_checkout());
        assert_eq!(e.user_id(), Some(user));
        assert_eq!(e.metadata_plan(), Some("pro"));
        assert_eq!(e.subscription_id(), Some("sub_1"));
    }

    #[test]
    fn unknown_types_and_bad_bodies() {
        assert_eq!(
            event("charge.refunded", json!({})).kind,
            EventKind::Other("charge.refunded".to_owned())
        );
        assert!(Event::parse(b"not json").is_err());
        assert!(Event::parse(br#"{"id":"evt_1","type":"x"}"#).is_err());
    }
}
