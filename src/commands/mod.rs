//! The subcommands: what each takes and what it does. The long-running ones (the
//! controller, the facade) and the import live in their own modules; the small operator
//! commands live here.

mod migrate;
mod print;
mod probe;
mod secrets;

use clap::Subcommand;
use secrecy::SecretString;

pub use migrate::{MigrateAction, MigrateArgs};
pub use probe::ProbeArgs;
pub use secrets::{SecretsAction, SecretsArgs};

use crate::crypto::{EncryptionArgs, KeyError, Keyring};
use crate::db::{Database, DatabaseArgs, StoreError};

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller that drives Fly.io apps and machines toward each Instance's spec.
    Controller(Box<crate::controller::settings::ControllerArgs>),
    /// Serve the HTTP facade the web app calls (auth, instances, billing).
    Api(Box<crate::api::server::settings::ApiArgs>),
    /// Print the Instance CustomResourceDefinition as YAML (with `--release`, the
    /// FleetRelease one).
    Crd {
        /// Print the FleetRelease CustomResourceDefinition instead.
        #[arg(long)]
        release: bool,
    },
    /// Print the facade's OpenAPI 3.1 document as JSON.
    Openapi,
    /// Apply, list or revert the database migrations.
    Migrate(MigrateArgs),
    /// Seal stored secrets: convert legacy values, or re-seal under a new key.
    Secrets(SecretsArgs),
    /// Import the original system's users, subscriptions and instances, adopting the
    /// Fly.io apps and machines its bots run on.
    ImportOriginal(Box<crate::import::settings::ImportArgs>),
    /// Check a health endpoint: exit 0 when it answers 2xx (for container health
    /// checks in images without a shell or curl).
    Probe(ProbeArgs),
}

/// Why a subcommand failed. Each message is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required setting is missing.
    #[error("{0} is not set")]
    MissingSetting(&'static str),
    /// An encryption key is missing or malformed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Some stored values could not be converted; they are listed above.
    #[error("{0} stored value(s) could not be converted and were left unchanged")]
    Unconvertible(usize),
    /// The controller or the facade could not start, or stopped.
    #[error(transparent)]
    Start(#[from] crate::startup::StartError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The import from the original system failed.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// The probed endpoint did not answer 2xx.
    #[error("{0}")]
    Probe(String),
    /// The CRD could not be rendered as YAML.
    #[error("cannot render the CRD as YAML: {0}")]
    Yaml(#[from] yaml_serde::Error),
}

/// Runs a subcommand to completion.
pub async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Controller(args) => Ok(crate::controller::run(*args).await?),
        Command::Api(args) => Ok(crate::api::server::run(*args).await?),
        Command::Crd { release } => print::crd(release),
        Command::Openapi => print::openapi(),
        Command::Migrate(args) => migrate::run(args).await,
        Command::Secrets(args) => secrets::run(args).await,
        Command::ImportOriginal(args) => Ok(crate::import::run(*args).await?),
        Command::Probe(args) => probe::run(&args).await,
    }
}

/// Connects to the database named by `DATABASE_URL`.
async fn connect(args: &DatabaseArgs) -> Result<Database, Error> {
    let url: &SecretString = args.url().ok_or(Error::MissingSetting("DATABASE_URL"))?;
    Ok(Database::connect(url).await?)
}

/// The keyring from `ENCRYPTION_KEY` and `ENCRYPTION_KEYS_PREVIOUS`.
fn keyring(args: &EncryptionArgs) -> Result<Keyring, Error> {
    Ok(args.keyring()?)
}
