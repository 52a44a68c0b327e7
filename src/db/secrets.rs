use secrecy::SecretString;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::crypto::{AssociatedData, Keyring};
use crate::domain::TelegramBotToken;

/// The kinds of sealed secret. The kind is also the field named in each ciphertext's
/// associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// An instance's Telegram bot token.
    TelegramBotToken,
    /// A user's Stripe customer id.
    StripeCustomerId,
}

impl SecretKind {
    /// The value of the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::TelegramBotToken => "telegram_bot_token",
            SecretKind::StripeCustomerId => "stripe_customer_id",
        }
    }

    /// Reads the `kind` column.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "telegram_bot_token" => Some(SecretKind::TelegramBotToken),
            "stripe_customer_id" => Some(SecretKind::StripeCustomerId),
            _ => None,
        }
    }

    /// What the associated data of a secret of this kind in row `id` is; `instance` is
    /// the instance a Telegram token belongs to (the row's `instance_id`), bound into
    /// every token sealed since tokens were bound to their instance.
    pub fn aad(self, id: Uuid, instance: Option<Uuid>) -> AssociatedData<'static> {
        AssociatedData {
            table: Secrets::TABLE,
            row_id: id,
            field: self.as_str(),
            bound_to: instance,
        }
    }
}

/// Sealed secrets: Telegram tokens and Stripe customer ids, each sealed with the
/// keyring's current key and bound to its row.
#[derive(Clone, Copy, Debug)]
pub struct Secrets<'a> {
    pool: &'a PgPool,
    keyring: &'a Keyring,
}

impl<'a> Secrets<'a> {
    /// The table holding sealed secrets.
    pub const TABLE: &'static str = "sealed_secrets";

    pub(super) fn new(pool: &'a PgPool, keyring: &'a Keyring) -> Self {
        Self { pool, keyring }
    }

    /// Seals and inserts an instance's token on `conn`, returning the secret's id.
    pub(super) async fn insert_telegram_token(
        conn: &mut PgConnection,
        keyring: &Keyring,
        owner_id: Uuid,
        instance_id: Uuid,
        token: &TelegramBotToken,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let kind = SecretKind::TelegramBotToken;
        let sealed = keyring.seal(token.expose(), &kind.aad(id, Some(instance_id)));
        sqlx::query!(
            "insert into sealed_secrets (id, kind, owner_id, instance_id, sealed)
             values ($1, $2, $3, $4, $5)",
            id,
            kind.as_str(),
            owner_id,
            instance_id,
            sealed,
        )
        .execute(conn)
        .await?;
        Ok(id)
    }

    /// The Telegram token stored under this secret id (an Instance's
    /// `spec.telegramToken.storedSecretId`).
    pub async fn telegram_token(&self, secret_id: Uuid) -> Result<SecretString, StoreError> {
        let row = sqlx::query!(
            "select sealed, instance_id from sealed_secrets
             where id = $1 and kind = 'telegram_bot_token'",
            secret_id,
        )
        .fetch_optional(self.pool)
        .await?
        .ok_or(StoreError::NotFound("telegram token"))?;
        self.open_token(secret_id, row.instance_id, &row.sealed)
    }

    /// The Telegram token stored under this secret id for the Instance `name` in
    /// `namespace`: [`StoreError::NotYours`] when the token was stored for another.
    pub async fn telegram_token_of(
        &self,
        secret_id: Uuid,
        namespace: &str,
        name: &str,
    ) -> Result<SecretString, StoreError> {
        let row = sqlx::query!(
            "select s.sealed, s.instance_id, i.namespace, i.name
             from sealed_secrets s join instances i on i.id = s.instance_id
             where s.id = $1 and s.kind = 'telegram_bot_token'",
            secret_id,
        )
        .fetch_optional(self.pool)
        .await?
        .ok_or(StoreError::NotFound("telegram token"))?;
        if row.namespace != namespace || row.name != name {
            return Err(StoreError::NotYours("telegram token"));
        }
        self.open_token(secret_id, row.instance_id, &row.sealed)
    }

    /// The id of an instance's stored token.
    pub async fn telegram_token_id(&self, instance_id: Uuid) -> Result<Option<Uuid>, StoreError> {
        Ok(sqlx::query_scalar!(
            "select id from sealed_secrets where instance_id = $1",
            instance_id,
        )
        .fetch_optional(self.pool)
        .await?)
    }

