use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{AuditLog, StoreError};
use crate::domain::EmailAddress;

/// The audit log's name of an account.
fn target(id: Uuid) -> String {
    format!("user:{id}")
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Account id.
    pub id: Uuid,
    /// Email address, as given at sign-up.
    pub email: String,
    /// Password hash (PHC string); `None` for accounts that sign in with Google only.
    pub password_hash: Option<String>,
    /// The person's name.
    pub name: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Moves on at every password change; a session token carrying an older version
    /// is refused.
    pub token_version: i32,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[REDACTED]"),
            )
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("token_version", &self.token_version)
            .finish()
    }
}

/// Accounts.
#[derive(Clone, Copy, Debug)]
pub struct Users<'a> {
    pool: &'a PgPool,
}

impl<'a> Users<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// Locks the account's row on `conn` until its transaction ends, so work on one
    /// account (instance limits, billing events) happens one at a time; `false` when
    /// the account does not exist.
    pub async fn lock_in(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar!("select id from users where id = $1 for update", id)
                .fetch_optional(conn)
                .await?
                .is_some(),
        )
    }

    /// The account's billing revision, which moves on whenever one of its
    /// subscriptions is recorded; `None` when the account does not exist.
    pub async fn billing_revision(&self, id: Uuid) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar!("select billing_revision from users where id = $1", id)
                .fetch_optional(self.pool)
                .await?,
        )
    }

    /// Locks the account's row on `conn` (as [`Users::lock_in`]) and returns its billing
    /// revision; `None` when the account does not exist.
    pub async fn lock_billing_in(
        conn: &mut PgConnection,
        id: Uuid,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar!(
            "select billing_revision from users where id = $1 for update",
            id
        )
        .fetch_optional(conn)
        .await?)
    }

    /// Creates an account that signs in with a password (or, without a hash, with
    /// nothing until it is linked to Google). An email taken in any letter case is
    /// [`StoreError::EmailTaken`].
    pub async fn create(
        &self,
        email: &EmailAddress,
        password_hash: Option<&str>,
        name: Option<&str>,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let record = sqlx::query_as!(
            UserRecord,
            "insert into users (email, password_hash, name) values ($1, $2, $3)
             returning id, email, password_hash, name, created_at, updated_at, token_version",
            email.as_str(),
            password_hash,
            name,
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::on_unique(
            "users_email_lower_key",
            StoreError::EmailTaken,
        ))?;
        AuditLog::record_in(
            &mut tx,
            &target(record.id),
            "user.create",
            &target(record.id),
            serde_json::json!({ "method": "password" }),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Creates an account without a password for the Google account `google_sub`. An
    /// email taken in any letter case is [`StoreError::EmailTaken`]; a Google
    /// account linked to one already is [`StoreError::GoogleAccountTaken`].
    pub async fn create_with_google(
        &self,
        email: &EmailAddress,
        name: Option<&str>,
        google_sub: &str,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let record = sqlx::query_as!(
            UserRecord,
            "insert into users (email, password_hash, name, google_sub) values ($1, null, $2, $3)
             returning id, email, password_hash, name, created_at, updated_at, token_version",
            email.as_str(),
            name,
            google_sub,
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.constraint() == Some("users_google_sub_key") =>
            {
                StoreError::GoogleAccountTaken
            }
            _ => StoreError::on_unique("users_email_lower_key", StoreError::EmailTaken)(e),
        })?;
        AuditLog::record_in(
            &mut tx,
            &target(record.id),
            "user.create",
            &target(record.id),
            serde_json::json!({ "method": "google" }),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The account linked to the Google account `google_sub`.
    pub async fn find_by_google_sub(
        &self,
        google_sub: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as!(
            UserRecord,
            "select id, email, password_hash, name, created_at, updated_at, token_version
             from users where google_sub = $1",
            google_sub,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// Links the account to the Google account `google_sub`, unless it is linked
    /// already (to any); whether it was linked now.
    pub async fn link_google(&self, id: Uuid, google_sub: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let linked = sqlx::query!(
            "update users set google_sub = $2 where id = $1 and google_sub is null",
            id,
            google_sub,
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::GoogleAccountTaken,
            _ => StoreError::Database(e),
        })?
        .rows_affected()
            == 1;
        if linked {
            AuditLog::record_in(
                &mut tx,
                &target(id),
                "user.link_google",
                &target(id),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(linked)
    }

    /// Ends every session of the account: the token version moves on. Returns the new
    /// version, or `None` when the account does not exist.
    pub async fn end_sessions(&self, id: Uuid) -> Result<Option<i32>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let version = sqlx::query_scalar!(
            "update users set token_version = token_version + 1 where id = $1
             returning token_version",
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(version) = version {
            AuditLog::record_in(
                &mut tx,
                &target(id),
                "user.logout_all",
                &target(id),
                serde_json::json!({ "token_version": version }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// The account with this id.
    pub async fn find(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as!(
            UserRecord,
            "select id, email, password_hash, name, created_at, updated_at, token_version
             from users where id = $1",
            id,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// The account with this email, in any letter case.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as!(
            UserRecord,
            "select id, email, password_hash, name, created_at, updated_at, token_version
             from users where lower(email) = lower($1)",
            email,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// Changes the person's name.
    pub async fn update_name(&self, id: Uuid, name: &str) -> Result<UserRecord, StoreError> {
        sqlx::query_as!(
            UserRecord,
            "update users set name = $2 where id = $1
             returning id, email, password_hash, name, created_at, updated_at, token_version",
            id,
            name,
        )
        .fetch_optional(self.pool)
        .await?
        .ok_or(StoreError::NotFound("user"))
    }

    /// Replaces the password hash `old` (the one just verified) with `new`; whether it
    /// was still `old` (a password changed in between is kept).
    pub async fn upgrade_password_hash(
        &self,
        id: Uuid,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query!(
            "update users set password_hash = $3 where id = $1 and password_hash = $2",
            id,
            old,
            new
        )
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a new password and ends every session: the token version moves on.
    /// Returns the new version.
    pub async fn change_password(&self, id: Uuid, hash: &str) -> Result<i32, StoreError> {
        sqlx::query_scalar!(
            "update users set password_hash = $2, token_version = token_version + 1
             where id = $1 returning token_version",
            id,
            hash
        )
        .fetch_optional(self.pool)
        .await?
        .ok_or(StoreError::NotFound("user"))
    }

    /// Deletes the account and, by cascade, its instances' records, secrets and
    /// subscriptions; an account imported from the original system leaves a tombstone
    /// of its original id, so that no later import brings it back. Returns whether it
    /// existed.
    pub async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted =
            sqlx::query_scalar!("delete from users where id = $1 returning legacy_id", id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(legacy_id) = deleted else {
            return Ok(false);
        };
        AuditLog::record_in(
            &mut tx,
            &target(id),
            "user.delete",
            &target(id),
            serde_json::json!({ "imported": legacy_id.is_some() }),
        )
        .await?;
        if let Some(legacy_id) = legacy_id {
            sqlx::query!(
                "insert into account_tombstones (legacy_id) values ($1) on conflict do nothing",
                legacy_id
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// When the account `id` was imported from the original system, where it had the id
    /// `legacy_id`; `None` when it was not (or under another id).
    pub async fn imported_at(
        &self,
        id: Uuid,
        legacy_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar!(
            "select imported_at from users where id = $1 and legacy_id = $2",
            id,
            legacy_id,
        )
        .fetch_optional(self.pool)
        .await?
        .flatten())
    }

    /// When the latest account was imported from the original system, if any was.
    pub async fn last_import(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar!("select max(imported_at) from users")
            .fetch_one(self.pool)
            .await?)
    }
}
