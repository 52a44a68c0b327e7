use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::domain::EmailAddress;

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

    /// Creates an account. An email taken in any letter case is
    /// [`StoreError::EmailTaken`].
    pub async fn create(
        &self,
        email: &EmailAddress,
        password_hash: Option<&str>,
        name: Option<&str>,
    ) -> Result<UserRecord, StoreError> {
        sqlx::query_as!(
            UserRecord,
            "insert into users (email, password_hash, name) values ($1, $2, $3)
             returning id, email, password_hash, name, created_at, updated_at, token_version",
            email.as_str(),
            password_hash,
            name,
        )
        .fetch_one(self.pool)
        .await
        .map_err(StoreError::on_unique(
            "users_email_lower_key",
            StoreError::EmailTaken,
        ))
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

    /// Replaces the password hash.
    pub async fn update_password_hash(&self, id: Uuid, hash: &str) -> Result<(), StoreError> {
        let done = sqlx::query!(
            "update users set password_hash = $2 where id = $1",
            id,
            hash
        )
        .execute(self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
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
    /// subscriptions. Returns whether it existed.
    pub async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query!("delete from users where id = $1", id)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
