//! `fasterclaw secrets encrypt-legacy` and `fasterclaw secrets rotate-key`.

use std::ops::ControlFlow;

use super::{Error, connect, keyring};
use crate::cli::{SecretsAction, SecretsArgs};
use crate::crypto::legacy::LegacyKey;
use crate::db::reseal::{self, Options, Report, Task};

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
