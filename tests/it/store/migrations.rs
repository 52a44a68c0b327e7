//! Every migration applies, reverts and applies again; `fasterclaw migrate` drives them.

use std::process::Command;

use fasterclaw::db::MIGRATOR;

use crate::support::postgres::TestDatabase;

async fn our_tables(test: &TestDatabase) -> Vec<String> {
    sqlx::query_scalar(
        "select table_name::text from information_schema.tables
         where table_schema = 'public' and table_name <> '_sqlx_migrations' order by 1",
    )
    .fetch_all(test.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let test = TestDatabase::empty().await;
    MIGRATOR.run(test.pool()).await.unwrap();
    let tables = our_tables(&test).await;
    assert_eq!(
        tables,
        [
            "account_tombstones",
            "audit_log",
            "billing_lapses",
            "google_sign_ins",
            "instances",
            "sealed_secrets",
            "stripe_webhook_events",
            "subscriptions",
            "users"
        ]
    );
    MIGRATOR.undo(test.pool(), 0).await.unwrap();
    assert!(our_tables(&test).await.is_empty());
    let helper: Option<String> = sqlx::query_scalar("select to_regproc('set_updated_at')::text")
        .fetch_one(test.pool())
        .await
        .unwrap();
    assert_eq!(helper, None, "the helper function outlived its revert");
    MIGRATOR.run(test.pool()).await.unwrap();
    assert_eq!(our_tables(&test).await, tables);
}

fn migrate(test: &TestDatabase, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
        .arg("migrate")
        .args(args)
        .env("DATABASE_URL", &test.url)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn the_cli_applies_lists_and_reverts_the_last() {
    let test = TestDatabase::empty().await;
    let count = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    let last = MIGRATOR.iter().map(|m| m.version).max().unwrap();
    let (ok, status) = migrate(&test, &["status"]);
    assert!(ok, "{status}");
    assert_eq!(status.matches("pending").count(), count, "{status}");

    let (ok, out) = migrate(&test, &[]);
    assert!(ok, "{out}");
    let (_, status) = migrate(&test, &["status"]);
    assert_eq!(status.matches("applied").count(), count, "{status}");
    // Applying again changes nothing.
    assert!(migrate(&test, &["run"]).0);
    let columns = |test: &TestDatabase, table: &'static str| {
        let pool = test.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select column_name::text from information_schema.columns where table_name = $1",
            )
            .bind(table)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert!(
        columns(&test, "instances")
            .await
            .contains(&"billing_stop".to_owned())
    );
    assert!(
        columns(&test, "users")
            .await
            .contains(&"google_sub".to_owned())
    );

    let (ok, out) = migrate(&test, &["revert"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("reverted migration {last}")), "{out}");
    let (_, status) = migrate(&test, &["status"]);
    assert_eq!(status.matches("applied").count(), count - 1, "{status}");
    // The last migration added why billing stopped an instance and the accounts'
    // lapses; reverting it takes them away and leaves the earlier ones.
    assert!(
        !columns(&test, "instances")
            .await
            .contains(&"billing_stop".to_owned())
    );
    assert!(
        !our_tables(&test)
            .await
            .contains(&"billing_lapses".to_owned())
    );
    assert!(
        columns(&test, "users")
            .await
            .contains(&"imported_at".to_owned())
    );
    assert!(
        our_tables(&test)
            .await
            .contains(&"account_tombstones".to_owned())
    );
}
