//! Session tokens: JWT HS256 for 7 days with the payload the original issued
//! (`{sub, email, name}`), plus `tv`, the account's token version, so that a password
//! change ends every earlier session. Tokens without `tv` (the original's) count as
//! version 0. During a move from the original system, its secret may be given as a
//! second, verify-only key: the sessions it issued stay valid until they expire, while
//! every new one is signed with `API_JWT_SECRET`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long a session lasts.
pub const SESSION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The claims of a session token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// The account's email.
    pub email: String,
    /// The account holder's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The account's token version when issued.
    #[serde(default)]
    pub tv: i32,
}

/// Signs and checks session tokens with `API_JWT_SECRET`.
#[derive(Clone)]
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    legacy: Option<DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions([REDACTED])")
    }
}

/// Why the secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionSecretError {
    /// Unset.
    #[error("API_JWT_SECRET is not set")]
    Missing,
    /// Too short to be safe.
    #[error(
        "API_JWT_SECRET must be at least 32 bytes (it has {0}); make one with `openssl rand -hex 32`"
    )]
    TooShort(usize),
}

impl Sessions {
    /// Sessions signed with `secret`, which must be at least 32 bytes.
    pub fn new(secret: Option<&SecretString>) -> Result<Self, SessionSecretError> {
        let secret = secret
            .map(|s| s.expose_secret().as_bytes())
            .unwrap_or_default();
        if secret.is_empty() {
            return Err(SessionSecretError::Missing);
        }
        if secret.len() < 32 {
            return Err(SessionSecretError::TooShort(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            legacy: None,
            validation,
        })
    }

    /// Also accepts the tokens the original system signed with `secret` (its
    /// `API_JWT_SECRET`, of any length), as long as they carry no token version: only
    /// the original issued those. Blank or absent, nothing changes.
    pub fn with_legacy(mut self, secret: Option<&SecretString>) -> Self {
        self.legacy = secret
            .map(|s| s.expose_secret().as_bytes())
            .filter(|s| !s.is_empty())
            .map(DecodingKey::from_secret);
        self
    }

    /// A token for an account.
    pub fn issue(&self, sub: &str, email: &str, name: Option<&str>, tv: i32) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            email: email.to_owned(),
            name: name.map(str::to_owned),
            iat: now,
            exp: now + SESSION.as_secs() as i64,
            tv,
        };
        // HS256 over serializable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// The claims of a valid, unexpired token.
    pub fn check(&self, token: &str) -> Option<Claims> {
        let decode = |key: &DecodingKey| {
            jsonwebtoken::decode::<Claims>(token, key, &self.validation)
                .ok()
                .map(|data| data.claims)
        };
        decode(&self.decoding).or_else(|| {
            let legacy = self.legacy.as_ref()?;
            decode(legacy).filter(|claims| claims.tv == 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str) -> Sessions {
        Sessions::new(Some(&SecretString::from(secret.to_owned()))).unwrap()
    }

    #[test]
    fn tokens_round_trip_and_other_secrets_refuse_them() {
        let a = sessions("0123456789abcdef0123456789abcdef");
        let token = a.issue("u1", "a@example.com", Some("A"), 3);
        let claims = a.check(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tv), ("u1", 3));
        assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);
        assert!(
            sessions("fedcba9876543210fedcba9876543210")
                .check(&token)
                .is_none()
        );
        assert!(a.check("not.a.token").is_none());
    }

    #[test]
    fn the_original_payload_without_a_version_is_version_zero() {
        let secret = "0123456789abcdef0123456789abcdef";
        let now = chrono::Utc::now().timestamp();
        let original = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "sub": "ckx1", "email": "a@example.com", "name": null, "iat": now, "exp": now + 60 }),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert_eq!(sessions(secret).check(&original).unwrap().tv, 0);
    }

    #[test]
    fn the_originals_short_secret_verifies_its_own_sessions_only() {
        let original_secret = "short-old-secret";
        let now = chrono::Utc::now().timestamp();
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(original_secret.as_bytes()),
            )
            .unwrap()
        };
        let original = sign(
            serde_json::json!({ "sub": "ckx1", "email": "a@example.com", "iat": now, "exp": now + 60 }),
        );
        let plain = sessions("0123456789abcdef0123456789abcdef");
        assert!(plain.check(&original).is_none());
        let moving = sessions("0123456789abcdef0123456789abcdef")
            .with_legacy(Some(&SecretString::from(original_secret.to_owned())));
        assert_eq!(moving.check(&original).unwrap().sub, "ckx1");
        // A token version means one of ours: never accepted under the old key.
        let forged = sign(
            serde_json::json!({ "sub": "ckx1", "email": "a@example.com", "iat": now, "exp": now + 60, "tv": 3 }),
        );
        assert!(moving.check(&forged).is_none());
        // New sessions are signed with the new secret only.
        let fresh = moving.issue("u1", "a@example.com", None, 0);
        assert!(plain.check(&fresh).is_some());
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert!(matches!(
            Sessions::new(None),
            Err(SessionSecretError::Missing)
        ));
        let short = SecretString::from("short".to_owned());
        assert!(matches!(
            Sessions::new(Some(&short)),
            Err(SessionSecretError::TooShort(5))
        ));
    }
}
