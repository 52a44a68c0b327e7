//! The command line: subcommands and their settings. Every setting can come from an
//! environment variable (named in `--help`) or a flag; secrets are held in `secrecy`
//! types from the moment they are read.

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

/// FasterClaw control plane: the Instance controller and the HTTP facade.
#[derive(Debug, Parser)]
#[command(name = "fasterclaw", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,

    /// Logging settings.
    #[command(flatten)]
    pub logging: LoggingArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller that drives Fly.io apps and machines toward each Instance's spec.
    Controller(Box<crate::controller::settings::ControllerArgs>),
    /// Serve the HTTP facade the web app calls (auth, instances, billing).
    Api(Box<crate::api::server::settings::ApiArgs>),
    /// Print the Instance CustomResourceDefinition as YAML.
    Crd,
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

/// `fasterclaw probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The endpoint, such as `http://127.0.0.1:3001/ready` or `http://127.0.0.1:8080/readyz`.
    #[arg(default_value = "http://127.0.0.1:3001/health")]
    pub url: String,
    /// Longest wait for the answer.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// Where logs go and how much of them.
#[derive(Debug, Args)]
pub struct LoggingArgs {
    /// Log filter, as `tracing` directives (`info`, `fasterclaw=debug,kube=warn`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `fasterclaw migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// What to do; `run` when absent.
    #[command(subcommand)]
    pub action: Option<MigrateAction>,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// What `fasterclaw migrate` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum MigrateAction {
    /// Apply every migration not yet applied.
    Run,
    /// List the migrations and whether each is applied.
    Status,
    /// Revert the most recently applied migration.
    Revert,
}

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

/// The keys that seal and open stored secrets.
#[derive(Debug, Args)]
pub struct EncryptionArgs {
    /// The key that seals secrets: 64 hex characters (`openssl rand -hex 32`).
    #[arg(long, env = "ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<SecretString>,

    /// Earlier keys, comma-separated, that still open values during a rotation.
    #[arg(long, env = "ENCRYPTION_KEYS_PREVIOUS", hide_env_values = true)]
    pub encryption_keys_previous: Option<SecretString>,
}

impl EncryptionArgs {
    /// The keyring, or why the keys cannot be used (one line naming the variable).
    pub fn keyring(&self) -> Result<crate::crypto::Keyring, crate::crypto::KeyError> {
        crate::crypto::Keyring::from_config(
            self.encryption_key.as_ref(),
            self.encryption_keys_previous.as_ref(),
        )
    }
}

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

/// Reads `path` (a `.env` file, for local runs) into the environment when it exists: a
/// variable already set wins over the file. Call before anything reads the environment.
pub fn load_dotenv(path: &std::path::Path) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    dotenvy::from_path(path).map_err(|e| match e {
        // Said by line number: the line itself may hold a secret.
        dotenvy::Error::LineParse(line, _) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let first = line.lines().next().unwrap_or_default();
            let number = text
                .lines()
                .position(|l| l == first)
                .map_or_else(|| "a line".to_owned(), |n| format!("line {}", n + 1));
            format!(
                "{}: {number} does not parse (write NAME=value, and close any quote)",
                path.display()
            )
        }
        other => format!("{}: {other}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;

    fn settings(command: &clap::Command, into: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            settings(sub, into);
        }
    }

    /// `.env.example` lists every setting of every subcommand, each under a comment.
    #[test]
    fn the_env_example_lists_every_setting_with_a_comment() {
        let mut expected = BTreeSet::new();
        settings(&super::Cli::command(), &mut expected);
        let example = include_str!("../.env.example");
        let lines: Vec<&str> = example.lines().collect();
        let setting = |line: &str| -> Option<String> {
            let (name, _) = line.trim_start_matches("# ").split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| name.to_owned())
        };
        let mut listed = BTreeSet::new();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = setting(line) else {
                continue;
            };
            let comment = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
            assert!(
                comment.starts_with("# ") && setting(comment).is_none(),
                "{name} in .env.example has no comment above it"
            );
            listed.insert(name);
        }
        assert_eq!(
            listed, expected,
            ".env.example and the command line disagree"
        );
    }
}
