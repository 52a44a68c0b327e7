//! Stripe's objects as its API (version [`API_VERSION`]) writes them: every field
//! Stripe sends, `null` where it has no value, so a client decoding Stripe's real
//! answers decodes these.

use serde_json::{Map, Value, json};

/// The API version the objects follow.
pub const API_VERSION: &str = "2026-09-30.endive";

/// One month, as the stand-in's billing periods last.
pub const PERIOD_SECONDS: i64 = 30 * 24 * 3600;

/// A customer.
pub fn customer(
    id: &str,
    created: i64,
    email: Option<&str>,
    name: Option<&str>,
    metadata: Value,
) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": created,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": email,
        "invoice_prefix": id.trim_start_matches("cus_").chars().take(8).collect::<String>().to_ascii_uppercase(),
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null,
        },
        "livemode": false,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null,
    })
}

/// A monthly recurring price of `unit_amount` cents in `currency`.
pub fn price(id: &str, created: i64, product: &str, unit_amount: i64, currency: &str) -> Value {
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": product,
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": null,
            "trial_period_days": null,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(),
    })
}

/// The legacy `plan` object Stripe still embeds in subscription items.
fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": "month",
        "interval_count": 1,
        "livemode": false,
        "metadata": {},
        "meter": null,
        "nickname": null,
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed",
    })
}

/// What a Checkout session is made of.
#[derive(Clone, Debug)]
pub struct SessionParts<'a> {
    /// Session id.
    pub id: &'a str,
    /// When it was made.
    pub created: i64,
    /// Its customer.
    pub customer: &'a str,
    /// `subscription`, `payment` or `setup`.
    pub mode: &'a str,
    /// The price bought and its amount.
    pub amount: i64,
    /// Currency.
    pub currency: &'a str,
    /// The session's metadata.
    pub metadata: Value,
    /// `client_reference_id`.
    pub client_reference_id: Option<&'a str>,
    /// Where to go after paying.
    pub success_url: Option<&'a str>,
    /// Where to go when giving up.
    pub cancel_url: Option<&'a str>,
    /// The hosted page.
    pub url: &'a str,
}

/// An open Checkout session.
pub fn checkout_session(parts: &SessionParts<'_>) -> Value {
    json!({
        "id": parts.id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": parts.amount,
        "amount_total": parts.amount,
        "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
        "billing_address_collection": null,
        "cancel_url": parts.cancel_url,
        "client_reference_id": parts.client_reference_id,
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": parts.created,
        "currency": parts.currency,
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {
            "after_submit": null,
            "shipping_address": null,
            "submit": null,
            "terms_of_service_acceptance": null,
        },
        "customer": parts.customer,
        "customer_creation": null,
        "customer_details": null,
        "customer_email": null,
        "discounts": [],
        "expires_at": parts.created + 24 * 3600,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": parts.metadata,
        "mode": parts.mode,
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_configuration_details": null,
        "payment_method_options": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": parts.success_url,
        "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
        "ui_mode": "hosted",
        "url": parts.url,
        "wallet_options": null,
    })
}

/// A subscription to one price, active from `start` for one period.
pub fn subscription(
    id: &str,
    item_id: &str,
    customer: &str,
    price: &Value,
    start: i64,
    metadata: Value,
    latest_invoice: &str,
) -> Value {
    json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
        "billing_cycle_anchor": start,
        "billing_cycle_anchor_config": null,
        "billing_mode": { "flexible": null, "type": "classic", "updated_at": null },
        "billing_schedules": [],
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": "charge_automatically",
        "created": start,
        "currency": price["currency"],
        "customer": customer,
        "customer_account": null,
        "days_until_due": null,
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": {
            "object": "list",
            "data": [subscription_item(item_id, id, price, start)],
            "has_more": false,
            "total_count": 1,
            "url": format!("/v1/subscription_items?subscription={id}"),
        },
        "latest_invoice": latest_invoice,
        "livemode": false,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": {
            "payment_method_options": null,
            "payment_method_types": null,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": start,
        "status": "active",
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": null,
    })
}

/// A subscription's item: one price, for the period from `period_start`.
pub fn subscription_item(id: &str, subscription: &str, price: &Value, period_start: i64) -> Value {
    json!({
        "id": id,
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": period_start,
        "current_period_end": period_start + PERIOD_SECONDS,
        "current_period_start": period_start,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": price,
        "quantity": 1,
        "subscription": subscription,
        "tax_rates": [],
    })
}

