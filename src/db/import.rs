//! Writing rows imported from the original system. Each row keeps the original's id
//! in `legacy_id` and gets the id derived from it, so a second import finds what the
//! first wrote and changes nothing, and an interrupted one resumes where it stopped.
//! Every write is one transaction with its audit line.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::secrets::Secrets;
use super::{AuditLog, StoreError, SubscriptionUpdate};
use crate::crypto::Keyring;
use crate::domain::{DisplayName, TelegramBotToken, mask_token};

/// The actor the audit log names for imported rows.
const ACTOR: &str = "import-original";

/// Whether an account can be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserPresence {
    /// Not here yet.
    Absent,
    /// Imported by an earlier run.
    Imported,
    /// Another account has this email (in any letter case).
    EmailTaken,
    /// Imported once and deleted here since: it stays deleted.
    Deleted,
}

/// What is here of an instance to import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstancePresence {
    /// Not here yet.
    Absent,
    /// Imported by an earlier run, with the secret id of its stored token.
    Imported(Uuid),
    /// Imported once and deleted here since: it stays deleted.
    Deleted,
    /// Its record is here, but its stored token is not.
    WithoutToken,
}

/// An account to import.
#[derive(Clone, Copy, Debug)]
pub struct ImportedUser<'a> {
    /// Its id here.
    pub id: Uuid,
    /// Its id in the original.
    pub legacy_id: &'a str,
    /// Email, as stored by the original.
    pub email: &'a str,
    /// bcrypt hash, or `None` for an account that signs in with Google only.
    pub password_hash: Option<&'a str>,
    /// The person's name.
    pub name: Option<&'a str>,
    /// When the original created it.
    pub created_at: DateTime<Utc>,
}

/// A subscription to import: the fields a Stripe event would set, with the row's ids
/// and creation time.
#[derive(Clone, Copy, Debug)]
pub struct ImportedSubscription<'a> {
    /// Its id here.
    pub id: Uuid,
    /// Its id in the original.
    pub legacy_id: &'a str,
    /// The subscribing account, here.
    pub user_id: Uuid,
    /// Its Stripe fields.
    pub update: SubscriptionUpdate<'a>,
    /// When the original created it.
    pub created_at: DateTime<Utc>,
}

/// An instance record to import.
#[derive(Clone, Copy, Debug)]
pub struct ImportedInstance<'a> {
    /// Its id here.
    pub id: Uuid,
    /// Its id in the original.
    pub legacy_id: &'a str,
    /// Owner, here.
    pub owner_id: Uuid,
    /// Kubernetes namespace of its Instance.
    pub namespace: &'a str,
    /// Kubernetes name of its Instance.
    pub name: &'a str,
    /// Name shown to the owner.
    pub display_name: &'a DisplayName,
    /// When the original created it.
    pub created_at: DateTime<Utc>,
}

/// Imports.
#[derive(Clone, Copy, Debug)]
pub struct Imports<'a> {
    pool: &'a PgPool,
    keyring: &'a Keyring,
}

impl<'a> Imports<'a> {
    pub(super) fn new(pool: &'a PgPool, keyring: &'a Keyring) -> Self {
        Self { pool, keyring }
    }

    /// Whether the account `id` (the original's `legacy_id`) with this email can be
    /// imported.
    pub async fn user_presence(
        &self,
        id: Uuid,
        legacy_id: &str,
        email: &str,
    ) -> Result<UserPresence, StoreError> {
        let tombstone = sqlx::query_scalar!(
            "select legacy_id from account_tombstones where legacy_id = $1",
            legacy_id
        )
        .fetch_optional(self.pool)
        .await?;
        if tombstone.is_some() {
            return Ok(UserPresence::Deleted);
        }
        let found = sqlx::query_scalar!(
            "select id from users where id = $1 or lower(email) = lower($2)
             order by (id = $1) desc limit 1",
            id,
            email,
        )
        .fetch_optional(self.pool)
        .await?;
        Ok(match found {
            None => UserPresence::Absent,
            Some(found) if found == id => UserPresence::Imported,
            Some(_) => UserPresence::EmailTaken,
        })
    }

