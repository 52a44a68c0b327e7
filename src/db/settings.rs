//! How to reach Postgres, as every command that needs it reads it.

use clap::Args;
use secrecy::SecretString;

/// How to reach Postgres.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Postgres connection URL, such as `postgres://user:password@host/db`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
}

impl DatabaseArgs {
    /// The URL, or `None` when it is unset or blank.
    pub fn url(&self) -> Option<&SecretString> {
        self.database_url
            .as_ref()
            .filter(|url| !secrecy::ExposeSecret::expose_secret(*url).trim().is_empty())
    }
}
