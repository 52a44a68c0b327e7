use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;

/// An account's lapse: since when it has had no ACTIVE subscription, and since when
/// the deletion of its instances has been announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lapse {
    /// When its subscription stopped being ACTIVE.
    pub lapsed_at: DateTime<Utc>,
    /// When the deletion was first announced.
    pub deletion_warned_at: Option<DateTime<Utc>>,
}

/// One of an account's instances that is not deleted, as billing sees it in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingInstance {
    /// Record id.
    pub id: Uuid,
    /// Kubernetes name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Why billing stopped it (a code), if billing did.
    pub billing_stop: Option<String>,
}

/// What the billing lifecycle keeps: accounts' lapses and why billing stopped
/// instances. Its account-wide reads and writes run inside a transaction holding the
/// account's lifecycle lock ([`BillingLifecycle::lock_account_in`]), so two facade
/// replicas never act on one account at once.
#[derive(Clone, Copy, Debug)]
pub struct BillingLifecycle<'a> {
    pool: &'a PgPool,
}

impl<'a> BillingLifecycle<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// Takes the account's lifecycle lock for the rest of the transaction (a Postgres
    /// advisory lock); `false` when another holds it and `wait` is not set.
    pub async fn lock_account_in(
        conn: &mut PgConnection,
        user: Uuid,
        wait: bool,
    ) -> Result<bool, StoreError> {
        let key = format!("billing-lifecycle:{user}");
        if wait {
            sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(conn)
                .await?;
            Ok(true)
        } else {
            Ok(
                sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(key)
                    .fetch_one(conn)
                    .await?,
            )
        }
    }

    /// The account's subscriptions as `(status, instance limit)`, newest first.
    pub async fn subscriptions_in(
        conn: &mut PgConnection,
        user: Uuid,
    ) -> Result<Vec<(String, i32)>, StoreError> {
        Ok(sqlx::query!(
            "select status, instance_limit from subscriptions where user_id = $1
             order by created_at desc, id",
            user,
        )
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|row| (row.status, row.instance_limit))
        .collect())
    }

    /// The account's lapse, if it has one.
    pub async fn lapse(&self, user: Uuid) -> Result<Option<Lapse>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::lapse_in(&mut conn, user).await
    }

    /// [`BillingLifecycle::lapse`] on `conn`.
    pub async fn lapse_in(
        conn: &mut PgConnection,
        user: Uuid,
    ) -> Result<Option<Lapse>, StoreError> {
        Ok(sqlx::query_as!(
            Lapse,
            "select lapsed_at, deletion_warned_at from billing_lapses where user_id = $1",
            user,
        )
        .fetch_optional(conn)
        .await?)
    }

    /// Records the account's lapse.
    pub async fn set_lapse_in(
        conn: &mut PgConnection,
        user: Uuid,
        lapse: Lapse,
    ) -> Result<(), StoreError> {
        sqlx::query!(
            "insert into billing_lapses (user_id, lapsed_at, deletion_warned_at)
             values ($1, $2, $3)
             on conflict (user_id) do update set
                 lapsed_at = excluded.lapsed_at,
                 deletion_warned_at = excluded.deletion_warned_at",
            user,
            lapse.lapsed_at,
            lapse.deletion_warned_at,
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Forgets the account's lapse: it is in good standing again.
    pub async fn clear_lapse_in(conn: &mut PgConnection, user: Uuid) -> Result<(), StoreError> {
        sqlx::query!("delete from billing_lapses where user_id = $1", user)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The account's instances that are not deleted, oldest first.
    pub async fn instances_in(
        conn: &mut PgConnection,
        user: Uuid,
    ) -> Result<Vec<BillingInstance>, StoreError> {
        Ok(sqlx::query_as!(
            BillingInstance,
            "select id, name, created_at, billing_stop from instances
             where owner_id = $1 and deleted_at is null
             order by created_at, id",
            user,
        )
        .fetch_all(conn)
        .await?)
    }

    /// Records why billing stopped an instance (`None`: it did not, or no longer).
    pub async fn set_billing_stop(
        &self,
        instance: Uuid,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query!(
            "update instances set billing_stop = $2::text,
                 billing_stopped_at = case when $2::text is null then null
                                           else coalesce(billing_stopped_at, now()) end
             where id = $1",
            instance,
            reason,
        )
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// The accounts the lifecycle may have something to do for: those with instances
    /// and a subscription, but no ACTIVE one, or a lapse, or instances billing stopped,
    /// or more instances than their ACTIVE subscription allows.
    pub async fn accounts_to_check(&self) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar!(
            r#"with live as (
                 select owner_id, count(*) as n, bool_or(billing_stop is not null) as stopped
                 from instances where deleted_at is null group by owner_id
             ), active as (
                 select distinct on (user_id) user_id, instance_limit from subscriptions
                 where status = 'ACTIVE' order by user_id, created_at desc
             )
             select live.owner_id as "owner_id!" from live
             left join active on active.user_id = live.owner_id
             where exists (select 1 from subscriptions s where s.user_id = live.owner_id)
               and (active.user_id is null
                    or live.stopped
                    or exists (select 1 from billing_lapses l where l.user_id = live.owner_id)
                    or (active.instance_limit >= 0 and live.n > active.instance_limit))
             order by live.owner_id"#,
        )
        .fetch_all(self.pool)
        .await?)
    }
}
