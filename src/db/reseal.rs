//! Re-sealing stored secrets in batches: sealing values left in plaintext or in the
//! original system's format, and re-sealing values under the current key after a
//! rotation.
//!
//! Each batch is one transaction that locks its rows, so a run that is killed loses at
//! most the batch in flight, and the next run carries on where it stopped: rows already
//! converted no longer match. Values that cannot be converted are reported by id
//! (never by value) and left as they are.

use std::ops::ControlFlow;

use sqlx::PgPool;
use uuid::Uuid;

use super::{SecretKind, StoreError};
use crate::crypto::legacy::LegacyKey;
use crate::crypto::{Keyring, SEALED_MARK, StoredForm, classify, sealed_prefix};
use crate::domain::TelegramBotToken;

/// Which conversion to run.
#[derive(Clone, Debug)]
pub enum Task {
    /// Seal values in plaintext or in the original system's format. The original key
    /// opens the latter; without it they are reported, not converted.
    EncryptLegacy {
        /// The original system's key, if given.
        legacy_key: Option<Box<LegacyKey>>,
    },
    /// Re-seal values sealed under a previous key with the current key.
    RotateKey,
}

impl Task {
    /// The subcommand name, for progress lines.
    pub fn name(&self) -> &'static str {
        match self {
            Task::EncryptLegacy { .. } => "encrypt-legacy",
            Task::RotateKey => "rotate-key",
        }
    }
}

/// How to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Rows per transaction.
    pub batch_size: u32,
    /// Count what would change without writing anything.
    pub dry_run: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_size: 500,
            dry_run: false,
        }
    }
}

/// A value that could not be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unconvertible {
    /// The secret's row id.
    pub id: Uuid,
    /// Why.
    pub reason: String,
}

/// What a run did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Rows that needed work when the run started.
    pub total: u64,
    /// Rows looked at.
    pub examined: u64,
    /// Plaintext values sealed.
    pub sealed_plaintext: u64,
    /// Values in the original format opened and sealed.
    pub sealed_legacy: u64,
    /// Values re-sealed under the current key.
    pub rotated: u64,
    /// Values left as they are, with the reason.
    pub unconvertible: Vec<Unconvertible>,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Whether the run stopped before the last batch.
    pub interrupted: bool,
}

impl Report {
    /// How many values were (or would be) changed.
    pub fn changed(&self) -> u64 {
        self.sealed_plaintext + self.sealed_legacy + self.rotated
    }
}

