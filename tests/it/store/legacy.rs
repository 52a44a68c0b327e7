//! `fasterclaw secrets encrypt-legacy`: plaintext and original-format values become
//! sealed values; the tool is idempotent, resumable and never keeps a value silently.

use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::process::{Command, Stdio};

use fasterclaw::crypto::legacy::LegacyKey;
use fasterclaw::crypto::{Keyring, SEALED_MARK};
use fasterclaw::db::reseal::{self, Options, Report, Task};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{instance, key_hex, keyring, token, user};
use crate::support::postgres::TestDatabase;

struct Vector {
    kind: String,
    stored: String,
    plaintext: String,
}

fn legacy_fixture() -> (SecretString, Vec<Vector>) {
    let text = include_str!("../../fixtures/legacy-vectors.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let vectors = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            kind: v["kind"].as_str().unwrap().to_owned(),
            stored: v["stored"].as_str().unwrap().to_owned(),
            plaintext: v["plaintext"].as_str().unwrap().to_owned(),
        })
        .collect();
    (
        SecretString::from(doc["key"].as_str().unwrap().to_owned()),
        vectors,
    )
}

/// Puts a value as the original system left it (UTF-8 text) into a row.
async fn overwrite(test: &TestDatabase, id: Uuid, stored: &str) {
    sqlx::query("update sealed_secrets set sealed = $2 where id = $1")
        .bind(id)
        .bind(stored.as_bytes())
        .execute(test.pool())
        .await
        .unwrap();
}

async fn stripe_row(test: &TestDatabase, owner: Uuid, stored: &str) -> Uuid {
    sqlx::query_scalar(
        "insert into sealed_secrets (kind, owner_id, sealed) values ('stripe_customer_id', $1, $2) returning id",
    )
    .bind(owner)
    .bind(stored.as_bytes())
    .fetch_one(test.pool())
    .await
    .unwrap()
}

fn legacy_task(key: &SecretString) -> Task {
    Task::EncryptLegacy {
        legacy_key: Some(Box::new(LegacyKey::derive(key))),
    }
}

async fn run(test: &TestDatabase, ring: &Keyring, task: &Task, options: Options) -> Report {
    reseal::run(test.pool(), ring, task, options, |_| {
        ControlFlow::Continue(())
    })
    .await
    .unwrap()
}

