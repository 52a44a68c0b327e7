//! `/billing/*`: Stripe Checkout, the Billing Portal, invoices, the caller's
//! subscription and limits, and Stripe's webhook.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;

use super::error::ApiError;
use super::extract::{JsonBody, SignedIn};
use super::state::AppState;
use crate::api::contract::{
    BillingLapse, CheckoutRequest, CheckoutResponse, InstanceUsage, InvoiceList, PortalResponse,
    Subscription, SubscriptionResponse, WebhookReceived,
};
use crate::billing::BillingError;
use crate::billing::catalog::display_name;
use crate::billing::events::Event;
use crate::billing::lifecycle::Standing;
use crate::billing::stripe::{CheckoutRequest as StripeCheckout, StripeApi, StripeCallError};
use crate::billing::webhook::{EventProcessor, Outcome};
use crate::db::BillingLifecycle;
use crate::db::UserRecord;
use crate::domain::Timestamp;

/// How many invoices the billing page lists.
const INVOICES_SHOWN: i64 = 10;

fn stripe(state: &AppState) -> Result<&StripeApi, ApiError> {
    state.billing.api.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)",
        )
    })
}

/// A failed Stripe call: 503 when Stripe is unavailable (worth retrying), else 500
/// with the original's message and the cause in the log.
fn stripe_failed(what: &'static str) -> impl FnOnce(StripeCallError) -> ApiError {
    move |e| match e {
        StripeCallError::Unavailable(_) => ApiError::unavailable("Stripe", &e),
        _ => {
            tracing::error!(error = %e, "{what}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, what)
        }
    }
}

fn billing_failed(what: &'static str) -> impl FnOnce(BillingError) -> ApiError {
    move |e| match e {
        BillingError::Store(e) => ApiError::from(e),
        BillingError::Stripe(e) => stripe_failed(what)(e),
    }
}

/// The web app's page `path` (FRONTEND_URL without its trailing slash, then `path`).
fn page(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.frontend_url.trim_end_matches('/'))
}

/// The user's Stripe customer: the one remembered, or a new one, remembered.
async fn customer_of(
    state: &AppState,
    stripe: &StripeApi,
    user: &UserRecord,
) -> Result<String, ApiError> {
    let secrets = state.db.secrets(&state.keyring);
    if let Some(id) = secrets.stripe_customer_id(user.id).await? {
        return Ok(id.expose_secret().to_owned());
    }
    let id = stripe
        .create_customer(user.id, &user.email, user.name.as_deref())
        .await
        .map_err(stripe_failed("Failed to create checkout session"))?;
    secrets.set_stripe_customer_id(user.id, &id).await?;
    Ok(id)
}

/// `POST /billing/checkout`
pub async fn checkout(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    JsonBody(body): JsonBody<CheckoutRequest>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    let stripe = stripe(&state)?;
    let plan = body.plan;
    let price = state.billing.catalog.price(plan).ok_or_else(|| {
        ApiError::bad_request(format!(
            "No price ID configured for plan: {name}. Please set STRIPE_PRICE_ID_{upper} environment variable.",
            name = plan.as_str(),
            upper = plan.as_str().to_ascii_uppercase()
        ))
    })?;
    let active = state.db.subscriptions().active_for_user(user.id).await?;
    if active.is_some_and(|s| s.plan.as_deref() == Some(plan.as_str())) {
        return Err(ApiError::conflict(format!(
            "You already have an active {} subscription. Manage it in the billing portal.",
            display_name(plan)
        )));
    }
    let customer = customer_of(&state, stripe, &user).await?;
    let url = stripe
        .create_checkout(&StripeCheckout {
            customer: &customer,
            price,
            user_id: user.id,
            plan: plan.as_str(),
            success_url: page(&state, "/dashboard/billing?success=true"),
            cancel_url: page(&state, "/pricing?canceled=true"),
        })
        .await
        .map_err(stripe_failed("Failed to create checkout session"))?;
    Ok(Json(CheckoutResponse { url }))
}

/// `POST /billing/portal`
pub async fn portal(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
) -> Result<Json<PortalResponse>, ApiError> {
    let stripe = stripe(&state)?;
    let customer = state
        .db
        .secrets(&state.keyring)
        .stripe_customer_id(user.id)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request("No billing account found. Please subscribe first.")
        })?;
    let url = stripe
        .create_portal(
            customer.expose_secret(),
            &page(&state, "/dashboard/billing"),
        )
        .await
        .map_err(stripe_failed("Failed to create portal session"))?;
    Ok(Json(PortalResponse { url }))
}

/// `GET /billing/invoices`
pub async fn invoices(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
) -> Result<Json<InvoiceList>, ApiError> {
    let stripe = stripe(&state)?;
    let Some(customer) = state
        .db
        .secrets(&state.keyring)
        .stripe_customer_id(user.id)
        .await?
    else {
        return Ok(Json(InvoiceList::default()));
    };
    let invoices = stripe
        .invoices(customer.expose_secret(), INVOICES_SHOWN)
        .await
        .map_err(stripe_failed("Failed to list invoices"))?;
    Ok(Json(InvoiceList(invoices)))
}

