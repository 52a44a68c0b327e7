use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;

/// A Stripe subscription as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Subscription id.
    pub id: Uuid,
    /// Subscribing user.
    pub user_id: Uuid,
    /// Stripe subscription id (`sub_...`).
    pub stripe_subscription_id: String,
    /// Stripe price id, when known.
    pub stripe_price_id: Option<String>,
    /// Stripe status, upper-cased.
    pub status: String,
    /// Plan name, when known.
    pub plan: Option<String>,
    /// Instances allowed; -1 is unlimited.
    pub instance_limit: i32,
    /// Start of the current period.
    pub current_period_start: Option<DateTime<Utc>>,
    /// End of the current period.
    pub current_period_end: DateTime<Utc>,
    /// Whether it ends with the current period.
    pub cancel_at_period_end: bool,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields a Stripe event sets on a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionUpdate<'a> {
    /// Stripe subscription id.
    pub stripe_subscription_id: &'a str,
    /// Stripe price id.
    pub stripe_price_id: Option<&'a str>,
    /// Stripe status, upper-cased.
    pub status: &'a str,
    /// Plan name.
    pub plan: Option<&'a str>,
    /// Instances allowed; -1 is unlimited.
    pub instance_limit: i32,
    /// Start of the current period.
    pub current_period_start: Option<DateTime<Utc>>,
    /// End of the current period.
    pub current_period_end: DateTime<Utc>,
    /// Whether it ends with the current period.
    pub cancel_at_period_end: bool,
}

/// Stripe subscriptions.
#[derive(Clone, Copy, Debug)]
pub struct Subscriptions<'a> {
    pool: &'a PgPool,
}

impl<'a> Subscriptions<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// Records a user's subscription, or updates it when Stripe's id is known already
    /// (for the same user; another user's id is [`StoreError::SubscriptionTaken`]).
    pub async fn upsert(
        &self,
        user_id: Uuid,
        update: &SubscriptionUpdate<'_>,
    ) -> Result<SubscriptionRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::upsert_in(&mut conn, user_id, update).await
    }

    /// [`Subscriptions::upsert`] on `conn`, inside the caller's transaction. The
    /// account's billing revision moves on.
    pub async fn upsert_in(
        conn: &mut PgConnection,
        user_id: Uuid,
        update: &SubscriptionUpdate<'_>,
    ) -> Result<SubscriptionRecord, StoreError> {
        let record = sqlx::query_as!(
            SubscriptionRecord,
            "insert into subscriptions (user_id, stripe_subscription_id, stripe_price_id, status,
                 plan, instance_limit, current_period_start, current_period_end, cancel_at_period_end)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (stripe_subscription_id) do update set
                 stripe_price_id = excluded.stripe_price_id,
                 status = excluded.status,
                 plan = excluded.plan,
                 instance_limit = excluded.instance_limit,
                 current_period_start = excluded.current_period_start,
                 current_period_end = excluded.current_period_end,
                 cancel_at_period_end = excluded.cancel_at_period_end
             where subscriptions.user_id = excluded.user_id
             returning id, user_id, stripe_subscription_id, stripe_price_id, status, plan,
                 instance_limit, current_period_start, current_period_end, cancel_at_period_end,
                 created_at, updated_at",
            user_id,
            update.stripe_subscription_id,
            update.stripe_price_id,
            update.status,
            update.plan,
            update.instance_limit,
            update.current_period_start,
            update.current_period_end,
            update.cancel_at_period_end,
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::SubscriptionTaken)?;
        sqlx::query!(
            "update users set billing_revision = billing_revision + 1 where id = $1",
            user_id
        )
        .execute(conn)
        .await?;
        Ok(record)
    }

    /// The user a Stripe subscription is recorded for.
    pub async fn owner(&self, stripe_subscription_id: &str) -> Result<Option<Uuid>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::owner_in(&mut conn, stripe_subscription_id).await
    }

    /// The user a Stripe subscription is recorded for.
    pub async fn owner_in(
        conn: &mut PgConnection,
        stripe_subscription_id: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        Ok(sqlx::query_scalar!(
            "select user_id from subscriptions where stripe_subscription_id = $1",
            stripe_subscription_id,
        )
        .fetch_optional(conn)
        .await?)
    }

    /// The Stripe ids of the user's subscriptions that have not ended (anything but
    /// CANCELED and INCOMPLETE_EXPIRED): those to cancel before the account goes.
    pub async fn unended_for_user(&self, user_id: Uuid) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar!(
            "select stripe_subscription_id from subscriptions
             where user_id = $1 and status not in ('CANCELED', 'INCOMPLETE_EXPIRED')
             order by created_at",
            user_id,
        )
        .fetch_all(self.pool)
        .await?)
    }

    /// The user's newest subscription whose status is ACTIVE.
    pub async fn active_for_user(
        &self,
        user_id: Uuid,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        Ok(sqlx::query_as!(
            SubscriptionRecord,
            "select id, user_id, stripe_subscription_id, stripe_price_id, status, plan,
                 instance_limit, current_period_start, current_period_end, cancel_at_period_end,
                 created_at, updated_at
             from subscriptions where user_id = $1 and status = 'ACTIVE'
             order by created_at desc limit 1",
            user_id,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// Sets the status of the subscription Stripe knows by this id; `false` when no
    /// such subscription is recorded.
    pub async fn set_status(
        &self,
        stripe_subscription_id: &str,
        status: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::set_status_in(&mut conn, stripe_subscription_id, status).await
    }

    /// [`Subscriptions::set_status`] on `conn`, inside the caller's transaction. The
    /// account's billing revision moves on.
    pub async fn set_status_in(
        conn: &mut PgConnection,
        stripe_subscription_id: &str,
        status: &str,
    ) -> Result<bool, StoreError> {
        let owner = sqlx::query_scalar!(
            "update subscriptions set status = $2 where stripe_subscription_id = $1
             returning user_id",
            stripe_subscription_id,
            status,
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(owner) = owner else {
            return Ok(false);
        };
        sqlx::query!(
            "update users set billing_revision = billing_revision + 1 where id = $1",
            owner
        )
        .execute(conn)
        .await?;
        Ok(true)
    }
}
