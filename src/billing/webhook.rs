//! Applying Stripe events: each event is recorded and applied in one transaction, so
//! it takes effect exactly once however often, and however concurrently, Stripe
//! delivers it. Events may arrive in any order, so none is trusted for the
//! subscription's state: with the user's row locked (one event of a user at a time),
//! the subscription is read from Stripe and recorded as Stripe holds it now.

use serde_json::json;
use uuid::Uuid;

use super::BillingError;
use super::catalog::{Catalog, instance_limit};
use super::events::{Event, EventKind};
use super::stripe::{StripeApi, SubscriptionState};
use crate::api::contract::Plan;
use crate::crypto::Keyring;
use crate::db::{
    AuditLog, Database, StoreError, StripeEvents, SubscriptionUpdate, Subscriptions, Users,
};

/// What became of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A subscription was recorded as Stripe holds it.
    Applied {
        /// Whose.
        user: Uuid,
        /// Stripe subscription id.
        subscription: String,
        /// Its status, upper-cased.
        status: String,
    },
    /// The event was processed before.
    Duplicate,
    /// Nothing to do, and why.
    Ignored(&'static str),
}

/// Applies Stripe events to the store.
#[derive(Clone, Copy, Debug)]
pub struct EventProcessor<'a> {
    /// The store.
    pub db: &'a Database,
    /// Opens and seals customer ids.
    pub keyring: &'a Keyring,
    /// Stripe's API, for the subscription's current state.
    pub stripe: &'a StripeApi,
    /// The plans, by price.
    pub catalog: &'a Catalog,
}

impl EventProcessor<'_> {
    /// Records and applies `event` once; an error leaves it unrecorded, for Stripe to
    /// deliver again.
    pub async fn process(&self, event: &Event) -> Result<Outcome, BillingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        // A concurrent delivery of the same event waits here until the first commits
        // (and then finds it recorded) or rolls back (and then applies it itself).
        if !StripeEvents::record_once_in(&mut tx, &event.id, &event.event_type).await? {
            return Ok(Outcome::Duplicate);
        }
        let outcome = self.apply(&mut tx, event).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(outcome)
    }

    async fn apply(
        &self,
        tx: &mut sqlx::PgConnection,
        event: &Event,
    ) -> Result<Outcome, BillingError> {
        if let EventKind::Other(_) = event.kind {
            return Ok(Outcome::Ignored("billing does not act on this event type"));
        }
        if event.kind == EventKind::CheckoutCompleted && !event.is_subscription_checkout() {
            return Ok(Outcome::Ignored("the Checkout was not for a subscription"));
        }
        let Some(subscription_id) = event.subscription_id() else {
            return Ok(Outcome::Ignored("the event names no subscription"));
        };
        let Some(user) = self.owner(tx, event, subscription_id).await? else {
            return Ok(Outcome::Ignored(
                "the subscription belongs to no known user",
            ));
        };
        if !Users::lock_in(tx, user).await? {
            return Ok(Outcome::Ignored("the user no longer exists"));
        }
        let state = match self.stripe.subscription(subscription_id).await {
            Ok(state) => state,
            Err(e) if e.is_missing() => {
                if event.kind == EventKind::SubscriptionDeleted {
                    return self
                        .record_status(tx, user, subscription_id, "CANCELED")
                        .await;
                }
                return Ok(Outcome::Ignored("Stripe has no such subscription"));
            }
            Err(e) => return Err(e.into()),
        };
        if event.kind == EventKind::CheckoutCompleted
            && let Some(customer) = event.customer_id()
        {
            self.remember_customer(user, customer).await?;
        }
        let plan = self.plan_of(&state, event);
        let status = state.status.to_ascii_uppercase();
        let update = SubscriptionUpdate {
            stripe_subscription_id: &state.id,
            stripe_price_id: state.price_id.as_deref(),
            status: &status,
            plan: plan.map(Plan::as_str),
            instance_limit: instance_limit(plan),
            current_period_start: state.current_period_start.and_then(from_unix),
            current_period_end: from_unix(state.current_period_end).unwrap_or_default(),
            cancel_at_period_end: state.cancel_at_period_end,
        };
        match Subscriptions::upsert_in(tx, user, &update).await {
            Err(StoreError::SubscriptionTaken) => {
                return Ok(Outcome::Ignored("the subscription is another user's"));
            }
            other => other?,
        };
        AuditLog::record_in(
            tx,
            "stripe",
            "subscription.sync",
            &format!("user:{user}"),
            json!({
                "event": event.id,
                "type": event.event_type,
                "subscription": state.id,
                "status": status,
                "plan": update.plan,
                "instanceLimit": update.instance_limit,
            }),
        )
        .await?;
        Ok(Outcome::Applied {
            user,
            subscription: state.id,
            status,
        })
    }

    /// Whose subscription it is: the user the object names (metadata or Checkout
    /// reference), the user it is recorded for, or the user its customer was made for.
    async fn owner(
        &self,
        tx: &mut sqlx::PgConnection,
        event: &Event,
        subscription_id: &str,
    ) -> Result<Option<Uuid>, BillingError> {
        if let Some(user) = event.user_id() {
            return Ok(Some(user));
        }
        if let Some(user) = Subscriptions::owner_in(tx, subscription_id).await? {
            return Ok(Some(user));
        }
        match event.customer_id() {
            Some(customer) => match self.stripe.customer_user(customer).await {
                Ok(user) => Ok(user),
                Err(e) if e.is_missing() => Ok(None),
                Err(e) => Err(e.into()),
            },
            None => Ok(None),
        }
    }

    /// The plan: the one sold at the subscription's price (so a change made in the
    /// portal counts), else the plan named when it was bought.
    fn plan_of(&self, state: &SubscriptionState, event: &Event) -> Option<Plan> {
        state
            .price_id
            .as_deref()
            .and_then(|price| self.catalog.plan_for_price(price))
            .or_else(|| {
                let named = state
                    .metadata
                    .get("plan")
                    .map(String::as_str)
                    .or_else(|| event.metadata_plan())?;
                Plan::ALL.into_iter().find(|p| p.as_str() == named)
            })
    }

    async fn record_status(
        &self,
        tx: &mut sqlx::PgConnection,
        user: Uuid,
        subscription_id: &str,
        status: &str,
    ) -> Result<Outcome, BillingError> {
        Subscriptions::set_status_in(tx, subscription_id, status).await?;
        Ok(Outcome::Applied {
            user,
            subscription: subscription_id.to_owned(),
            status: status.to_owned(),
        })
    }

    async fn remember_customer(&self, user: Uuid, customer: &str) -> Result<(), BillingError> {
        let secrets = self.db.secrets(self.keyring);
        if secrets.stripe_customer_id(user).await?.is_none() {
            secrets.set_stripe_customer_id(user, customer).await?;
        }
        Ok(())
    }
}

fn from_unix(seconds: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(seconds, 0)
}
