//! Session tokens: JWT HS256 for 7 days with the payload the original issued
//! (`{sub, email, name}`), plus `tv`, the account's token version, so that a password
//! change ends every earlier session, and this facade's issuer and audience, so that
//! no other token signed with the same secret passes for a session.
//!
//! Tokens without an issuer are the original system's sessions: signed with
//! `API_JWT_SECRET` (when it was kept) or with its own secret, given as
//! `LEGACY_API_JWT_SECRET`. They count only for an account imported from it, under the
//! id they name, when issued before that import and for at most 7 days
//! ([`Session::Original`]); every new session is signed with `API_JWT_SECRET`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long a session lasts (the original's sessions lasted as long).
pub const SESSION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The issuer of this facade's sessions.
pub const ISSUER: &str = "fasterclaw";
/// The audience of this facade's sessions.
pub const AUDIENCE: &str = "fasterclaw-web";

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
    #[serde(default)]
    pub iat: Option<i64>,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The account's token version when issued; the original's sessions carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tv: Option<i32>,
    /// Who issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Whom it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// A valid, unexpired session token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Session {
    /// Issued by this facade: `sub` is the account id, `tv` its token version.
    Current(Claims),
    /// Issued by the original system: `sub` is the account's original id (a cuid), and
    /// the token counts only if that account was imported after `iat`.
    Original(Claims),
}

/// Signs and checks session tokens with `API_JWT_SECRET`.
#[derive(Clone)]
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    legacy: Option<DecodingKey>,
    current: Validation,
    original: Validation,
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
        let mut current = Validation::new(Algorithm::HS256);
        current.leeway = 30;
        current.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        current.set_issuer(&[ISSUER]);
        current.set_audience(&[AUDIENCE]);
        let mut original = Validation::new(Algorithm::HS256);
        original.leeway = 30;
        original.set_required_spec_claims(&["exp", "sub", "iat"]);
        original.validate_aud = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            legacy: None,
            current,
            original,
        })
    }

    /// Also accepts the original system's sessions signed with `secret` (its
    /// `API_JWT_SECRET`, of any length). Blank or absent, nothing changes.
    pub fn with_legacy(mut self, secret: Option<&SecretString>) -> Self {
        self.legacy = secret
            .map(|s| s.expose_secret().as_bytes())
            .filter(|s| !s.is_empty())
            .map(DecodingKey::from_secret);
        self
    }

    /// Whether the original system's own secret is configured.
    pub fn has_legacy_secret(&self) -> bool {
        self.legacy.is_some()
    }

    /// A token for an account.
    pub fn issue(&self, sub: &str, email: &str, name: Option<&str>, tv: i32) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            email: email.to_owned(),
            name: name.map(str::to_owned),
            iat: Some(now),
            exp: now + SESSION.as_secs() as i64,
            tv: Some(tv),
            iss: Some(ISSUER.to_owned()),
            aud: Some(AUDIENCE.to_owned()),
        };
        // HS256 over serializable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// The session of a valid, unexpired token. An original session is returned only
    /// if it has the original's shape (no issuer, audience or token version) and lasts
    /// at most [`SESSION`]; whether its account was imported after it was issued is
    /// for the caller, which can look.
    pub fn check(&self, token: &str) -> Option<Session> {
        let decode = |key: &DecodingKey, validation: &Validation| {
            jsonwebtoken::decode::<Claims>(token, key, validation)
                .ok()
                .map(|data| data.claims)
        };
        if let Some(claims) = decode(&self.decoding, &self.current) {
            return Some(Session::Current(claims));
        }
        let original = decode(&self.decoding, &self.original)
            .or_else(|| decode(self.legacy.as_ref()?, &self.original))?;
        let lasts = original.exp - original.iat?;
        let shaped = original.iss.is_none() && original.aud.is_none() && original.tv.is_none();
        (shaped && (0..=SESSION.as_secs() as i64).contains(&lasts))
            .then_some(Session::Original(original))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn sessions(secret: &str) -> Sessions {
        Sessions::new(Some(&SecretString::from(secret.to_owned()))).unwrap()
    }

    fn sign(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn tokens_round_trip_and_other_secrets_refuse_them() {
        let a = sessions(SECRET);
        let token = a.issue("u1", "a@example.com", Some("A"), 3);
        let Some(Session::Current(claims)) = a.check(&token) else {
            panic!("not a current session");
        };
        assert_eq!((claims.sub.as_str(), claims.tv), ("u1", Some(3)));
        assert_eq!(claims.exp - claims.iat.unwrap(), 7 * 24 * 3600);
        assert_eq!(claims.iss.as_deref(), Some(ISSUER));
        assert!(
            sessions("fedcba9876543210fedcba9876543210")
                .check(&token)
                .is_none()
        );
        assert!(a.check("not.a.token").is_none());
    }

    #[test]
    fn other_tokens_signed_with_the_same_secret_are_not_sessions() {
        let a = sessions(SECRET);
        for claims in [
            // Another service's token, with its own issuer or audience.
            serde_json::json!({ "sub": "u1", "email": "a@example.com", "iat": now(), "exp": now() + 60, "tv": 0, "iss": "billing", "aud": AUDIENCE }),
            serde_json::json!({ "sub": "u1", "email": "a@example.com", "iat": now(), "exp": now() + 60, "tv": 0, "iss": ISSUER, "aud": "other" }),
            // A token version without our issuer is neither ours nor the original's.
            serde_json::json!({ "sub": "u1", "email": "a@example.com", "iat": now(), "exp": now() + 60, "tv": 0 }),
        ] {
            assert_eq!(a.check(&sign(SECRET, claims.clone())), None, "{claims}");
        }
    }

    #[test]
    fn the_originals_sessions_are_told_apart_and_bounded() {
        let original_secret = "short-old-secret";
        let session = |iat: i64, exp: i64| serde_json::json!({ "sub": "ckx1", "email": "a@example.com", "name": null, "iat": iat, "exp": exp });
        let plain = sessions(SECRET);
        let moving =
            sessions(SECRET).with_legacy(Some(&SecretString::from(original_secret.to_owned())));
        let old = sign(original_secret, session(now() - 60, now() + 60));
        assert!(plain.check(&old).is_none());
        let Some(Session::Original(claims)) = moving.check(&old) else {
            panic!("the original's session is not recognised");
        };
        assert_eq!(claims.sub, "ckx1");
        // Signed with API_JWT_SECRET when the original's secret was kept: the same rules.
        let kept = sign(SECRET, session(now() - 60, now() + 60));
        assert!(matches!(plain.check(&kept), Some(Session::Original(_))));
        // Longer than the original ever issued, or without an issue time: refused.
        let far = sign(
            original_secret,
            session(now() - 60, now() + 365 * 24 * 3600),
        );
        assert_eq!(moving.check(&far), None);
        let undated = sign(
            original_secret,
            serde_json::json!({ "sub": "ckx1", "email": "a@example.com", "exp": now() + 60 }),
        );
        assert_eq!(moving.check(&undated), None);
        // New sessions are signed with the new secret only.
        let fresh = moving.issue("u1", "a@example.com", None, 0);
        assert!(matches!(plain.check(&fresh), Some(Session::Current(_))));
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