/// A database holding what the original system left: plaintext tokens, tokens and a
/// customer id in its encrypted format, a plaintext customer id, and two values that
/// cannot be converted. Returns the ids with their expected plaintext, and the two
/// unconvertible ids.
async fn legacy_database(test: &TestDatabase) -> (Vec<(Uuid, &'static str, String)>, Vec<Uuid>) {
    let (_, vectors) = legacy_fixture();
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let mut expected = Vec::new();
    for n in 0..5 {
        let (_, id) = instance(&test.db, &ring, owner.id, &token(n)).await;
        overwrite(test, id, &token(n)).await;
        expected.push((id, "telegram_bot_token", token(n)));
    }
    for vector in vectors.iter().filter(|v| v.kind == "telegram_bot_token") {
        let (_, id) = instance(&test.db, &ring, owner.id, &token(99)).await;
        overwrite(test, id, &vector.stored).await;
        expected.push((id, "telegram_bot_token", vector.plaintext.clone()));
    }
    let customer = vectors
        .iter()
        .find(|v| v.kind == "stripe_customer_id")
        .unwrap();
    let id = stripe_row(test, owner.id, &customer.stored).await;
    expected.push((id, "stripe_customer_id", customer.plaintext.clone()));
    let other = user(&test.db).await;
    let id = stripe_row(test, other.id, "cus_PlainText9").await;
    expected.push((id, "stripe_customer_id", "cus_PlainText9".to_owned()));

    let third = user(&test.db).await;
    let (_, garbage) = instance(&test.db, &ring, third.id, &token(98)).await;
    overwrite(test, garbage, "this is not a token at all").await;
    // The original format, but under a key nobody has.
    let (_, foreign) = instance(&test.db, &ring, third.id, &token(97)).await;
    let unopenable = format!(
        "{}:{}:{}",
        "ab".repeat(16),
        "cd".repeat(16),
        "ef".repeat(20)
    );
    overwrite(test, foreign, &unopenable).await;
    (expected, vec![garbage, foreign])
}

/// A row's sealed value and the instance it belongs to.
async fn stored(test: &TestDatabase, id: Uuid) -> (Vec<u8>, Option<Uuid>) {
    sqlx::query_as("select sealed, instance_id from sealed_secrets where id = $1")
        .bind(id)
        .fetch_one(test.pool())
        .await
        .unwrap()
}

/// Opens a value as sealed by the tools: a token bound to its instance.
fn open(ring: &Keyring, id: Uuid, kind: &str, instance: Option<Uuid>, stored: &[u8]) -> String {
    let kind = fasterclaw::db::SecretKind::parse(kind).unwrap();
    ring.open(stored, &kind.aad(id, instance))
        .unwrap()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn converts_both_legacy_forms_and_a_second_run_changes_nothing() {
    let test = TestDatabase::new().await;
    let (expected, unconvertible) = legacy_database(&test).await;
    let (old_key, _) = legacy_fixture();
    let ring = keyring(1);
    let task = legacy_task(&old_key);

    let dry = run(
        &test,
        &ring,
        &task,
        Options {
            batch_size: 4,
            dry_run: true,
        },
    )
    .await;
    assert_eq!((dry.sealed_plaintext, dry.sealed_legacy), (6, 3));
    assert_eq!(
        stored(&test, expected[0].0).await.0,
        token(0).as_bytes(),
        "a dry run wrote"
    );

    let first = run(
        &test,
        &ring,
        &task,
        Options {
            batch_size: 4,
            dry_run: false,
        },
    )
    .await;
    assert_eq!(first.sealed_plaintext, 6, "{first:?}");
    assert_eq!(first.sealed_legacy, 3, "{first:?}");
    let mut left: Vec<Uuid> = first.unconvertible.iter().map(|u| u.id).collect();
    left.sort();
    let mut want = unconvertible.clone();
    want.sort();
    assert_eq!(left, want);
    for failure in &first.unconvertible {
        assert!(
            !failure.reason.contains("not a token at all"),
            "{}",
            failure.reason
        );
    }

    for (id, kind, plaintext) in &expected {
        let (value, instance) = stored(&test, *id).await;
        assert!(value.starts_with(&SEALED_MARK));
        assert_eq!(&open(&ring, *id, kind, instance, &value), plaintext);
    }
    // The store reads them too.
    let loaded = test
        .db
        .secrets(&ring)
        .telegram_token(expected[5].0)
        .await
        .unwrap();
    assert_eq!(loaded.expose_secret(), expected[5].2);
    // The values that could not be converted are exactly as they were.
    assert_eq!(
        stored(&test, unconvertible[0]).await.0,
        b"this is not a token at all"
    );

    let second = run(&test, &ring, &task, Options::default()).await;
    assert_eq!(second.changed(), 0, "{second:?}");
    assert_eq!(
        second.unconvertible.len(),
        2,
        "still reported, never kept silently"
    );
}

#[tokio::test]
async fn without_the_old_key_legacy_values_are_reported_not_kept() {
    let test = TestDatabase::new().await;
    let (_, _) = legacy_database(&test).await;
    let task = Task::EncryptLegacy { legacy_key: None };
    let report = run(&test, &keyring(1), &task, Options::default()).await;
    assert_eq!(report.sealed_plaintext, 6);
    assert_eq!(report.sealed_legacy, 0);
    assert_eq!(report.unconvertible.len(), 5);
    assert!(
        report
            .unconvertible
            .iter()
            .any(|u| u.reason.contains("LEGACY_ENCRYPTION_KEY"))
    );
}

/// Inserts `count` instances with plaintext tokens `token(0..count)`, straight in SQL.
async fn plaintext_rows(test: &TestDatabase, count: i32) {
    let owner = user(&test.db).await;
    sqlx::query(
        "with made as (
             insert into instances (owner_id, namespace, name, display_name)
             select $1, 'default', 'bulk-' || g, 'Bot ' || g from generate_series(0, $2 - 1) g
             returning id, name)
         insert into sealed_secrets (kind, owner_id, instance_id, sealed)
         select 'telegram_bot_token', $1, id,
                convert_to((100000000 + n)::text || ':AAH' || lpad(n::text, 32, '0') || 'x', 'UTF8')
         from (select id, substr(name, 6)::int as n from made) m",
    )
    .bind(owner.id)
    .bind(count)
    .execute(test.pool())
    .await
    .unwrap();
}

async fn counts(test: &TestDatabase) -> (i64, i64) {
    sqlx::query_as(
        r"select count(*) filter (where substring(sealed from 1 for 2) = '\xfc01'::bytea),
                count(*) filter (where substring(sealed from 1 for 2) <> '\xfc01'::bytea)
         from sealed_secrets",
    )
    .fetch_one(test.pool())
    .await
    .unwrap()
}

async fn assert_every_token_opens(test: &TestDatabase, ring: &Keyring, count: i32) {
    let rows: Vec<(Uuid, Vec<u8>, String, Uuid)> = sqlx::query_as(
        "select s.id, s.sealed, i.name, i.id from sealed_secrets s join instances i on i.id = s.instance_id",
    )
    .fetch_all(test.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), count as usize);
    for (id, sealed, name, instance) in rows {
        let n: u32 = name.trim_start_matches("bulk-").parse().unwrap();
        assert_eq!(
            open(ring, id, "telegram_bot_token", Some(instance), &sealed),
            token(n)
        );
    }
}

