use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::secrets::Secrets;
use super::{AuditLog, StoreError, Users};
use crate::crypto::Keyring;
use crate::domain::{DisplayName, TelegramBotToken, mask_token};

/// The facade's record of an Instance custom resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRecord {
    /// Instance id, used in the facade's URLs.
    pub id: Uuid,
    /// Owning user.
    pub owner_id: Uuid,
    /// Kubernetes namespace of the Instance.
    pub namespace: String,
    /// Kubernetes name of the Instance.
    pub name: String,
    /// Name shown to the owner.
    pub display_name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The token, masked (first 10 characters, `...`, last 4): what responses show.
    pub token_mask: Option<String>,
}

/// What a new instance record needs.
#[derive(Clone, Copy, Debug)]
pub struct NewInstance<'a> {
    /// Id to give it (the facade chooses it so the Instance can be named after it).
    pub id: Uuid,
    /// Owning user.
    pub owner_id: Uuid,
    /// Kubernetes namespace.
    pub namespace: &'a str,
    /// Kubernetes name.
    pub name: &'a str,
    /// Name shown to the owner.
    pub display_name: &'a DisplayName,
}

/// The facade's instance records.
#[derive(Clone, Copy, Debug)]
pub struct Instances<'a> {
    pool: &'a PgPool,
    keyring: &'a Keyring,
}

impl<'a> Instances<'a> {
    pub(super) fn new(pool: &'a PgPool, keyring: &'a Keyring) -> Self {
        Self { pool, keyring }
    }

    /// Records a new instance and seals its Telegram token, in one transaction, and
    /// returns the record and the token's secret id.
    pub async fn create(
        &self,
        new: NewInstance<'_>,
        token: &TelegramBotToken,
    ) -> Result<(InstanceRecord, Uuid), StoreError> {
        let tx = self.pool.begin().await?;
        self.insert(tx, new, token).await
    }

    /// Like [`Instances::create`], for an owner whose ACTIVE subscription allows one
    /// more instance: [`StoreError::NoActiveSubscription`] or
    /// [`StoreError::LimitReached`] otherwise. The owner's row is locked for the check
    /// and the insert, as billing events lock it to change the subscription, so neither
    /// concurrent creates nor a plan change in between let the count pass the limit.
    pub async fn create_for_subscriber(
        &self,
        new: NewInstance<'_>,
        token: &TelegramBotToken,
    ) -> Result<(InstanceRecord, Uuid), StoreError> {
        let mut tx = self.pool.begin().await?;
        if !Users::lock_in(&mut tx, new.owner_id).await? {
            return Err(StoreError::NotFound("user"));
        }
        let limit = sqlx::query_scalar!(
            "select instance_limit from subscriptions where user_id = $1 and status = 'ACTIVE'
             order by created_at desc limit 1",
            new.owner_id,
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NoActiveSubscription)?;
        if limit >= 0 {
            let count = sqlx::query_scalar!(
                r#"select count(*) as "count!" from instances where owner_id = $1 and deleted_at is null"#,
                new.owner_id,
            )
            .fetch_one(&mut *tx)
            .await?;
            if count >= i64::from(limit) {
                return Err(StoreError::LimitReached {
                    limit: i64::from(limit),
                });
            }
        }
        self.insert(tx, new, token).await
    }

    async fn insert(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        new: NewInstance<'_>,
        token: &TelegramBotToken,
    ) -> Result<(InstanceRecord, Uuid), StoreError> {
        let record = sqlx::query_as!(
            InstanceRecord,
            "insert into instances (id, owner_id, namespace, name, display_name, token_mask)
             values ($1, $2, $3, $4, $5, $6)
             returning id, owner_id, namespace, name, display_name, created_at, updated_at, deleted_at, token_mask",
            new.id,
            new.owner_id,
            new.namespace,
            new.name,
            new.display_name.as_str(),
            mask_token(token.expose()),
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::on_unique(
            "instances_namespace_name_key",
            StoreError::InstanceNameTaken,
        ))?;
        let secret_id =
            Secrets::insert_telegram_token(&mut tx, self.keyring, new.owner_id, new.id, token)
                .await?;
        AuditLog::record_in(
            &mut tx,
            &format!("user:{}", new.owner_id),
            "instance.create",
            &format!("instance:{}", new.id),
            serde_json::json!({ "namespace": new.namespace, "name": new.name }),
        )
        .await?;
        tx.commit().await?;
        Ok((record, secret_id))
    }

