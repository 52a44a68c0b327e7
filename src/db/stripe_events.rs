use sqlx::{PgConnection, PgPool};

use super::StoreError;

/// Stripe webhook events already processed.
#[derive(Clone, Copy, Debug)]
pub struct StripeEvents<'a> {
    pool: &'a PgPool,
}

impl<'a> StripeEvents<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// Records an event; `true` the first time, `false` when it was recorded before.
    pub async fn record_once(&self, event_id: &str, event_type: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::record_once_in(&mut conn, event_id, event_type).await
    }

    /// Whether the event was processed already.
    pub async fn seen(pool: &PgPool, event_id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar!(
            "select event_id from stripe_webhook_events where event_id = $1",
            event_id
        )
        .fetch_optional(pool)
        .await?
        .is_some())
    }

    /// Records an event on `conn`, inside the transaction that applies it, so an event
    /// is marked processed exactly when its effects commit.
    pub async fn record_once_in(
        conn: &mut PgConnection,
        event_id: &str,
        event_type: &str,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query!(
            "insert into stripe_webhook_events (event_id, event_type) values ($1, $2)
             on conflict (event_id) do nothing",
            event_id,
            event_type,
        )
        .execute(conn)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
