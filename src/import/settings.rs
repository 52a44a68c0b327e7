//! The settings of `fasterclaw import-original`.

use clap::Args;
use secrecy::SecretString;

use crate::billing::settings::PriceArgs;
use crate::crypto::EncryptionArgs;
use crate::db::DatabaseArgs;
use crate::fly::FlyArgs;

/// `fasterclaw import-original`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The original system's Postgres (read only, in one snapshot), such as
    /// `postgres://user:password@old-host/fasterclaw`.
    #[arg(long, env = "SOURCE_DATABASE_URL", hide_env_values = true)]
    pub source_database_url: Option<SecretString>,

    /// The original system's ENCRYPTION_KEY string, to open the Telegram tokens it
    /// encrypted. Not needed when it stored them in plaintext.
    #[arg(long, env = "LEGACY_ENCRYPTION_KEY", hide_env_values = true)]
    pub legacy_encryption_key: Option<SecretString>,

    /// Namespace of the Instances the import creates: the facade's INSTANCE_NAMESPACE.
    #[arg(long, env = "INSTANCE_NAMESPACE", default_value = "default")]
    pub instance_namespace: String,

    /// The plans' Stripe prices, to recompute the limits of imported subscriptions.
    #[command(flatten)]
    pub prices: PriceArgs,

    /// Report what would be imported, and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete the Fly.io apps of the original's naming that no row records and no
    /// imported instance could claim (left over from failed provisionings and deleted
    /// accounts). Without it they are only reported.
    #[arg(long)]
    pub delete_orphans: bool,

    /// Fly.io, to find the apps the original made but never recorded. Without
    /// FLY_API_TOKEN they are not looked for.
    #[command(flatten)]
    pub fly: FlyArgs,

    /// The FasterClaw database (migrated with `fasterclaw migrate`).
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The keys that seal the imported tokens and Stripe customer ids.
    #[command(flatten)]
    pub encryption: EncryptionArgs,
}
