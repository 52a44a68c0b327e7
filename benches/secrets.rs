//! Secrets at rest: what sealing costs over raw AES-256-GCM, and what a sealed store +
//! load round trip costs over the same queries without encryption.
//!
//! Run with `./scripts/bench secrets` (it starts a throwaway Postgres when DATABASE_URL
//! is not set).

mod support;

use std::hint::black_box;

use aes_gcm::aead::{Aead, Generate, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use fasterclaw::crypto::{AssociatedData, EncryptionKey, Keyring};
use fasterclaw::db::{Database, MIGRATOR, NewInstance};
use fasterclaw::domain::{DisplayName, EmailAddress, TelegramBotToken};
use secrecy::{ExposeSecret, SecretString};
use support::{human, ns_per_async_op, ns_per_op};
use uuid::Uuid;

const TOKEN: &str = "7085221466:AAFq3S0m2qAs-kN_4yR8E1vW3Xe9b0pL7Uc";

fn main() {
    support::main(|runtime| {
        crypto();
        match std::env::var("DATABASE_URL") {
            Ok(url) => store(runtime, &url),
            Err(_) => {
                eprintln!("DATABASE_URL is not set: run ./scripts/bench, which starts Postgres");
                std::process::exit(1);
            }
        }
    });
}

fn crypto() {
    let key = [0x42u8; 32];
    let ring = Keyring::new(EncryptionKey::from_bytes(&key));
    let row = Uuid::new_v4();
    let instance = Uuid::new_v4();
    let aad = AssociatedData {
        table: "sealed_secrets",
        row_id: row,
        field: "telegram_bot_token",
        bound_to: Some(instance),
    };
    let ours = ns_per_op(15, 20_000, || {
        let sealed = ring.seal(black_box(TOKEN), &aad);
        let opened = ring.open(&sealed, &aad).expect("opens");
        black_box(opened.expose_secret().len());
    });

    // The same work with aes-gcm alone: a fresh nonce, the same associated data,
    // encrypt, decrypt.
    let raw = Aes256Gcm::new(&key.into());
    let aad_bytes = [
        b"fasterclaw/v1|sealed_secrets|".as_slice(),
        row.as_bytes(),
        b"|telegram_bot_token|",
        instance.as_bytes(),
    ]
    .concat();
    let baseline = ns_per_op(15, 20_000, || {
        let nonce = Nonce::generate();
        let payload = Payload {
            msg: black_box(TOKEN.as_bytes()),
            aad: &aad_bytes,
        };
        let ciphertext = raw.encrypt(&nonce, payload).expect("encrypts");
        let payload = Payload {
            msg: &ciphertext,
            aad: &aad_bytes,
        };
        let plaintext = raw.decrypt(&nonce, payload).expect("decrypts");
        black_box(plaintext.len());
    });

    println!("seal + open, one {}-byte token", TOKEN.len());
    println!("  fasterclaw::crypto   {:>10}", human(ours));
    println!("  raw aes-gcm          {:>10}", human(baseline));
    println!(
        "  ratio                {:>9.2}x   (goal <= 1.20x)",
        ours / baseline
    );
}

fn store(runtime: &tokio::runtime::Runtime, url: &str) {
    let (db, secret_id, instance_id) = runtime.block_on(async {
        let db = Database::connect(&SecretString::from(url.to_owned()))
            .await
            .expect("Postgres");
        let name = format!("fasterclaw_bench_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(db.pool())
            .await
            .expect("create the bench database");
        let bench_url = format!(
            "{}/{name}",
            url.rsplit_once('/').map_or(url, |(base, _)| base)
        );
        let db = Database::connect(&SecretString::from(bench_url))
            .await
            .expect("bench database");
        MIGRATOR.run(db.pool()).await.expect("migrations");
        let ring = ring();
        let email = EmailAddress::parse("bench@example.com").unwrap();
        let user = db.users().create(&email, None, None).await.unwrap();
        let instance_id = Uuid::new_v4();
        let (_, secret_id) = db
            .instances(&ring)
            .create(
                NewInstance {
                    id: instance_id,
                    owner_id: user.id,
                    namespace: "bench",
                    name: "bench",
                    display_name: &DisplayName::parse("Bench").unwrap(),
                },
                &TelegramBotToken::parse(TOKEN).unwrap(),
            )
            .await
            .unwrap();
        (db, secret_id, instance_id)
    });
    let ring = ring();
    let token = TelegramBotToken::parse(TOKEN).unwrap();

    let ours = ns_per_async_op(runtime, 9, 500, || async {
        let secrets = db.secrets(&ring);
        secrets
            .replace_telegram_token(instance_id, &token)
            .await
            .unwrap();
        let loaded = secrets.telegram_token(secret_id).await.unwrap();
        black_box(loaded.expose_secret().len());
    });
    let sealed: Vec<u8> = runtime
        .block_on(
            sqlx::query_scalar("select sealed from sealed_secrets where id = $1")
                .bind(secret_id)
                .fetch_one(db.pool()),
        )
        .unwrap();
    let baseline = ns_per_async_op(runtime, 9, 500, || async {
        // The same two statements with no crypto: look the id up, update, read back.
        let id: Uuid = sqlx::query_scalar("select id from sealed_secrets where instance_id = $1")
            .bind(instance_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        sqlx::query("update sealed_secrets set sealed = $2 where id = $1")
            .bind(id)
            .bind(&sealed)
            .execute(db.pool())
            .await
            .unwrap();
        let back: Vec<u8> = sqlx::query_scalar(
            "select sealed from sealed_secrets where id = $1 and kind = 'telegram_bot_token'",
        )
        .bind(secret_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
        black_box(back.len());
    });
    println!("store + load round trip against Postgres (replace token, then read it)");
    println!("  fasterclaw::db       {:>10}", human(ours));
    println!("  same SQL, no crypto  {:>10}", human(baseline));
    println!("  ratio                {:>9.2}x", ours / baseline);

    runtime.block_on(async {
        let name = format!("fasterclaw_bench_{}", std::process::id());
        db.pool().close().await;
        let admin = Database::connect(&SecretString::from(url.to_owned()))
            .await
            .unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database {name} with (force)"
        )))
        .execute(admin.pool())
        .await;
    });
    let _ = MIGRATOR;
}

fn ring() -> Keyring {
    Keyring::new(EncryptionKey::from_bytes(&[0x42; 32]))
}
