//! Seal → store → load → open, and every way a stored value must refuse to open.

use fasterclaw::crypto::{OpenError, sealed_prefix};
use fasterclaw::db::StoreError;
use secrecy::ExposeSecret;

use super::{instance, keyring, token, user};
use crate::support::postgres::TestDatabase;

async fn sealed_of(test: &TestDatabase, id: uuid::Uuid) -> Vec<u8> {
    sqlx::query_scalar("select sealed from sealed_secrets where id = $1")
        .bind(id)
        .fetch_one(test.pool())
        .await
        .unwrap()
}

async fn set_sealed(test: &TestDatabase, id: uuid::Uuid, sealed: &[u8]) {
    sqlx::query("update sealed_secrets set sealed = $2 where id = $1")
        .bind(id)
        .bind(sealed)
        .execute(test.pool())
        .await
        .unwrap();
}

fn open_error(result: Result<secrecy::SecretString, StoreError>) -> OpenError {
    match result {
        Err(StoreError::Secret { source, .. }) => source,
        Err(other) => panic!("expected a secret error, got {other}"),
        Ok(_) => panic!("a damaged value opened"),
    }
}

#[tokio::test]
async fn a_token_is_stored_sealed_and_loads_back() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let (record, secret_id) = instance(&test.db, &ring, owner.id, &token(1)).await;

    let stored = sealed_of(&test, secret_id).await;
    assert!(stored.starts_with(&sealed_prefix(ring.current_id())));
    let token_text = token(1);
    let secret_part = &token_text.as_bytes()[10..];
    assert!(!stored.windows(secret_part.len()).any(|w| w == secret_part));

    let loaded = test
        .db
        .secrets(&ring)
        .telegram_token(secret_id)
        .await
        .unwrap();
    assert_eq!(loaded.expose_secret(), token(1));
    assert_eq!(
        test.db
            .secrets(&ring)
            .telegram_token_id(record.id)
            .await
            .unwrap(),
        Some(secret_id)
    );
}

#[tokio::test]
async fn a_replaced_token_keeps_its_id_and_opens() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let (record, secret_id) = instance(&test.db, &ring, owner.id, &token(1)).await;
    let new_token = fasterclaw::domain::TelegramBotToken::parse(token(2)).unwrap();
    let same_id = test
        .db
        .secrets(&ring)
        .replace_telegram_token(record.id, &new_token)
        .await
        .unwrap();
    assert_eq!(same_id, secret_id);
    let loaded = test
        .db
        .secrets(&ring)
        .telegram_token(secret_id)
        .await
        .unwrap();
    assert_eq!(loaded.expose_secret(), token(2));
}

#[tokio::test]
async fn a_wrong_key_does_not_open() {
    let test = TestDatabase::new().await;
    let owner = user(&test.db).await;
    let (_, secret_id) = instance(&test.db, &keyring(1), owner.id, &token(1)).await;
    let err = open_error(test.db.secrets(&keyring(2)).telegram_token(secret_id).await);
    assert!(matches!(err, OpenError::UnknownKey(_)), "{err}");
}

#[tokio::test]
async fn a_tampered_nonce_ciphertext_or_tag_does_not_open() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let (_, secret_id) = instance(&test.db, &ring, owner.id, &token(1)).await;
    let original = sealed_of(&test, secret_id).await;
    // Nonce, ciphertext, tag (after the 6-byte header).
    for index in [6 + 3, 18 + 5, original.len() - 2] {
        let mut damaged = original.clone();
        damaged[index] ^= 0x40;
        set_sealed(&test, secret_id, &damaged).await;
        let err = open_error(test.db.secrets(&ring).telegram_token(secret_id).await);
        assert_eq!(err, OpenError::Tampered, "byte {index}");
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let (_, first) = instance(&test.db, &ring, owner.id, &token(1)).await;
    let (_, second) = instance(&test.db, &ring, owner.id, &token(2)).await;
    let stolen = sealed_of(&test, first).await;
    set_sealed(&test, second, &stolen).await;
    let err = open_error(test.db.secrets(&ring).telegram_token(second).await);
    assert_eq!(err, OpenError::Tampered);
    // The original row still opens.
    assert!(test.db.secrets(&ring).telegram_token(first).await.is_ok());
}

#[tokio::test]
async fn stripe_customer_ids_are_sealed_per_user() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let owner = user(&test.db).await;
    let secrets = test.db.secrets(&ring);
    assert!(
        secrets
            .stripe_customer_id(owner.id)
            .await
            .unwrap()
            .is_none()
    );
    secrets
        .set_stripe_customer_id(owner.id, "cus_First1")
        .await
        .unwrap();
    secrets
        .set_stripe_customer_id(owner.id, "cus_Second2")
        .await
        .unwrap();
    let loaded = secrets.stripe_customer_id(owner.id).await.unwrap().unwrap();
    assert_eq!(loaded.expose_secret(), "cus_Second2");
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select sealed from sealed_secrets where kind = 'stripe_customer_id'")
            .fetch_all(test.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].windows(4).any(|w| w == b"cus_"));
}
