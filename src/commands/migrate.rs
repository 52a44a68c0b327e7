//! `fasterclaw migrate`: apply, list or revert the embedded migrations.

use std::collections::HashMap;

use clap::{Args, Subcommand};

use super::{Error, connect};
use crate::db::{DatabaseArgs, MIGRATOR};

/// `fasterclaw migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// What to do; `run` when absent.
    #[command(subcommand)]
    pub action: Option<MigrateAction>,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// What `fasterclaw migrate` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum MigrateAction {
    /// Apply every migration not yet applied.
    Run,
    /// List the migrations and whether each is applied.
    Status,
    /// Revert the most recently applied migration.
    Revert,
}

/// Runs `fasterclaw migrate`.
pub async fn run(args: MigrateArgs) -> Result<(), Error> {
    let db = connect(&args.database).await?;
    let pool = db.pool();
    match args.action.unwrap_or(MigrateAction::Run) {
        MigrateAction::Run => {
            MIGRATOR.run(pool).await?;
            println!(
                "migrations applied: {}",
                MIGRATOR
                    .iter()
                    .filter(|m| m.migration_type.is_up_migration())
                    .count()
            );
        }
        MigrateAction::Status => {
            let applied = applied(pool).await?;
            for migration in MIGRATOR
                .iter()
                .filter(|m| m.migration_type.is_up_migration())
            {
                let state = match applied.get(&migration.version) {
                    Some(true) => "applied",
                    Some(false) => "FAILED (dirty)",
                    None => "pending",
                };
                println!(
                    "{:>14}  {:<8}  {}",
                    migration.version, state, migration.description
                );
            }
        }
        MigrateAction::Revert => {
            let mut versions: Vec<i64> = applied(pool).await?.into_keys().collect();
            versions.sort_unstable();
            match versions.pop() {
                None => println!("no migration is applied; nothing to revert"),
                Some(last) => {
                    MIGRATOR
                        .undo(pool, versions.last().copied().unwrap_or(0))
                        .await?;
                    println!("reverted migration {last}");
                }
            }
        }
    }
    Ok(())
}

/// Applied versions and whether each succeeded; empty before the first migration.
async fn applied(pool: &sqlx::PgPool) -> Result<HashMap<i64, bool>, Error> {
    let exists: Option<String> = sqlx::query_scalar("select to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await
        .map_err(crate::db::StoreError::from)?;
    if exists.is_none() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, bool)> = sqlx::query_as("select version, success from _sqlx_migrations")
        .fetch_all(pool)
        .await
        .map_err(crate::db::StoreError::from)?;
    Ok(rows.into_iter().collect())
}
