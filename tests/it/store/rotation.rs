//! `fasterclaw secrets rotate-key`: every value re-sealed under the new key while
//! readers keep reading, old keys still opening what is not re-sealed yet.

use std::ops::ControlFlow;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fasterclaw::crypto::{EncryptionKey, Keyring};
use fasterclaw::db::reseal::{self, Options, Task};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{instance, key_hex, keyring, token, user};
use crate::support::postgres::TestDatabase;

fn rotated() -> Keyring {
    keyring(2).with_previous(EncryptionKey::from_bytes(&[1; 32]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_re_seals_everything_while_readers_keep_reading() {
    let test = Arc::new(TestDatabase::new().await);
    let old = keyring(1);
    let owner = user(&test.db).await;
    let mut ids = Vec::new();
    for n in 0..120 {
        let (_, id) = instance(&test.db, &old, owner.id, &token(n)).await;
        ids.push((id, n));
    }
    let ids = Arc::new(ids);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for reader in 0..4 {
        let (test, ids, stop, reads) = (test.clone(), ids.clone(), stop.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let ring = rotated();
            let mut i = reader * 31;
            while !stop.load(Ordering::Relaxed) {
                let (id, n) = ids[i % ids.len()];
                let value = test.db.secrets(&ring).telegram_token(id).await.unwrap();
                assert_eq!(value.expose_secret(), token(n));
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }

    let ring = rotated();
    let report = reseal::run(
        test.pool(),
        &ring,
        &Task::RotateKey,
        Options {
            batch_size: 7,
            dry_run: false,
        },
        |_| {
            // Give the readers room between batches.
            std::thread::sleep(std::time::Duration::from_millis(5));
            ControlFlow::Continue(())
        },
    )
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("a reader failed during the rotation");
    }
    assert_eq!(report.rotated, 120);
    assert!(reads.load(Ordering::Relaxed) > 120, "readers barely ran");

    let prefixes: Vec<String> = sqlx::query_scalar(
        "select distinct encode(substring(sealed from 3 for 4), 'hex') from sealed_secrets",
    )
    .fetch_all(test.pool())
    .await
    .unwrap();
    assert_eq!(prefixes, [ring.current_id().to_hex()]);
    // The new key alone opens every value now.
    let only_new = keyring(2);
    for (id, n) in ids.iter() {
        let value = test
            .db
            .secrets(&only_new)
            .telegram_token(*id)
            .await
            .unwrap();
        assert_eq!(value.expose_secret(), token(*n));
    }
    let again = reseal::run(
        test.pool(),
        &ring,
        &Task::RotateKey,
        Options::default(),
        |_| ControlFlow::Continue(()),
    )
    .await
    .unwrap();
    assert_eq!(again.changed(), 0);
}

#[tokio::test]
async fn values_under_an_unknown_key_or_unsealed_are_reported() {
    let test = TestDatabase::new().await;
    let owner = user(&test.db).await;
    let (_, known) = instance(&test.db, &keyring(1), owner.id, &token(1)).await;
    let (_, unknown) = instance(&test.db, &keyring(3), owner.id, &token(2)).await;
    let (_, plain): (_, Uuid) = instance(&test.db, &keyring(1), owner.id, &token(3)).await;
    sqlx::query("update sealed_secrets set sealed = $2 where id = $1")
        .bind(plain)
        .bind(token(3).into_bytes())
        .execute(test.pool())
        .await
        .unwrap();
    let report = reseal::run(
        test.pool(),
        &rotated(),
        &Task::RotateKey,
        Options::default(),
        |_| ControlFlow::Continue(()),
    )
    .await
    .unwrap();
    assert_eq!(report.rotated, 1);
    let failures: Vec<(Uuid, String)> = report
        .unconvertible
        .into_iter()
        .map(|u| (u.id, u.reason))
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    let reason = |id| {
        failures
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert!(reason(unknown).contains(&keyring(3).current_id().to_hex()));
    assert!(reason(plain).contains("encrypt-legacy"));
    assert!(
        test.db
            .secrets(&keyring(2))
            .telegram_token(known)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_cli_rotates_with_previous_keys_from_the_environment() {
    let test = TestDatabase::new().await;
    let owner = user(&test.db).await;
    let (_, id) = instance(&test.db, &keyring(1), owner.id, &token(1)).await;
    let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
        .args(["secrets", "rotate-key"])
        .env("DATABASE_URL", &test.url)
        .env("ENCRYPTION_KEY", key_hex(2))
        .env("ENCRYPTION_KEYS_PREVIOUS", key_hex(1))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 re-sealed under the current key"),
        "{stdout}"
    );
    let value = test
        .db
        .secrets(&keyring(2))
        .telegram_token(id)
        .await
        .unwrap();
    assert_eq!(value.expose_secret(), token(1));
}

#[test]
fn secret_commands_refuse_a_missing_or_bad_key_at_once() {
    for (key, expected) in [
        (None, "ENCRYPTION_KEY is not set"),
        (Some("0123"), "must be 64 hexadecimal characters"),
        (Some(&*"00".repeat(32)), "all zeros"),
    ] {
        for action in ["encrypt-legacy", "rotate-key"] {
            let mut command = Command::new(env!("CARGO_BIN_EXE_fasterclaw"));
            command
                .args(["secrets", action])
                .env_remove("DATABASE_URL")
                .env_remove("ENCRYPTION_KEY");
            if let Some(key) = key {
                command.env("ENCRYPTION_KEY", key);
            }
            let output = command.output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success());
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains(expected), "{stderr}");
            assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
        }
    }
}
