//! Stripe's webhook signatures: the `Stripe-Signature` header holds a timestamp `t` and
//! one or more `v1` HMAC-SHA256 signatures of `"{t}.{raw body}"` keyed with the
//! endpoint's signing secret (`whsec_...`). A delivery is genuine when one `v1` matches
//! and `t` is no older than the tolerance, as Stripe's own libraries decide.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a delivery is not accepted as Stripe's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is absent or empty.
    #[error("Missing stripe-signature header")]
    Missing,
    /// The header has no `t=` timestamp or no `v1=` signature.
    #[error("Invalid signature: unable to extract timestamp and signatures from header")]
    Malformed,
    /// No `v1` signature matches the body.
    #[error("Invalid signature: no signatures found matching the expected signature for payload")]
    Mismatch,
    /// The signature is genuine but older than the tolerance: a replay.
    #[error("Invalid signature: timestamp outside the tolerance zone ({age_seconds} s old)")]
    Stale {
        /// How old the timestamp is.
        age_seconds: i64,
    },
}

/// Checks deliveries against one endpoint's signing secret.
#[derive(Clone)]
pub struct WebhookVerifier {
    secret: SecretString,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier for `secret`, refusing signatures older than `tolerance`.
    pub fn new(secret: SecretString, tolerance: Duration) -> Self {
        Self { secret, tolerance }
    }

    /// Accepts `payload` with signature `header` at Unix time `now`, or says why not.
    /// Returns the signed timestamp.
    pub fn verify(&self, payload: &[u8], header: &str, now: i64) -> Result<i64, SignatureError> {
        if header.trim().is_empty() {
            return Err(SignatureError::Missing);
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for item in header.split(',') {
            match item.trim().split_once('=') {
                Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
                Some(("v1", value)) => signatures.push(value),
                _ => {}
            }
        }
        let Some(timestamp) = timestamp else {
            return Err(SignatureError::Malformed);
        };
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let signed = mac_of(self.secret.expose_secret(), timestamp, payload);
        let genuine = signatures.iter().any(|candidate| {
            hex::decode(candidate).is_ok_and(|bytes| signed.clone().verify_slice(&bytes).is_ok())
        });
        if !genuine {
            return Err(SignatureError::Mismatch);
        }
        let age_seconds = now.saturating_sub(timestamp);
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if age_seconds > tolerance {
            return Err(SignatureError::Stale { age_seconds });
        }
        Ok(timestamp)
    }
}

/// The `Stripe-Signature` header Stripe sends with `payload` at Unix time `timestamp`.
pub fn signature_header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let signature = mac_of(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(signature))
}

fn mac_of(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_767_225_600;

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(SECRET.to_owned().into(), Duration::from_secs(300))
    }

    #[test]
    fn a_signature_made_with_the_secret_is_accepted() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(body, SECRET, NOW - 10);
        assert_eq!(verifier().verify(body, &header, NOW), Ok(NOW - 10));
    }

    #[test]
    fn any_matching_v1_among_several_is_enough() {
        let body = br#"{"id":"evt_1"}"#;
        let good = signature_header(body, SECRET, NOW);
        let v1 = good.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let header = format!("t={NOW},v1={},v0=abc,v1={v1}", "00".repeat(32));
        assert_eq!(verifier().verify(body, &header, NOW), Ok(NOW));
    }

    #[test]
    fn a_changed_body_or_another_secret_is_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(body, SECRET, NOW);
        assert_eq!(
            verifier().verify(br#"{"id":"evt_2"}"#, &header, NOW),
            Err(SignatureError::Mismatch)
        );
        let forged = signature_header(body, "whsec_other", NOW);
        assert_eq!(
            verifier().verify(body, &forged, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_signature_is_a_replay() {
        let body = b"{}";
        let header = signature_header(body, SECRET, NOW - 301);
        assert_eq!(
            verifier().verify(body, &header, NOW),
            Err(SignatureError::Stale { age_seconds: 301 })
        );
    }

    #[test]
    fn headers_without_parts_say_so() {
        assert_eq!(
            verifier().verify(b"{}", " ", NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verifier().verify(b"{}", "v1=abcd", NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verifier().verify(b"{}", &format!("t={NOW}"), NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verifier().verify(b"{}", &format!("t={NOW},v1=not-hex"), NOW),
            Err(SignatureError::Mismatch)
        );
    }
}