    /// One of an owner's instances, deleted ones included.
    pub async fn find_for_owner(
        &self,
        id: Uuid,
        owner_id: Uuid,
    ) -> Result<Option<InstanceRecord>, StoreError> {
        Ok(sqlx::query_as!(
            InstanceRecord,
            "select id, owner_id, namespace, name, display_name, created_at, updated_at, deleted_at, token_mask
             from instances where id = $1 and owner_id = $2",
            id,
            owner_id,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// An owner's instances that are not deleted, newest first.
    pub async fn list_for_owner(&self, owner_id: Uuid) -> Result<Vec<InstanceRecord>, StoreError> {
        Ok(sqlx::query_as!(
            InstanceRecord,
            "select id, owner_id, namespace, name, display_name, created_at, updated_at, deleted_at, token_mask
             from instances where owner_id = $1 and deleted_at is null
             order by created_at desc, id",
            owner_id,
        )
        .fetch_all(self.pool)
        .await?)
    }

    /// How many of an owner's instances are not deleted.
    pub async fn count_active_for_owner(&self, owner_id: Uuid) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar!(
            r#"select count(*) as "count!" from instances where owner_id = $1 and deleted_at is null"#,
            owner_id,
        )
        .fetch_one(self.pool)
        .await?)
    }

    /// Changes the name shown to the owner.
    pub async fn rename(&self, id: Uuid, display_name: &DisplayName) -> Result<(), StoreError> {
        let done = sqlx::query!(
            "update instances set display_name = $2 where id = $1",
            id,
            display_name.as_str(),
        )
        .execute(self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("instance"));
        }
        Ok(())
    }

    /// Replaces an instance's token (keeping its secret id) and its mask, in one
    /// transaction.
    pub async fn replace_token(
        &self,
        id: Uuid,
        token: &TelegramBotToken,
    ) -> Result<Uuid, StoreError> {
        let mut tx = self.pool.begin().await?;
        let secret_id =
            Secrets::replace_telegram_token_in(&mut tx, self.keyring, id, token).await?;
        sqlx::query!(
            "update instances set token_mask = $2 where id = $1",
            id,
            mask_token(token.expose()),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(secret_id)
    }

    /// An instance by its place in Kubernetes.
    pub async fn find_by_name(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<InstanceRecord>, StoreError> {
        Ok(sqlx::query_as!(
            InstanceRecord,
            "select id, owner_id, namespace, name, display_name, created_at, updated_at, deleted_at, token_mask
             from instances where namespace = $1 and name = $2",
            namespace,
            name,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// The names of the instances in `namespace` not marked deleted and recorded before
    /// `before`, with their ids.
    pub async fn live_in_namespace(
        &self,
        namespace: &str,
        before: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        Ok(sqlx::query!(
            "select id, name from instances
             where namespace = $1 and deleted_at is null and created_at < $2",
            namespace,
            before,
        )
        .fetch_all(self.pool)
        .await?
        .into_iter()
        .map(|row| (row.id, row.name))
        .collect())
    }

    /// Deletes a record and, by cascade, its sealed token: for an instance whose
    /// resource could not be created. Returns whether it existed.
    pub async fn forget(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query!("delete from instances where id = $1", id)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks an instance deleted. Marking it again keeps the first time.
    pub async fn mark_deleted(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query!(
            "update instances set deleted_at = coalesce(deleted_at, now()) where id = $1",
            id,
        )
        .execute(self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("instance"));
        }
        Ok(())
    }
}