    /// Deletes the Telegram token stored under this secret id for the Instance `name` in
    /// `namespace`, when that Instance is gone; a token stored for another Instance is
    /// left alone. Whether one was deleted.
    pub async fn delete_telegram_token_of(
        &self,
        secret_id: Uuid,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let deleted = sqlx::query!(
            "delete from sealed_secrets s using instances i
             where s.id = $1 and s.kind = 'telegram_bot_token' and i.id = s.instance_id
               and i.namespace = $2 and i.name = $3",
            secret_id,
            namespace,
            name,
        )
        .execute(self.pool)
        .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Replaces an instance's token, keeping its secret id.
    pub async fn replace_telegram_token(
        &self,
        instance_id: Uuid,
        token: &TelegramBotToken,
    ) -> Result<Uuid, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::replace_telegram_token_in(&mut conn, self.keyring, instance_id, token).await
    }

    /// Replaces an instance's token on `conn`, keeping its secret id.
    pub(super) async fn replace_telegram_token_in(
        conn: &mut PgConnection,
        keyring: &Keyring,
        instance_id: Uuid,
        token: &TelegramBotToken,
    ) -> Result<Uuid, StoreError> {
        let id = sqlx::query_scalar!(
            "select id from sealed_secrets where instance_id = $1",
            instance_id,
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("telegram token"))?;
        let sealed = keyring.seal(
            token.expose(),
            &SecretKind::TelegramBotToken.aad(id, Some(instance_id)),
        );
        sqlx::query!(
            "update sealed_secrets set sealed = $2 where id = $1",
            id,
            sealed
        )
        .execute(&mut *conn)
        .await?;
        Ok(id)
    }

    /// Stores a user's Stripe customer id, replacing any earlier one.
    pub async fn set_stripe_customer_id(
        &self,
        user_id: Uuid,
        customer_id: &str,
    ) -> Result<(), StoreError> {
        let kind = SecretKind::StripeCustomerId;
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query_scalar!(
            "select id from sealed_secrets
             where owner_id = $1 and kind = 'stripe_customer_id' for update",
            user_id,
        )
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            Some(id) => {
                let sealed = self.keyring.seal(customer_id, &kind.aad(id, None));
                sqlx::query!(
                    "update sealed_secrets set sealed = $2 where id = $1",
                    id,
                    sealed
                )
                .execute(&mut *tx)
                .await?;
            }
            None => {
                Self::remember_stripe_customer_id_in(&mut tx, self.keyring, user_id, customer_id)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a user's Stripe customer id on `conn` unless one is stored already.
    pub async fn remember_stripe_customer_id_in(
        conn: &mut PgConnection,
        keyring: &Keyring,
        user_id: Uuid,
        customer_id: &str,
    ) -> Result<(), StoreError> {
        let id = Uuid::new_v4();
        let kind = SecretKind::StripeCustomerId;
        let sealed = keyring.seal(customer_id, &kind.aad(id, None));
        sqlx::query!(
            "insert into sealed_secrets (id, kind, owner_id, sealed) values ($1, $2, $3, $4)
             on conflict (owner_id) where kind = 'stripe_customer_id' do nothing",
            id,
            kind.as_str(),
            user_id,
            sealed,
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A user's Stripe customer id, if one is stored.
    pub async fn stripe_customer_id(
        &self,
        user_id: Uuid,
    ) -> Result<Option<SecretString>, StoreError> {
        let row = sqlx::query!(
            "select id, sealed from sealed_secrets
             where owner_id = $1 and kind = 'stripe_customer_id'",
            user_id,
        )
        .fetch_optional(self.pool)
        .await?;
        row.map(|r| self.open(r.id, SecretKind::StripeCustomerId, &r.sealed))
            .transpose()
    }

    fn open(&self, id: Uuid, kind: SecretKind, sealed: &[u8]) -> Result<SecretString, StoreError> {
        self.keyring
            .open(sealed, &kind.aad(id, None))
            .map_err(|source| StoreError::Secret { id, source })
    }

    /// Opens a Telegram token: bound to its instance, or (sealed before tokens were
    /// bound, until `fasterclaw secrets rotate-key` re-seals it) bound to its row only.
    fn open_token(
        &self,
        id: Uuid,
        instance: Option<Uuid>,
        sealed: &[u8],
    ) -> Result<SecretString, StoreError> {
        open_token(self.keyring, id, instance, sealed)
            .map_err(|source| StoreError::Secret { id, source })
    }
}

/// Opens a Telegram token sealed bound to `instance`, or before binding, to its row only.
pub(super) fn open_token(
    keyring: &Keyring,
    id: Uuid,
    instance: Option<Uuid>,
    sealed: &[u8],
) -> Result<SecretString, crate::crypto::OpenError> {
    let kind = SecretKind::TelegramBotToken;
    match keyring.open(sealed, &kind.aad(id, instance)) {
        Err(crate::crypto::OpenError::Tampered) if instance.is_some() => {
            keyring.open(sealed, &kind.aad(id, None))
        }
        other => other,
    }
}
