//! Webhook deliveries as Stripe makes them: each event POSTed as JSON to the endpoint,
//! signed in `Stripe-Signature` with `t=<unix time>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" keyed with the endpoint secret>`.

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The webhook URL.
    pub url: String,
    /// The signing secret (`whsec_...`).
    pub secret: String,
}

/// How a batch of events is delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DeliveryOptions {
    /// Deliver each event twice, both at once (Stripe delivers at least once).
    #[serde(default)]
    pub duplicate: bool,
    /// Deliver the events newest first (Stripe does not guarantee order).
    #[serde(default)]
    pub reversed: bool,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The event.
    pub event: String,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it did not answer.
    pub error: Option<String>,
}

impl Delivery {
    /// Whether the endpoint accepted the event (2xx).
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The `Stripe-Signature` header for `body` at Unix time `timestamp`.
pub fn signature(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Delivers one event now.
pub async fn deliver_one(client: &reqwest::Client, endpoint: &Endpoint, event: &Value) -> Delivery {
    let body = serde_json::to_string_pretty(event).unwrap_or_default();
    let header = signature(
        body.as_bytes(),
        &endpoint.secret,
        chrono::Utc::now().timestamp(),
    );
    let sent = client
        .post(&endpoint.url)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await;
    let (status, error) = match sent {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Delivery {
        event: event["id"].as_str().unwrap_or_default().to_owned(),
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        status,
        error,
    }
}

/// Delivers `events` one after another (in `options`' order), each twice at once
/// when asked.
pub async fn deliver(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    events: &[Value],
    options: DeliveryOptions,
) -> Vec<Delivery> {
    let mut ordered: Vec<&Value> = events.iter().collect();
    if options.reversed {
        ordered.reverse();
    }
    let mut deliveries = Vec::new();
    for event in ordered {
        if options.duplicate {
            let (a, b) = tokio::join!(
                deliver_one(client, endpoint, event),
                deliver_one(client, endpoint, event)
            );
            deliveries.extend([a, b]);
        } else {
            deliveries.push(deliver_one(client, endpoint, event).await);
        }
    }
    deliveries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_stripes_scheme() {
        // HMAC-SHA256 keyed "whsec_test" of "1700000000.{}", as Python's hmac module
        // computes it.
        assert_eq!(
            signature(b"{}", "whsec_test", 1_700_000_000),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
