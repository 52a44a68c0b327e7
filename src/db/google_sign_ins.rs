use std::time::Duration;

use sqlx::PgPool;

use super::StoreError;

/// How long a row is kept at most, finished or not: far past any sign-in's lifetime.
const KEPT: Duration = Duration::from_secs(3600);

/// What the callback of a sign-in with Google needs from its start.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The PKCE code verifier whose challenge went to Google.
    pub pkce_verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingSignIn([REDACTED])")
    }
}

/// Sign-ins with Google under way, keyed by the SHA-256 of their `state`.
#[derive(Clone, Copy, Debug)]
pub struct GoogleSignIns<'a> {
    pool: &'a PgPool,
}

impl<'a> GoogleSignIns<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// Records a sign-in that starts now, and forgets those older than an hour.
    pub async fn begin(
        &self,
        state_sha256: &[u8; 32],
        pending: &PendingSignIn,
    ) -> Result<(), StoreError> {
        let kept = KEPT.as_secs_f64();
        sqlx::query!(
            "delete from google_sign_ins where created_at < now() - make_interval(secs => $1)",
            kept
        )
        .execute(self.pool)
        .await?;
        sqlx::query!(
            "insert into google_sign_ins (state_sha256, pkce_verifier, nonce) values ($1, $2, $3)",
            state_sha256.as_slice(),
            pending.pkce_verifier,
            pending.nonce,
        )
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Takes out the sign-in of this state if it started less than `within` ago: it
    /// is gone afterwards, so a state finishes at most one sign-in.
    pub async fn take(
        &self,
        state_sha256: &[u8; 32],
        within: Duration,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let taken = sqlx::query!(
            "delete from google_sign_ins where state_sha256 = $1
             returning pkce_verifier, nonce, created_at > now() - make_interval(secs => $2) as \"fresh!\"",
            state_sha256.as_slice(),
            within.as_secs_f64(),
        )
        .fetch_optional(self.pool)
        .await?;
        Ok(taken.filter(|row| row.fresh).map(|row| PendingSignIn {
            pkce_verifier: row.pkce_verifier,
            nonce: row.nonce,
        }))
    }
}