/// `GET /billing/subscription`: the active subscription, or null, the plans on offer
/// and the caller's instances against the limit.
pub async fn subscription(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let record = state.db.subscriptions().active_for_user(user.id).await?;
    let instances = state
        .db
        .instances(&state.keyring)
        .count_active_for_owner(user.id)
        .await?;
    let customer = match &record {
        Some(_) => state
            .db
            .secrets(&state.keyring)
            .stripe_customer_id(user.id)
            .await?
            .map(|id| id.expose_secret().to_owned()),
        None => None,
    };
    let instance_limit = record.as_ref().map_or(0, |r| r.instance_limit);
    let usage = InstanceUsage {
        instances,
        instance_limit,
        can_create_instance: record.is_some()
            && (instance_limit < 0 || instances < i64::from(instance_limit)),
    };
    let lapse = match &record {
        Some(_) => None,
        None => lapse_of(&state, user.id).await?,
    };
    let subscription = record.map(|r| {
        let plan = state
            .billing
            .catalog
            .plan_of(r.stripe_price_id.as_deref(), r.plan.as_deref());
        Subscription {
            id: r.id,
            user_id: r.user_id,
            stripe_customer_id: customer.unwrap_or_default(),
            stripe_subscription_id: r.stripe_subscription_id,
            status: r.status,
            plan,
            instance_limit: r.instance_limit,
            current_period_start: r.current_period_start.map(Timestamp::from),
            current_period_end: Timestamp::from(r.current_period_end),
            cancel_at_period_end: r.cancel_at_period_end,
            created_at: Timestamp::from(r.created_at),
            updated_at: Timestamp::from(r.updated_at),
        }
    });
    Ok(Json(SubscriptionResponse {
        subscription,
        plans: state.billing.catalog.plans(),
        usage,
        lapse,
    }))
}

/// The account's lapse as the web app shows it: when its instances stop and, once it
/// is announced, when they are deleted.
async fn lapse_of(state: &AppState, user: uuid::Uuid) -> Result<Option<BillingLapse>, ApiError> {
    let Some(lapse) = state.db.billing_lifecycle().lapse(user).await? else {
        return Ok(None);
    };
    let mut conn = state
        .db
        .pool()
        .acquire()
        .await
        .map_err(crate::db::StoreError::from)?;
    let subscriptions = BillingLifecycle::subscriptions_in(&mut conn, user).await?;
    let standing = Standing::of(&subscriptions);
    let Some((status, _)) = subscriptions.into_iter().next() else {
        return Ok(None);
    };
    let periods = &state.lifecycle;
    Ok(Some(BillingLapse {
        status,
        since: Timestamp::from(lapse.lapsed_at),
        instances_stop_at: Timestamp::from(periods.stops_at(standing, lapse.lapsed_at)),
        deletion_at: lapse
            .deletion_warned_at
            .map(|warned| Timestamp::from(periods.deletes_at(lapse.lapsed_at, warned))),
    }))
}

/// `POST /billing/webhook`: verifies Stripe's signature over the raw body, then
/// records and applies the event once. Failures answer 500 so Stripe delivers again.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceived>, ApiError> {
    let Some(verifier) = state.billing.webhook.as_ref() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Webhook secret not configured",
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or("");
    verifier
        .verify(&body, signature, chrono::Utc::now().timestamp())
        .map_err(|e| {
            tracing::warn!(reason = %e, "refused a webhook delivery");
            ApiError::bad_request(e.to_string())
        })?;
    let event = Event::parse(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let stripe = state.billing.api.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)",
        )
    })?;
    let processor = EventProcessor {
        db: &state.db,
        keyring: &state.keyring,
        stripe,
        catalog: &state.billing.catalog,
    };
    let outcome = processor
        .process(&event)
        .await
        .map_err(billing_failed("Failed to process the event"))?;
    match &outcome {
        Outcome::Applied {
            user,
            subscription,
            status,
        } => {
            tracing::info!(event = %event.id, r#type = %event.event_type, %user, %subscription, %status, "applied a Stripe event");
            // What the new state means for the account's instances, at once; a failure
            // here is the periodic check's to finish, the event stays applied.
            if let Err(e) = super::lifecycle::check_account(&state, *user, true).await {
                tracing::warn!(%user, status = %e.status, error = %e.message, "the billing lifecycle could not act on the account yet");
            }
        }
        Outcome::Duplicate => {
            tracing::info!(event = %event.id, r#type = %event.event_type, "a Stripe event delivered again; already applied")
        }
        Outcome::Ignored(why) => {
            tracing::info!(event = %event.id, r#type = %event.event_type, why, "acknowledged a Stripe event")
        }
    }
    state
        .metrics
        .stripe_event(&event.event_type, outcome_label(&outcome));
    Ok(Json(WebhookReceived { received: true }))
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Applied { .. } => "applied",
        Outcome::Duplicate => "duplicate",
        Outcome::Ignored(_) => "ignored",
    }
}

/// Cancels the account's subscriptions before it is deleted; a Stripe failure that
/// outlasts the retries stops the deletion with 503.
pub async fn cancel_before_deletion(state: &AppState, user: &UserRecord) -> Result<(), ApiError> {
    crate::billing::cancel_all_for(&state.db, state.billing.api.as_ref(), user.id)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            BillingError::Store(e) => ApiError::from(e),
            BillingError::Stripe(e) => {
                tracing::warn!(error = %e, user = %user.id, "could not cancel a subscription; the account stays");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Your subscription could not be cancelled with Stripe, so the account was not deleted. Please try again shortly.",
                )
            }
        })
}
