//! Applying Stripe events: each event is recorded and applied in one transaction, so
//! it takes effect exactly once however often, and however concurrently, Stripe
//! delivers it. Events may arrive in any order, so none is trusted for the
//! subscription's state: the subscription is read from Stripe and recorded as Stripe
//! holds it now.
//!
//! No lock and no second connection is held while Stripe is asked: what Stripe says is
//! read first, with the account's billing revision noted; the short transaction that
//! records it then locks the account and goes ahead only if no other event recorded
//! anything for it in between (else Stripe is asked again). So the newest answer wins,
//! and a slow Stripe never holds the database.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::BillingError;
use super::catalog::{Catalog, instance_limit};
use super::events::{Event, EventKind};
use super::stripe::{StripeApi, SubscriptionState};
use crate::crypto::Keyring;
use crate::db::{
    AuditLog, Database, Secrets, StoreError, StripeEvents, SubscriptionUpdate, Subscriptions, Users,
};
use crate::domain::Plan;

/// How often an event is read again from Stripe when other events for the same
/// account keep landing in between, before Stripe is left to deliver it again.
const ATTEMPTS: usize = 5;
/// Longest wait for a row lock, and longest statement, in an event's transaction.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What Stripe holds for an event's subscription, read before any transaction.
enum Reading {
    /// The subscription as Stripe holds it.
    Found(SubscriptionState),
    /// Stripe no longer has it; a deletion event records it CANCELED.
    Gone,
}

impl EventProcessor<'_> {
    /// Records and applies `event` once; an error leaves it unrecorded, for Stripe to
    /// deliver again.
    pub async fn process(&self, event: &Event) -> Result<Outcome, BillingError> {
        if StripeEvents::seen(self.db.pool(), &event.id).await? {
            return Ok(Outcome::Duplicate);
        }
        for _ in 0..ATTEMPTS {
            let outcome = match self.read(event).await? {
                Err(why) => self.record_only(event, why).await?,
                Ok((user, revision, reading)) => self.apply(event, user, revision, reading).await?,
            };
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
        Err(BillingError::Store(StoreError::Busy(
            "the account's billing kept changing while the event was applied",
        )))
    }

    /// Everything the event needs from Stripe and the store, read without holding
    /// anything: whose it is, that account's billing revision, and the subscription.
    async fn read(
        &self,
        event: &Event,
    ) -> Result<Result<(Uuid, i64, Reading), &'static str>, BillingError> {
        if let EventKind::Other(_) = event.kind {
            return Ok(Err("billing does not act on this event type"));
        }
        if event.kind == EventKind::CheckoutCompleted && !event.is_subscription_checkout() {
            return Ok(Err("the Checkout was not for a subscription"));
        }
        let Some(subscription_id) = event.subscription_id() else {
            return Ok(Err("the event names no subscription"));
        };
        let Some(user) = self.owner(event, subscription_id).await? else {
            return Ok(Err("the subscription belongs to no known user"));
        };
        let Some(revision) = self.db.users().billing_revision(user).await? else {
            return Ok(Err("the user no longer exists"));
        };
        let reading = match self.stripe.subscription(subscription_id).await {
            Ok(state) => Reading::Found(state),
            Err(e) if e.is_missing() && event.kind == EventKind::SubscriptionDeleted => {
                Reading::Gone
            }
            Err(e) if e.is_missing() => return Ok(Err("Stripe has no such subscription")),
            Err(e) => return Err(e.into()),
        };
        Ok(Ok((user, revision, reading)))
    }

    /// Opens the short transaction that records an event, with lock and statement
    /// timeouts.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, BillingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        for (setting, value) in [
            ("lock_timeout", LOCK_TIMEOUT),
            ("statement_timeout", STATEMENT_TIMEOUT),
        ] {
            sqlx::query("select set_config($1, $2, true)")
                .bind(setting)
                .bind(format!("{}ms", value.as_millis()))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        Ok(tx)
    }

    /// Records an event billing does not act on.
    async fn record_only(
        &self,
        event: &Event,
        why: &'static str,
    ) -> Result<Option<Outcome>, BillingError> {
        let mut tx = self.begin().await?;
        if !StripeEvents::record_once_in(&mut tx, &event.id, &event.event_type).await? {
            return Ok(Some(Outcome::Duplicate));
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(Outcome::Ignored(why)))
    }

    /// Records the event and what Stripe said, unless the account's billing changed
    /// since `revision` was read (`None`: read again).
    async fn apply(
        &self,
        event: &Event,
        user: Uuid,
        revision: i64,
        reading: Reading,
    ) -> Result<Option<Outcome>, BillingError> {
        let mut tx = self.begin().await?;
        // A concurrent delivery of the same event waits here until the first commits
        // (and then finds it recorded) or rolls back (and then applies it itself).
        if !StripeEvents::record_once_in(&mut tx, &event.id, &event.event_type).await? {
            return Ok(Some(Outcome::Duplicate));
        }
        match Users::lock_billing_in(&mut tx, user).await? {
            None => {
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(Some(Outcome::Ignored("the user no longer exists")));
            }
            Some(now) if now != revision => return Ok(None),
            Some(_) => {}
        }
        let state = match reading {
            Reading::Found(state) => state,
            Reading::Gone => {
                let subscription_id = event.subscription_id().unwrap_or_default();
                Subscriptions::set_status_in(&mut tx, subscription_id, "CANCELED").await?;
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(Some(Outcome::Applied {
                    user,
                    subscription: subscription_id.to_owned(),
                    status: "CANCELED".to_owned(),
                }));
            }
        };
        if event.kind == EventKind::CheckoutCompleted
            && let Some(customer) = event.customer_id()
        {
            Secrets::remember_stripe_customer_id_in(&mut tx, self.keyring, user, customer).await?;
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
        match Subscriptions::upsert_in(&mut tx, user, &update).await {
            Err(StoreError::SubscriptionTaken) => {
                // Recorded as processed, changing nothing: it will never be this user's.
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(Some(Outcome::Ignored("the subscription is another user's")));
            }
            other => other?,
        };
        AuditLog::record_in(
            &mut tx,
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
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(Outcome::Applied {
            user,
            subscription: state.id,
            status,
        }))
    }

    /// Whose subscription it is: the user the object names (metadata or Checkout
    /// reference), the user it is recorded for, or the user its customer was made for.
    async fn owner(
        &self,
        event: &Event,
        subscription_id: &str,
    ) -> Result<Option<Uuid>, BillingError> {
        if let Some(user) = event.user_id() {
            return Ok(Some(user));
        }
        if let Some(user) = self.db.subscriptions().owner(subscription_id).await? {
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
                Plan::parse(named).ok()
            })
    }
}

fn from_unix(seconds: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(seconds, 0)
}
