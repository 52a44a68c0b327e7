//! The Postgres store, the sealed secrets in it and the data tools, against a real
//! Postgres.

mod legacy;
mod migrations;
mod repositories;
mod rotation;
mod sealed_secrets;

use fasterclaw::crypto::{EncryptionKey, Keyring};
use fasterclaw::db::{Database, InstanceRecord, NewInstance, UserRecord};
use fasterclaw::domain::{DisplayName, EmailAddress, TelegramBotToken};
use uuid::Uuid;

/// A keyring whose single key is 32 copies of `byte`.
pub fn keyring(byte: u8) -> Keyring {
    Keyring::new(EncryptionKey::from_bytes(&[byte; 32]))
}

/// The hex form of that key, as ENCRYPTION_KEY holds it.
pub fn key_hex(byte: u8) -> String {
    hex::encode([byte; 32])
}

/// A well-formed token that differs with `n`.
pub fn token(n: u32) -> String {
    format!("{}:AAH{:0>32}x", 100_000_000 + n, n)
}

pub async fn user(db: &Database) -> UserRecord {
    let email = EmailAddress::parse(format!("{}@example.com", Uuid::new_v4().simple())).unwrap();
    db.users()
        .create(&email, Some("$argon2id$fake"), Some("Ada"))
        .await
        .unwrap()
}

/// An instance of `owner` with its sealed token; returns the record and secret id.
pub async fn instance(
    db: &Database,
    keyring: &Keyring,
    owner: Uuid,
    token_text: &str,
) -> (InstanceRecord, Uuid) {
    let id = Uuid::new_v4();
    let name = format!("instance-{}", id.simple());
    let display = DisplayName::parse("Support bot").unwrap();
    db.instances(keyring)
        .create(
            NewInstance {
                id,
                owner_id: owner,
                namespace: "default",
                name: &name,
                display_name: &display,
            },
            &TelegramBotToken::parse(token_text).unwrap(),
        )
        .await
        .unwrap()
}