    /// Inserts an account; `false` when an earlier run did.
    pub async fn insert_user(&self, user: ImportedUser<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query!(
            "insert into users (id, legacy_id, email, password_hash, name, created_at, imported_at)
             values ($1, $2, $3, $4, $5, $6, now())
             on conflict (id) do nothing",
            user.id,
            user.legacy_id,
            user.email,
            user.password_hash,
            user.name,
            user.created_at,
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::on_unique(
            "users_email_lower_key",
            StoreError::EmailTaken,
        ))?
        .rows_affected()
            == 1;
        if inserted {
            AuditLog::record_in(
                &mut tx,
                ACTOR,
                "user.import",
                &format!("user:{}", user.id),
                serde_json::json!({ "legacy_id": user.legacy_id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Whether the subscription is here: imported already, or recorded from Stripe.
    pub async fn subscription_present(
        &self,
        id: Uuid,
        stripe_subscription_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar!(
            "select id from subscriptions where id = $1 or stripe_subscription_id = $2",
            id,
            stripe_subscription_id,
        )
        .fetch_optional(self.pool)
        .await?
        .is_some())
    }

    /// Inserts a subscription and, when the account has none stored, seals its Stripe
    /// customer id; `false` when the subscription was here already.
    pub async fn insert_subscription(
        &self,
        subscription: ImportedSubscription<'_>,
        stripe_customer_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let s = subscription;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query!(
            "insert into subscriptions (id, legacy_id, user_id, stripe_subscription_id,
                 stripe_price_id, status, plan, instance_limit, current_period_start,
                 current_period_end, cancel_at_period_end, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             on conflict do nothing",
            s.id,
            s.legacy_id,
            s.user_id,
            s.update.stripe_subscription_id,
            s.update.stripe_price_id,
            s.update.status,
            s.update.plan,
            s.update.instance_limit,
            s.update.current_period_start,
            s.update.current_period_end,
            s.update.cancel_at_period_end,
            s.created_at,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            return Ok(false);
        }
        if let Some(customer) = stripe_customer_id.filter(|c| !c.is_empty()) {
            Secrets::remember_stripe_customer_id_in(&mut tx, self.keyring, s.user_id, customer)
                .await?;
        }
        AuditLog::record_in(
            &mut tx,
            ACTOR,
            "subscription.import",
            &format!("user:{}", s.user_id),
            serde_json::json!({ "legacy_id": s.legacy_id, "subscription": s.id }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// What is here of the instance `id`.
    pub async fn instance_presence(&self, id: Uuid) -> Result<InstancePresence, StoreError> {
        let row = sqlx::query!(
            r#"select i.deleted_at, s.id as "secret_id?"
               from instances i left join sealed_secrets s on s.instance_id = i.id
               where i.id = $1"#,
            id,
        )
        .fetch_optional(self.pool)
        .await?;
        Ok(match row {
            None => InstancePresence::Absent,
            Some(row) if row.deleted_at.is_some() => InstancePresence::Deleted,
            Some(row) => match row.secret_id {
                Some(secret_id) => InstancePresence::Imported(secret_id),
                None => InstancePresence::WithoutToken,
            },
        })
    }

    /// Inserts an instance record and seals its token, in one transaction; returns the
    /// token's secret id.
    pub async fn insert_instance(
        &self,
        instance: ImportedInstance<'_>,
        token: &TelegramBotToken,
    ) -> Result<Uuid, StoreError> {
        let i = instance;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "insert into instances (id, legacy_id, owner_id, namespace, name, display_name,
                 token_mask, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            i.id,
            i.legacy_id,
            i.owner_id,
            i.namespace,
            i.name,
            i.display_name.as_str(),
            mask_token(token.expose()),
            i.created_at,
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::on_unique(
            "instances_namespace_name_key",
            StoreError::InstanceNameTaken,
        ))?;
        let secret_id =
            Secrets::insert_telegram_token(&mut tx, self.keyring, i.owner_id, i.id, token).await?;
        AuditLog::record_in(
            &mut tx,
            ACTOR,
            "instance.import",
            &format!("instance:{}", i.id),
            serde_json::json!({ "legacy_id": i.legacy_id, "namespace": i.namespace, "name": i.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(secret_id)
    }
}
