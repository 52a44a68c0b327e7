//! Billing as far as the facade serves it without Stripe: the caller's subscription and
//! the plans. Checkout, the portal, invoices and the webhook need Stripe's settings.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::ApiError;
use super::extract::SignedIn;
use super::state::AppState;
use crate::api::contract::{Plan, Plans, Subscription, SubscriptionResponse};
use crate::domain::Timestamp;

/// `GET /billing/subscription`: the active subscription, or null, and the plans on
/// offer (none without Stripe prices).
pub async fn subscription(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let record = state.db.subscriptions().active_for_user(user.id).await?;
    let customer = match &record {
        Some(_) => state
            .db
            .secrets(&state.keyring)
            .stripe_customer_id(user.id)
            .await?
            .map(|id| secrecy::ExposeSecret::expose_secret(&id).to_owned()),
        None => None,
    };
    let subscription = record.map(|r| Subscription {
        id: r.id,
        user_id: r.user_id,
        stripe_customer_id: customer.unwrap_or_default(),
        stripe_subscription_id: r.stripe_subscription_id,
        status: r.status,
        plan: r
            .plan
            .as_deref()
            .and_then(|p| Plan::ALL.into_iter().find(|x| x.as_str() == p)),
        instance_limit: r.instance_limit,
        current_period_start: r.current_period_start.map(Timestamp::from),
        current_period_end: Timestamp::from(r.current_period_end),
        cancel_at_period_end: r.cancel_at_period_end,
        created_at: Timestamp::from(r.created_at),
        updated_at: Timestamp::from(r.updated_at),
    });
    Ok(Json(SubscriptionResponse {
        subscription,
        plans: Plans::default(),
    }))
}

/// Checkout, the portal and invoices without Stripe's settings.
pub async fn not_configured(SignedIn(_): SignedIn) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)",
    )
}

/// The webhook without Stripe's settings, as the original answered it.
pub async fn webhook_not_configured() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Webhook secret not configured",
    )
}
