//! The stand-in's Stripe account: customers, prices, Checkout and portal sessions,
//! subscriptions, invoices and the events their changes emit.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use serde_json::{Map, Value, json};

use super::form::Params;
use super::objects::{self, InvoiceParts, PERIOD_SECONDS, SessionParts};

/// A refusal in Stripe's error envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// `{"error": {...}}`.
    pub body: Value,
}

impl Failure {
    /// 400 `invalid_request_error`.
    pub fn invalid(code: Option<&str>, message: &str, param: Option<&str>) -> Self {
        Self {
            status: 400,
            body: objects::error("invalid_request_error", code, message, param),
        }
    }

    /// `No such <kind>: '<id>'`: 404 for the resource in the path, 400 for a parameter.
    pub fn no_such(kind: &str, id: &str, param: &str) -> Self {
        Self {
            status: if param == "id" { 404 } else { 400 },
            body: objects::error(
                "invalid_request_error",
                Some("resource_missing"),
                &format!("No such {kind}: '{id}'"),
                Some(param),
            ),
        }
    }

    fn missing_param(param: &str) -> Self {
        Self::invalid(
            Some("parameter_missing"),
            &format!("Missing required param: {param}."),
            Some(param),
        )
    }
}

/// A price to know from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceSeed {
    /// Its id.
    pub id: String,
    /// Monthly amount in cents.
    pub unit_amount: i64,
}

/// A stored answer to a request made with an idempotency key.
#[derive(Clone, Debug)]
pub struct Remembered {
    /// What was asked: method, path and parameters.
    pub fingerprint: String,
    /// HTTP status answered.
    pub status: u16,
    /// Body answered.
    pub body: Value,
}

/// The account.
#[derive(Debug, Default)]
pub struct World {
    customers: BTreeMap<String, Value>,
    prices: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    invoices: Vec<Value>,
    events: Vec<Value>,
    /// Answers by idempotency key.
    pub idempotency: HashMap<String, Remembered>,
    /// `/v1` requests still to be answered 500, as a fault.
    pub server_errors: u32,
    /// How long every `/v1` request takes before it is answered, as a fault.
    pub latency: std::time::Duration,
    /// Every `/v1` request, as `METHOD /path`.
    pub requests: Vec<String>,
}

/// A random id with Stripe's prefix.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}_{tail}")
}

fn metadata(params: &Params, prefix: &str) -> Value {
    json!(params.hash(prefix))
}

/// Refuses parameters the endpoint does not take, as Stripe does.
fn only(params: &Params, allowed: &[&str]) -> Result<(), Failure> {
    for key in params.keys() {
        let top = key.split('[').next().unwrap_or(key);
        if !allowed.contains(&top) {
            return Err(Failure::invalid(
                Some("parameter_unknown"),
                &format!("Received unknown parameter: {key}"),
                Some(key),
            ));
        }
    }
    Ok(())
}

impl World {
    /// A world knowing `prices`.
    pub fn with_prices(prices: &[PriceSeed], now: i64) -> Self {
        let mut world = Self::default();
        for seed in prices {
            let product = new_id("prod");
            world.prices.insert(
                seed.id.clone(),
                objects::price(&seed.id, now, &product, seed.unit_amount, "usd"),
            );
        }
        world
    }