/// Runs a conversion. `after_batch` sees the report after each committed batch and may
/// stop the run.
pub async fn run(
    pool: &PgPool,
    keyring: &Keyring,
    task: &Task,
    options: Options,
    mut after_batch: impl FnMut(&Report) -> ControlFlow<()>,
) -> Result<Report, StoreError> {
    // Rows that need work are those whose first bytes differ from `done`: every sealed
    // value for encrypt-legacy, the current key's prefix for rotate-key.
    let done: Vec<u8> = match task {
        Task::EncryptLegacy { .. } => SEALED_MARK.to_vec(),
        Task::RotateKey => sealed_prefix(keyring.current_id()).to_vec(),
    };
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    report.total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from sealed_secrets
           where substring(sealed from 1 for octet_length($1::bytea)) <> $1::bytea"#,
        done,
    )
    .fetch_one(pool)
    .await? as u64;

    let batch_size = i64::from(options.batch_size.max(1));
    let mut after = Uuid::nil();
    loop {
        let mut tx = pool.begin().await?;
        let rows = sqlx::query!(
            "select id, kind, instance_id, sealed from sealed_secrets
             where id > $1 and substring(sealed from 1 for octet_length($2::bytea)) <> $2::bytea
             order by id limit $3 for update",
            after,
            done,
            batch_size,
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;

        let mut ids = Vec::with_capacity(rows.len());
        let mut sealed = Vec::with_capacity(rows.len());
        for row in &rows {
            report.examined += 1;
            match convert(
                keyring,
                task,
                row.id,
                &row.kind,
                row.instance_id,
                &row.sealed,
            ) {
                Ok((value, counter)) => {
                    *counter_of(&mut report, counter) += 1;
                    ids.push(row.id);
                    sealed.push(value);
                }
                Err(reason) => report
                    .unconvertible
                    .push(Unconvertible { id: row.id, reason }),
            }
        }

        if options.dry_run || ids.is_empty() {
            tx.rollback().await?;
        } else {
            sqlx::query!(
                "update sealed_secrets s set sealed = u.sealed
                 from unnest($1::uuid[], $2::bytea[]) as u(id, sealed)
                 where s.id = u.id",
                &ids,
                &sealed,
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }

        if after_batch(&report).is_break() {
            report.interrupted = true;
            break;
        }
    }
    Ok(report)
}

/// Which count a converted value adds to.
#[derive(Clone, Copy)]
enum Counter {
    Plaintext,
    Legacy,
    Rotated,
}

fn counter_of(report: &mut Report, counter: Counter) -> &mut u64 {
    match counter {
        Counter::Plaintext => &mut report.sealed_plaintext,
        Counter::Legacy => &mut report.sealed_legacy,
        Counter::Rotated => &mut report.rotated,
    }
}

/// The new stored value of one row, or why there is none. Telegram tokens are sealed
/// bound to their instance (`instance`), whatever form they had.
fn convert(
    keyring: &Keyring,
    task: &Task,
    id: Uuid,
    kind: &str,
    instance: Option<Uuid>,
    stored: &[u8],
) -> Result<(Vec<u8>, Counter), String> {
    let kind = SecretKind::parse(kind).ok_or_else(|| format!("unknown kind {kind:?}"))?;
    let bound_to = instance.filter(|_| kind == SecretKind::TelegramBotToken);
    let aad = kind.aad(id, bound_to);
    use secrecy::ExposeSecret;
    match (task, classify(stored)) {
        (Task::RotateKey, StoredForm::Sealed(_)) => {
            let value = match kind {
                SecretKind::TelegramBotToken => {
                    super::secrets::open_token(keyring, id, bound_to, stored)
                }
                SecretKind::StripeCustomerId => keyring.open(stored, &aad),
            }
            .map_err(|e| e.to_string())?;
            Ok((keyring.seal(value.expose_secret(), &aad), Counter::Rotated))
        }
        (Task::RotateKey, StoredForm::Plain | StoredForm::Legacy) => {
            Err("not sealed yet: run `fasterclaw secrets encrypt-legacy` first".to_owned())
        }
        (_, StoredForm::Malformed) => Err("malformed sealed value".to_owned()),
        (Task::EncryptLegacy { legacy_key }, StoredForm::Legacy) => {
            let legacy_key = legacy_key.as_ref().ok_or_else(|| {
                "in the original format, and LEGACY_ENCRYPTION_KEY is not set".to_owned()
            })?;
            // Legacy values are UTF-8 text by construction (classify checked).
            let text = std::str::from_utf8(stored).map_err(|_| "not UTF-8 text".to_owned())?;
            let value = legacy_key.open(text).map_err(|e| e.to_string())?;
            if !looks_like_plaintext(kind, value.expose_secret()) {
                return Err(format!("opens, but is not a {}", kind.as_str()));
            }
            Ok((keyring.seal(value.expose_secret(), &aad), Counter::Legacy))
        }
        (Task::EncryptLegacy { .. }, StoredForm::Plain) => {
            let text = std::str::from_utf8(stored)
                .ok()
                .filter(|text| looks_like_plaintext(kind, text))
                .ok_or_else(|| {
                    format!(
                        "neither a plaintext {} nor the original encrypted format",
                        kind.as_str()
                    )
                })?;
            Ok((keyring.seal(text, &aad), Counter::Plaintext))
        }
        // encrypt-legacy never selects values already sealed.
        (Task::EncryptLegacy { .. }, StoredForm::Sealed(_)) => Err("already sealed".to_owned()),
    }
}

/// Whether a plaintext value has its kind's shape: `<digits>:<token>` for Telegram
/// tokens (of any length: the original system did not check them), `cus_...` for
/// Stripe customer ids.
fn looks_like_plaintext(kind: SecretKind, value: &str) -> bool {
    match kind {
        SecretKind::TelegramBotToken => TelegramBotToken::has_token_shape(value),
        SecretKind::StripeCustomerId => value.strip_prefix("cus_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        }),
    }
}
