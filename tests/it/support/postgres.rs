//! A fresh, migrated database per test, cloned from a template that is built once per
//! migration set (safely across the processes nextest runs tests in).

use std::str::FromStr;

use fasterclaw::db::{Database, MIGRATOR};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

const HOW_TO_RUN: &str = "these tests need Postgres: run them with ./scripts/test, which starts a \
                          throwaway cluster, or set DATABASE_URL to a superuser connection";

/// Serializes template creation between test processes.
const TEMPLATE_LOCK: i64 = 0x6661_7374_6572;

/// A database of its own for one test. Its name carries the test process's id; the
/// databases of processes that have exited are dropped when the next one is made, so
/// a failed test's database stays for a look until then.
pub struct TestDatabase {
    /// The store over this database.
    pub db: Database,
    /// Connection URL of this database.
    pub url: String,
}

fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| panic!("DATABASE_URL is not set; {HOW_TO_RUN}"));
    PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("DATABASE_URL does not parse ({e}); {HOW_TO_RUN}"))
}

/// The template's name: it changes whenever a migration changes.
fn template_name() -> String {
    let mut checksum = 0u64;
    for migration in MIGRATOR.iter() {
        for byte in migration
            .checksum
            .iter()
            .chain(&migration.version.to_be_bytes())
        {
            checksum = checksum.wrapping_mul(0x100_0000_01b3) ^ u64::from(*byte);
        }
    }
    format!("fasterclaw_tpl_{checksum:016x}")
}

async fn ensure_template(admin: &mut PgConnection, options: &PgConnectOptions, template: &str) {
    sqlx::query("select pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *admin)
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(template)
            .fetch_one(&mut *admin)
            .await
            .unwrap();
    if !exists {
        // Built under another name and renamed, so a crash never leaves a half-built
        // template behind under the real name.
        let building = format!("fasterclaw_tpl_building_{}", Uuid::new_v4().simple());
        admin
            .execute(AssertSqlSafe(format!(r#"create database "{building}""#)))
            .await
            .unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().database(&building))
            .await
            .unwrap();
        MIGRATOR
            .run(&pool)
            .await
            .expect("migrations apply to a fresh database");
        pool.close().await;
        admin
            .execute(AssertSqlSafe(format!(
                r#"alter database "{building}" rename to "{template}""#
            )))
            .await
            .unwrap();
    }
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *admin)
        .await
        .unwrap();
}

impl TestDatabase {
    /// A new database with every migration applied.
    pub async fn new() -> Self {
        Self::create(true).await
    }

    /// A new database with no migration applied.
    pub async fn empty() -> Self {
        Self::create(false).await
    }

    async fn create(migrated: bool) -> Self {
        let admin = admin_options();
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL ({e}); {HOW_TO_RUN}"));
        drop_databases_of_exited_processes(&mut conn).await;
        let name = format!(
            "fasterclaw_test_{}_{}",
            std::process::id(),
            Uuid::new_v4().simple()
        );
        if migrated {
            let template = template_name();
            ensure_template(&mut conn, &admin, &template).await;
            conn.execute(AssertSqlSafe(format!(
                r#"create database "{name}" template "{template}""#
            )))
            .await
            .unwrap();
        } else {
            conn.execute(AssertSqlSafe(format!(r#"create database "{name}""#)))
                .await
                .unwrap();
        }
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .unwrap();
        let url = database_url_for(&name);
        Self {
            db: Database::from_pool(pool),
            url,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &sqlx::PgPool {
        self.db.pool()
    }
}

/// DATABASE_URL with its database replaced by `name`.
fn database_url_for(name: &str) -> String {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url.as_str(), String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let without_db = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{without_db}/{name}{query}")
}

async fn drop_databases_of_exited_processes(admin: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "select datname::text from pg_database where datname like 'fasterclaw\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let exited = pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if exited {
            // Another process may be dropping it at the same moment; either is fine.
            let _ = admin
                .execute(AssertSqlSafe(format!(
                    r#"drop database if exists "{name}" with (force)"#
                )))
                .await;
        }
    }
}
