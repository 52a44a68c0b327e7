//! The keys that seal and open stored secrets, as every command that needs them reads
//! them.

use clap::Args;
use secrecy::SecretString;

use super::{KeyError, Keyring};

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
    pub fn keyring(&self) -> Result<Keyring, KeyError> {
        Keyring::from_config(
            self.encryption_key.as_ref(),
            self.encryption_keys_previous.as_ref(),
        )
    }
}
