use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::StoreError;

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Position in the log.
    pub id: i64,
    /// Who acted: `user:<id>`, `controller`, `operator`.
    pub actor: String,
    /// What they did, such as `instance.create`.
    pub action: String,
    /// What it was done to, such as `instance:<id>`.
    pub target: String,
    /// Details; never a secret.
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The audit log: rows are only ever added.
#[derive(Clone, Copy, Debug)]
pub struct AuditLog<'a> {
    pool: &'a PgPool,
}

impl<'a> AuditLog<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// Adds a line.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::record_in(&mut conn, actor, action, target, details).await
    }

    /// Adds a line on `conn`, inside the caller's transaction.
    pub async fn record_in(
        conn: &mut PgConnection,
        actor: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query!(
            "insert into audit_log (actor, action, target, details) values ($1, $2, $3, $4)",
            actor,
            action,
            target,
            details,
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The lines about `target`, oldest first.
    pub async fn for_target(&self, target: &str) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as!(
            AuditEntry,
            "select id, actor, action, target, details, created_at
             from audit_log where target = $1 order by id",
            target,
        )
        .fetch_all(self.pool)
        .await?)
    }
}