/// What an invoice is made of.
#[derive(Clone, Debug)]
pub struct InvoiceParts<'a> {
    /// Invoice id.
    pub id: &'a str,
    /// Its number.
    pub number: String,
    /// When it was made.
    pub created: i64,
    /// Its customer.
    pub customer: &'a Value,
    /// The subscription it bills.
    pub subscription: &'a str,
    /// Why it was made (`subscription_create`, `subscription_cycle`, `subscription_update`).
    pub billing_reason: &'a str,
    /// Amount in cents.
    pub amount: i64,
    /// Currency.
    pub currency: &'a str,
    /// The period billed.
    pub period: (i64, i64),
    /// Whether the payment succeeded (`paid`) or failed (`open`).
    pub paid: bool,
    /// Base URL of the hosted pages.
    pub pages: &'a str,
}

/// A finalized invoice, paid or with a failed payment attempt.
pub fn invoice(parts: &InvoiceParts<'_>) -> Value {
    let paid = parts.paid;
    json!({
        "id": parts.id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "FasterClaw",
        "account_tax_ids": null,
        "amount_due": parts.amount,
        "amount_overpaid": 0,
        "amount_paid": if paid { parts.amount } else { 0 },
        "amount_remaining": if paid { 0 } else { parts.amount },
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 1,
        "attempted": true,
        "auto_advance": !paid,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null },
        "automatically_finalizes_at": null,
        "billing_reason": parts.billing_reason,
        "collection_method": "charge_automatically",
        "confirmation_secret": null,
        "created": parts.created,
        "currency": parts.currency,
        "custom_fields": null,
        "customer": parts.customer["id"],
        "customer_account": null,
        "customer_address": null,
        "customer_email": parts.customer["email"],
        "customer_name": parts.customer["name"],
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": parts.created,
        "ending_balance": 0,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": format!("{}/i/{}", parts.pages, parts.id),
        "invoice_pdf": format!("{}/i/{}/pdf", parts.pages, parts.id),
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": false,
            "total_count": 0,
            "url": format!("/v1/invoices/{}/lines", parts.id),
        },
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": if paid { Value::Null } else { json!(parts.created + 3 * 24 * 3600) },
        "number": parts.number,
        "on_behalf_of": null,
        "parent": {
            "quote_details": null,
            "subscription_details": { "metadata": {}, "subscription": parts.subscription },
            "type": "subscription_details",
        },
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "period_end": parts.period.1,
        "period_start": parts.period.0,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": if paid { "paid" } else { "open" },
        "status_transitions": {
            "finalized_at": parts.created,
            "marked_uncollectible_at": null,
            "paid_at": if paid { json!(parts.created) } else { Value::Null },
            "voided_at": null,
        },
        "subtotal": parts.amount,
        "subtotal_excluding_tax": parts.amount,
        "test_clock": null,
        "total": parts.amount,
        "total_discount_amounts": [],
        "total_excluding_tax": parts.amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": parts.created,
    })
}

/// A Billing Portal session.
pub fn portal_session(
    id: &str,
    created: i64,
    customer: &str,
    return_url: Option<&str>,
    url: &str,
) -> Value {
    json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": "bpc_standin_default",
        "created": created,
        "customer": customer,
        "customer_account": null,
        "flow": null,
        "livemode": false,
        "locale": null,
        "on_behalf_of": null,
        "return_url": return_url,
        "url": url,
    })
}

/// An event about `object`, with the attributes it had before when it changed.
pub fn event(
    id: &str,
    created: i64,
    event_type: &str,
    object: &Value,
    previous: Option<Map<String, Value>>,
    request: Option<&str>,
) -> Value {
    let mut data = json!({ "object": object });
    if let Some(previous) = previous {
        data["previous_attributes"] = Value::Object(previous);
    }
    json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": request, "idempotency_key": null },
        "type": event_type,
    })
}

/// A list page.
pub fn list(data: Vec<Value>, has_more: bool, url: &str) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

/// Stripe's error envelope.
pub fn error(kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Value {
    json!({
        "error": {
            "code": code,
            "doc_url": code.map(|c| format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-"))),
            "message": message,
            "param": param,
            "request_log_url": null,
            "type": kind,
        }
    })
}