    /// Every event emitted, oldest first.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// The event `id`.
    pub fn event(&self, id: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["id"] == id)
    }

    fn emit(
        &mut self,
        now: i64,
        event_type: &str,
        object: &Value,
        previous: Option<Map<String, Value>>,
    ) -> Value {
        let event = objects::event(&new_id("evt"), now, event_type, object, previous, None);
        self.events.push(event.clone());
        event
    }

    // ---- customers

    /// `POST /v1/customers`
    pub fn create_customer(&mut self, params: &Params, now: i64) -> Result<Value, Failure> {
        only(
            params,
            &["email", "name", "metadata", "description", "expand"],
        )?;
        let id = new_id("cus");
        let customer = objects::customer(
            &id,
            now,
            params.get("email"),
            params.get("name"),
            metadata(params, "metadata"),
        );
        self.customers.insert(id, customer.clone());
        Ok(customer)
    }

    /// `GET /v1/customers/{id}`
    pub fn customer(&self, id: &str) -> Result<Value, Failure> {
        self.customers
            .get(id)
            .cloned()
            .ok_or_else(|| Failure::no_such("customer", id, "id"))
    }

    // ---- prices

    /// `POST /v1/prices`: a monthly price in USD.
    pub fn create_price(&mut self, params: &Params, now: i64) -> Result<Value, Failure> {
        only(
            params,
            &[
                "currency",
                "unit_amount",
                "recurring",
                "product",
                "product_data",
                "lookup_key",
                "metadata",
                "expand",
            ],
        )?;
        let currency = params
            .get("currency")
            .ok_or_else(|| Failure::missing_param("currency"))?;
        let amount = params
            .get("unit_amount")
            .ok_or_else(|| Failure::missing_param("unit_amount"))?
            .parse::<i64>()
            .map_err(|_| {
                Failure::invalid(
                    Some("parameter_invalid_integer"),
                    "Invalid integer: unit_amount",
                    Some("unit_amount"),
                )
            })?;
        let product = params
            .get("product")
            .map_or_else(|| new_id("prod"), str::to_owned);
        let id = new_id("price");
        let price = objects::price(&id, now, &product, amount, currency);
        self.prices.insert(id, price.clone());
        Ok(price)
    }

    /// `GET /v1/prices/{id}`
    pub fn price(&self, id: &str) -> Result<Value, Failure> {
        self.prices
            .get(id)
            .cloned()
            .ok_or_else(|| Failure::no_such("price", id, "id"))
    }

    /// `GET /v1/prices`
    pub fn prices(&self) -> Value {
        objects::list(self.prices.values().cloned().collect(), false, "/v1/prices")
    }

    // ---- Checkout

    /// `POST /v1/checkout/sessions`
    pub fn create_session(
        &mut self,
        params: &Params,
        now: i64,
        pages: &str,
    ) -> Result<Value, Failure> {
        only(
            params,
            &[
                "customer",
                "mode",
                "line_items",
                "success_url",
                "cancel_url",
                "client_reference_id",
                "metadata",
                "subscription_data",
                "expand",
                "ui_mode",
            ],
        )?;
        let mode = params
            .get("mode")
            .ok_or_else(|| Failure::missing_param("mode"))?;
        if !matches!(mode, "subscription" | "payment" | "setup") {
            return Err(Failure::invalid(
                None,
                "Invalid mode: must be one of payment, setup, or subscription",
                Some("mode"),
            ));
        }
        let customer = params
            .get("customer")
            .ok_or_else(|| Failure::missing_param("customer"))?;
        if !self.customers.contains_key(customer) {
            return Err(Failure::no_such("customer", customer, "customer"));
        }
        if params.get("success_url").is_none() {
            return Err(Failure::missing_param("success_url"));
        }
        let price_id = params
            .get("line_items[0][price]")
            .ok_or_else(|| Failure::invalid(None, "You must provide at least one recurring price in `subscription` mode when using prices.", Some("line_items")))?;
        let price = self
            .prices
            .get(price_id)
            .ok_or_else(|| Failure::no_such("price", price_id, "line_items[0][price]"))?;
        let id = new_id("cs_test");
        let url = format!("{pages}/c/pay/{id}");
        let mut session = objects::checkout_session(&SessionParts {
            id: &id,
            created: now,
            customer,
            mode,
            amount: price["unit_amount"].as_i64().unwrap_or(0),
            currency: price["currency"].as_str().unwrap_or("usd"),
            metadata: metadata(params, "metadata"),
            client_reference_id: params.get("client_reference_id"),
            success_url: params.get("success_url"),
            cancel_url: params.get("cancel_url"),
            url: &url,
        });
        // Kept for completing it; Stripe does not show these on the session.
        session["__price"] = json!(price_id);
        session["__subscription_metadata"] = metadata(params, "subscription_data[metadata]");
        self.sessions.insert(id, session.clone());
        Ok(public(session))
    }

    /// `GET /v1/checkout/sessions/{id}`
    pub fn session(&self, id: &str) -> Result<Value, Failure> {
        self.sessions
            .get(id)
            .cloned()
            .map(public)
            .ok_or_else(|| Failure::no_such("checkout.session", id, "id"))
    }

    /// The customer pays: the subscription starts, its first invoice is paid and the
    /// session completes. Returns the events, in the order Stripe sends them.
    pub fn complete_session(
        &mut self,
        id: &str,
        now: i64,
        pages: &str,
    ) -> Result<Vec<Value>, Failure> {
        let session = self
            .sessions
            .get(id)
            .cloned()
            .ok_or_else(|| Failure::no_such("checkout.session", id, "id"))?;
        if session["status"] != "open" {
            return Err(Failure::invalid(
                Some("checkout_session_not_open"),
                &format!(
                    "The Checkout session {id} is {}, not open.",
                    session["status"].as_str().unwrap_or("?")
                ),
                None,
            ));
        }
        let customer_id = session["customer"].as_str().unwrap_or_default().to_owned();
        let price_id = session["__price"].as_str().unwrap_or_default().to_owned();
        let price = self.price(&price_id)?;
        let subscription_id = new_id("sub");
        let invoice_id = new_id("in");
        let subscription = objects::subscription(
            &subscription_id,
            &new_id("si"),
            &customer_id,
            &price,
            now,
            session["__subscription_metadata"].clone(),
            &invoice_id,
        );
        self.subscriptions
            .insert(subscription_id.clone(), subscription.clone());
        let invoice = self.new_invoice(
            &invoice_id,
            &subscription,
            "subscription_create",
            true,
            now,
            pages,
        );
        let mut done = session.clone();
        done["status"] = json!("complete");
        done["payment_status"] = json!("paid");
        done["subscription"] = json!(subscription_id);
        done["invoice"] = json!(invoice_id);
        done["url"] = Value::Null;
        self.sessions.insert(id.to_owned(), done.clone());
        let mut events = vec![self.emit(now, "customer.subscription.created", &subscription, None)];
        events.extend(self.invoice_events(&invoice, now));
        events.push(self.emit(now, "checkout.session.completed", &public(done), None));
        Ok(events)
    }

    // ---- portal

    /// `POST /v1/billing_portal/sessions`
    pub fn create_portal(
        &mut self,
        params: &Params,
        now: i64,
        pages: &str,
    ) -> Result<Value, Failure> {
        only(
            params,
            &[
                "customer",
                "return_url",
                "configuration",
                "locale",
                "expand",
            ],
        )?;
        let customer = params
            .get("customer")
            .ok_or_else(|| Failure::missing_param("customer"))?;
        if !self.customers.contains_key(customer) {
            return Err(Failure::no_such("customer", customer, "customer"));
        }
        let id = new_id("bps");
        Ok(objects::portal_session(
            &id,
            now,
            customer,
            params.get("return_url"),
            &format!("{pages}/p/session/{id}"),
        ))
    }

    // ---- subscriptions

    /// `GET /v1/subscriptions/{id}`
    pub fn subscription(&self, id: &str) -> Result<Value, Failure> {
        self.subscriptions
            .get(id)
            .cloned()
            .ok_or_else(|| Failure::no_such("subscription", id, "id"))
    }

    /// `GET /v1/subscriptions?customer=`: not-ended ones unless `status=all`.
    pub fn subscriptions(&self, params: &Params) -> Value {
        let customer = params.get("customer");
        let all = params.get("status") == Some("all");
        let data = self
            .subscriptions
            .values()
            .filter(|s| customer.is_none_or(|c| s["customer"] == c))
            .filter(|s| all || s["status"] != "canceled")
            .cloned()
            .collect();
        objects::list(data, false, "/v1/subscriptions")
    }

    fn change_subscription(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(Value, Map<String, Value>), Failure> {
        let before = self.subscription(id)?;
        let mut after = before.clone();
        change(&mut after);
        let mut previous = Map::new();
        if let (Some(old), Some(new)) = (before.as_object(), after.as_object()) {
            for (key, value) in old {
                if new.get(key) != Some(value) {
                    previous.insert(key.clone(), value.clone());
                }
            }
        }
        self.subscriptions.insert(id.to_owned(), after.clone());
        Ok((after, previous))
    }

    /// `DELETE /v1/subscriptions/{id}`: cancels at once.
    pub fn cancel_subscription(
        &mut self,
        id: &str,
        now: i64,
    ) -> Result<(Value, Vec<Value>), Failure> {
        let current = self.subscription(id)?;
        if current["status"] == "canceled" {
            return Err(Failure::invalid(
                None,
                &format!("The subscription {id} has already been canceled."),
                None,
            ));
        }
        let (after, _) = self.change_subscription(id, |s| {
            s["status"] = json!("canceled");
            s["canceled_at"] = json!(now);
            s["ended_at"] = json!(now);
            s["cancellation_details"]["reason"] = json!("cancellation_requested");
        })?;
        let event = self.emit(now, "customer.subscription.deleted", &after, None);
        Ok((after, vec![event]))
    }

    /// The customer cancels in the Billing Portal: the subscription stays active and
    /// ends with its current period (`cancel_at_period_end`), as the portal's default
    /// cancellation does.
    pub fn cancel_at_period_end(&mut self, id: &str, now: i64) -> Result<Vec<Value>, Failure> {
        let current = self.subscription(id)?;
        if current["status"] == "canceled" {
            return Err(Failure::invalid(
                None,
                &format!("The subscription {id} has already been canceled."),
                None,
            ));
        }
        let (after, previous) = self.change_subscription(id, |s| {
            let end = s["items"]["data"][0]["current_period_end"].clone();
            s["cancel_at_period_end"] = json!(true);
            s["cancel_at"] = end;
            s["canceled_at"] = json!(now);
            s["cancellation_details"]["reason"] = json!("cancellation_requested");
        })?;
        Ok(vec![self.emit(
            now,
            "customer.subscription.updated",
            &after,
            Some(previous),
        )])
    }

    /// Stripe's clock reaches the end of the subscription's current period: one set to
    /// cancel then ends (`customer.subscription.deleted`), any other renews, paid.
    pub fn end_period(&mut self, id: &str, now: i64, pages: &str) -> Result<Vec<Value>, Failure> {
        let current = self.subscription(id)?;
        if current["status"] == "canceled" {
            return Err(Failure::invalid(
                None,
                &format!("The subscription {id} has already been canceled."),
                None,
            ));
        }
        if current["cancel_at_period_end"] != true {
            return self.renew(id, now, pages);
        }
        let (after, _) = self.change_subscription(id, |s| {
            s["status"] = json!("canceled");
            s["ended_at"] = json!(now);
        })?;
        Ok(vec![self.emit(
            now,
            "customer.subscription.deleted",
            &after,
            None,
        )])
    }

    /// The plan changes to `price` (as in the Billing Portal); the proration is
    /// invoiced and paid.
    pub fn change_price(
        &mut self,
        id: &str,
        price_id: &str,
        now: i64,
        pages: &str,
    ) -> Result<Vec<Value>, Failure> {
        let price = self
            .prices
            .get(price_id)
            .cloned()
            .ok_or_else(|| Failure::no_such("price", price_id, "price"))?;
        let (after, previous) = self.change_subscription(id, |s| {
            let start = s["items"]["data"][0]["current_period_start"]
                .as_i64()
                .unwrap_or(now);
            let item_id = s["items"]["data"][0]["id"]
                .as_str()
                .unwrap_or("si_x")
                .to_owned();
            s["items"]["data"][0] = objects::subscription_item(&item_id, id, &price, start);
        })?;
        let mut events =
            vec![self.emit(now, "customer.subscription.updated", &after, Some(previous))];
        let invoice_id = new_id("in");
        let invoice =
            self.new_invoice(&invoice_id, &after, "subscription_update", true, now, pages);
        events.extend(self.invoice_events(&invoice, now));
        Ok(events)
    }

    /// A renewal payment fails: the invoice stays open and the subscription is
    /// past due.
    pub fn fail_payment(&mut self, id: &str, now: i64, pages: &str) -> Result<Vec<Value>, Failure> {
        self.bill_renewal(id, false, now, pages)
    }

    /// The subscription renews for a new period, paid.
    pub fn renew(&mut self, id: &str, now: i64, pages: &str) -> Result<Vec<Value>, Failure> {
        self.bill_renewal(id, true, now, pages)
    }

    /// Invoices a renewal: paid, the subscription is active for a new period; not
    /// paid, it is past due.
    fn bill_renewal(
        &mut self,
        id: &str,
        paid: bool,
        now: i64,
        pages: &str,
    ) -> Result<Vec<Value>, Failure> {
        let invoice_id = new_id("in");
        let (after, previous) = self.change_subscription(id, |s| {
            s["latest_invoice"] = json!(invoice_id);
            if paid {
                s["status"] = json!("active");
                let item = &mut s["items"]["data"][0];
                item["current_period_start"] = json!(now);
                item["current_period_end"] = json!(now + PERIOD_SECONDS);
            } else {
                s["status"] = json!("past_due");
            }
        })?;
        let invoice = self.new_invoice(&invoice_id, &after, "subscription_cycle", paid, now, pages);
        let mut events = self.invoice_events(&invoice, now);
        events.push(self.emit(now, "customer.subscription.updated", &after, Some(previous)));
        Ok(events)
    }

    // ---- invoices

    fn new_invoice(
        &mut self,
        id: &str,
        subscription: &Value,
        reason: &str,
        paid: bool,
        now: i64,
        pages: &str,
    ) -> Value {
        let customer_id = subscription["customer"].as_str().unwrap_or_default();
        let customer = self
            .customers
            .get(customer_id)
            .cloned()
            .unwrap_or_else(|| json!({ "id": customer_id }));
        let item = &subscription["items"]["data"][0];
        let sequence = self
            .invoices
            .iter()
            .filter(|i| i["customer"] == customer_id)
            .count()
            + 1;
        let invoice = objects::invoice(&InvoiceParts {
            id,
            number: format!(
                "{}-{sequence:04}",
                customer["invoice_prefix"].as_str().unwrap_or("INV")
            ),
            created: now,
            customer: &customer,
            subscription: subscription["id"].as_str().unwrap_or_default(),
            billing_reason: reason,
            amount: item["price"]["unit_amount"].as_i64().unwrap_or(0),
            currency: item["price"]["currency"].as_str().unwrap_or("usd"),
            period: (
                item["current_period_start"].as_i64().unwrap_or(now),
                item["current_period_end"].as_i64().unwrap_or(now),
            ),
            paid,
            pages,
        });
        self.invoices.push(invoice.clone());
        invoice
    }

    fn invoice_events(&mut self, invoice: &Value, now: i64) -> Vec<Value> {
        let mut events = vec![
            self.emit(now, "invoice.created", invoice, None),
            self.emit(now, "invoice.finalized", invoice, None),
        ];
        if invoice["status"] == "paid" {
            events.push(self.emit(now, "invoice.paid", invoice, None));
            events.push(self.emit(now, "invoice.payment_succeeded", invoice, None));
        } else {
            events.push(self.emit(now, "invoice.payment_failed", invoice, None));
        }
        events
    }

    /// `GET /v1/invoices?customer=&limit=&starting_after=`, newest first.
    pub fn list_invoices(&self, params: &Params) -> Result<Value, Failure> {
        let limit = match params.get("limit") {
            None => 10,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(Failure::invalid(
                        Some("parameter_invalid_integer"),
                        "Invalid integer: limit must be between 1 and 100",
                        Some("limit"),
                    ));
                }
            },
        };
        let customer = params.get("customer");
        let mut newest_first: Vec<&Value> = self
            .invoices
            .iter()
            .filter(|i| customer.is_none_or(|c| i["customer"] == c))
            .collect();
        newest_first.reverse();
        let start = match params.get("starting_after") {
            Some(after) => newest_first
                .iter()
                .position(|i| i["id"] == after)
                .map(|p| p + 1)
                .ok_or_else(|| Failure::no_such("invoice", after, "starting_after"))?,
            None => 0,
        };
        let page: Vec<Value> = newest_first
            .iter()
            .skip(start)
            .take(limit)
            .map(|v| (*v).clone())
            .collect();
        let has_more = newest_first.len() > start + page.len();
        Ok(objects::list(page, has_more, "/v1/invoices"))
    }
}

/// An object without the stand-in's own bookkeeping fields.
fn public(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.retain(|k, _| !k.starts_with("__"));
    }
    object
}
