//! Billing with Stripe: the plans and their prices, Stripe's API as billing uses it,
//! webhook signatures and events, and how each event changes a subscription.

pub mod catalog;
pub mod entitlements;
pub mod events;
pub mod lifecycle;
pub mod settings;
pub mod signature;
pub mod stripe;
pub mod webhook;

use uuid::Uuid;

use crate::db::{Database, StoreError};
use stripe::{StripeApi, StripeCallError};

/// Why a billing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Stripe call failed.
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
}

/// Cancels every subscription of `user` that has not ended, at Stripe and then in
/// the store, before the account goes. Stripe's failures are retried (see
/// [`StripeApi`]); one that persists is returned, and nothing is cancelled silently
/// in the store alone. Returns how many were cancelled.
pub async fn cancel_all_for(
    db: &Database,
    stripe: Option<&StripeApi>,
    user: Uuid,
) -> Result<usize, BillingError> {
    let unended = db.subscriptions().unended_for_user(user).await?;
    if unended.is_empty() {
        return Ok(0);
    }
    let Some(stripe) = stripe else {
        tracing::warn!(
            %user,
            count = unended.len(),
            "STRIPE_SECRET_KEY is not set, so the account's subscriptions are not cancelled at Stripe"
        );
        return Ok(0);
    };
    for id in &unended {
        stripe.cancel_subscription(id).await?;
        db.subscriptions().set_status(id, "CANCELED").await?;
        tracing::info!(%user, subscription = %id, "cancelled the subscription at Stripe");
    }
    Ok(unended.len())
}
