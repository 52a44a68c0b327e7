//! `fasterclaw secrets encrypt-legacy` and `fasterclaw secrets rotate-key`.

use std::ops::ControlFlow;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::{Error, connect, keyring};
use crate::crypto::EncryptionArgs;
use crate::crypto::legacy::LegacyKey;
use crate::db::DatabaseArgs;
use crate::db::reseal::{self, Options, Report, Task};

/// `fasterclaw secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SecretsAction,

    /// Count what would change, and write nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Rows per transaction.
    #[arg(long, global = true, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The keys.
    #[command(flatten)]
    pub encryption: EncryptionArgs,
}

/// What `fasterclaw secrets` does.
#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Seal values left in plaintext or in the original system's format.
    EncryptLegacy {
        /// The original system's ENCRYPTION_KEY string, to open values it encrypted.
        #[arg(long, env = "LEGACY_ENCRYPTION_KEY", hide_env_values = true)]
        legacy_encryption_key: Option<SecretString>,
    },
    /// Re-seal values sealed under a previous key with ENCRYPTION_KEY.
    RotateKey,
}

/// Runs `fasterclaw secrets`.
pub async fn run(args: SecretsArgs) -> Result<(), Error> {
    // The key is checked before anything else, so a bad one fails at once.
    let keyring = keyring(&args.encryption)?;
    let task = match &args.action {
        SecretsAction::EncryptLegacy {
            legacy_encryption_key,
        } => Task::EncryptLegacy {
            legacy_key: legacy_encryption_key
                .as_ref()
                .map(|k| Box::new(LegacyKey::derive(k))),
        },
        SecretsAction::RotateKey => Task::RotateKey,
    };
    let db = connect(&args.database).await?;
    let options = Options {
        batch_size: args.batch_size,
        dry_run: args.dry_run,
    };
    let name = task.name();
    let report = reseal::run(db.pool(), &keyring, &task, options, |progress| {
        eprintln!("{name}: {}", progress_line(progress));
        ControlFlow::Continue(())
    })
    .await?;

    println!("{name}: {}", summary(&report));
    for failure in &report.unconvertible {
        println!(
            "  left unchanged: secret {}: {}",
            failure.id, failure.reason
        );
    }
    if report.unconvertible.is_empty() {
        Ok(())
    } else {
        Err(Error::Unconvertible(report.unconvertible.len()))
    }
}

fn progress_line(report: &Report) -> String {
    format!(
        "{}/{} examined, {} {}, {} left unchanged",
        report.examined,
        report.total,
        report.changed(),
        if report.dry_run {
            "to change"
        } else {
            "changed"
        },
        report.unconvertible.len()
    )
}

fn summary(report: &Report) -> String {
    format!(
        "{}{} examined; {} plaintext sealed, {} legacy-format sealed, {} re-sealed under the current key; {} left unchanged",
        if report.dry_run {
            "dry run, nothing written: "
        } else {
            ""
        },
        report.examined,
        report.sealed_plaintext,
        report.sealed_legacy,
        report.rotated,
        report.unconvertible.len()
    )
}