#[tokio::test]
async fn an_interrupted_run_resumes_where_it_stopped() {
    let test = TestDatabase::new().await;
    plaintext_rows(&test, 240).await;
    let ring = keyring(1);
    let task = Task::EncryptLegacy { legacy_key: None };
    let mut batches = 0;
    let partial = reseal::run(
        test.pool(),
        &ring,
        &task,
        Options {
            batch_size: 25,
            dry_run: false,
        },
        |_| {
            batches += 1;
            if batches == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .await
    .unwrap();
    assert!(partial.interrupted);
    assert_eq!(counts(&test).await, (75, 165));

    let rest = run(
        &test,
        &ring,
        &task,
        Options {
            batch_size: 25,
            dry_run: false,
        },
    )
    .await;
    assert_eq!(rest.total, 165);
    assert_eq!(rest.sealed_plaintext, 165);
    assert_eq!(counts(&test).await, (240, 0));
    assert_every_token_opens(&test, &ring, 240).await;
}

fn fasterclaw(test: &TestDatabase, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fasterclaw"));
    command
        .args(args)
        .env("DATABASE_URL", &test.url)
        .env("ENCRYPTION_KEY", key_hex(1))
        .env_remove("ENCRYPTION_KEYS_PREVIOUS")
        .env_remove("LEGACY_ENCRYPTION_KEY")
        .env("LOG_LEVEL", "warn");
    command
}

#[tokio::test]
async fn a_killed_process_loses_nothing_and_the_next_run_finishes() {
    let test = TestDatabase::new().await;
    plaintext_rows(&test, 400).await;
    let mut child = fasterclaw(&test, &["secrets", "encrypt-legacy", "--batch-size", "2"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Let it commit a few batches, then kill it mid-run.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let progress = stderr.lines().take(5).count();
    assert_eq!(progress, 5, "the tool printed no progress lines");
    child.kill().unwrap();
    child.wait().unwrap();
    let (sealed, plain) = counts(&test).await;
    assert!(
        sealed >= 10 && plain > 0,
        "sealed {sealed}, plaintext {plain}"
    );

    let output = fasterclaw(&test, &["secrets", "encrypt-legacy", "--batch-size", "50"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(counts(&test).await, (400, 0));
    assert_every_token_opens(&test, &keyring(1), 400).await;

    let again = fasterclaw(&test, &["secrets", "encrypt-legacy"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert!(stdout.contains("0 examined"), "{stdout}");
}

#[tokio::test]
async fn the_cli_dry_run_counts_and_reports_unconvertible_values_by_id_only() {
    let test = TestDatabase::new().await;
    let (_, unconvertible) = legacy_database(&test).await;
    let (old_key, _) = legacy_fixture();
    let output = fasterclaw(&test, &["secrets", "encrypt-legacy", "--dry-run"])
        .env("LEGACY_ENCRYPTION_KEY", old_key.expose_secret())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "unconvertible values must fail the run"
    );
    assert!(stdout.contains("dry run, nothing written"), "{stdout}");
    assert!(
        stdout.contains("6 plaintext sealed, 3 legacy-format sealed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 stored value(s) could not be converted"),
        "{stderr}"
    );
    for id in unconvertible {
        assert!(stdout.contains(&id.to_string()), "{stdout}");
    }
    assert!(
        !stdout.contains("not a token at all"),
        "a value leaked: {stdout}"
    );
    assert!(
        !stdout.contains(&token(0)[10..]),
        "a token leaked: {stdout}"
    );
}

#[tokio::test]
async fn no_plaintext_token_is_left_in_any_column_after_the_tools_ran() {
    let test = TestDatabase::new().await;
    plaintext_rows(&test, 20).await;
    let (old_key, vectors) = legacy_fixture();
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let (_, id) = instance(&test.db, &ring, owner.id, &token(500)).await;
    overwrite(&test, id, &vectors[0].stored).await;
    run(&test, &ring, &legacy_task(&old_key), Options::default()).await;
    let rotated = keyring(2).with_previous(fasterclaw::crypto::EncryptionKey::from_bytes(&[1; 32]));
    run(&test, &rotated, &Task::RotateKey, Options::default()).await;

    let secrets: Vec<String> = (0..20)
        .map(token)
        .chain([token(500), vectors[0].plaintext.clone()])
        .map(|t| t.split_once(':').unwrap().1.to_owned())
        .collect();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text, data_type::text from information_schema.columns
         where table_schema = 'public'
           and data_type in ('text', 'character varying', 'jsonb', 'json', 'bytea')",
    )
    .fetch_all(test.pool())
    .await
    .unwrap();
    assert!(columns.len() > 10, "{columns:?}");
    assert!(columns.iter().any(|(_, _, t)| t == "bytea"));
    for (table, column, data_type) in columns {
        let matches = if data_type == "bytea" {
            format!(r#"position(convert_to($1, 'UTF8') in "{column}") > 0"#)
        } else {
            format!(r#""{column}"::text like '%' || $1 || '%'"#)
        };
        for secret in &secrets {
            let found: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                r#"select count(*) from "{table}" where {matches}"#
            )))
            .bind(secret)
            .fetch_one(test.pool())
            .await
            .unwrap();
            assert_eq!(found, 0, "a plaintext token is in {table}.{column}");
        }
    }
}
