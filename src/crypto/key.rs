use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why an encryption key from the environment was refused. Each message is one line
/// that says how to make a good key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key was given.
    #[error("{var} is not set; generate a key with `openssl rand -hex 32`")]
    Missing {
        /// The variable that should hold it.
        var: &'static str,
    },
    /// The key is not 64 characters.
    #[error(
        "{var} must be 64 hexadecimal characters (32 bytes), not {len}; generate a key with `openssl rand -hex 32`"
    )]
    WrongLength {
        /// The variable that holds it.
        var: &'static str,
        /// How many characters it has.
        len: usize,
    },
    /// The key has characters that are not hexadecimal.
    #[error("{var} is not hexadecimal; generate a key with `openssl rand -hex 32`")]
    NotHex {
        /// The variable that holds it.
        var: &'static str,
    },
    /// The key is all zeros, which is never a real key.
    #[error("{var} is all zeros; generate a key with `openssl rand -hex 32`")]
    AllZeros {
        /// The variable that holds it.
        var: &'static str,
    },
}

/// The identity of a key: the first 4 bytes of a SHA-256 over a label and the key,
/// written as 8 hex characters. It names the key in stored values without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// A key id from its 4 bytes.
    pub fn from_bytes(bytes: [u8; 4]) -> Self {
        Self(bytes)
    }

    /// The id's 4 bytes, as sealed values carry them.
    pub fn to_bytes(self) -> [u8; 4] {
        self.0
    }

    /// Reads a key id from its 8 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 4];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// Writes the id as 8 lowercase hex characters.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One AES-256 key, ready to use. The key material lives only in the cipher's key
/// schedule, which is zeroized on drop; `Debug` shows the key id alone.
#[derive(Clone)]
pub struct EncryptionKey {
    id: KeyId,
    pub(super) cipher: Aes256Gcm,
    /// A subkey for deriving per-Instance values (never the AES key itself).
    derivation: Zeroizing<[u8; 32]>,
}

impl EncryptionKey {
    /// Builds a key from 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"fasterclaw key id v1\0")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        let mut derivation = Zeroizing::new([0u8; 32]);
        derivation.copy_from_slice(
            &Sha256::new()
                .chain_update(b"fasterclaw derivation key v1\0")
                .chain_update(bytes)
                .finalize(),
        );
        Self {
            id: KeyId(id),
            cipher: Aes256Gcm::new(bytes.into()),
            derivation,
        }
    }

    /// A value derived from this key for `purpose` and `subject`: HMAC-SHA256 under a
    /// subkey of this key, hex. The same inputs give the same value; nothing of the key
    /// can be learned from it.
    pub fn derive(&self, purpose: &str, subject: &str) -> SecretString {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.derivation.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in [purpose.as_bytes(), subject.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        SecretString::from(hex::encode(mac.finalize().into_bytes()))
    }

    /// Parses a key from 64 hex characters, as `openssl rand -hex 32` prints it.
    /// `var` names the variable it came from, for the error message.
    pub fn from_hex(text: &str, var: &'static str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Missing { var });
        }
        if text.len() != 64 {
            return Err(KeyError::WrongLength {
                var,
                len: text.chars().count(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, bytes.as_mut()).map_err(|_| KeyError::NotHex { var })?;
        if bytes.iter().all(|b| *b == 0) {
            return Err(KeyError::AllZeros { var });
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.id)
    }
}

/// The key that seals new values, and the previous keys that still open old ones
/// during a rotation.
#[derive(Clone, Debug)]
pub struct Keyring {
    pub(super) current: EncryptionKey,
    pub(super) previous: Vec<EncryptionKey>,
}

impl Keyring {
    /// The variable holding the current key.
    pub const CURRENT_VAR: &'static str = "ENCRYPTION_KEY";
    /// The variable holding previous keys, comma-separated.
    pub const PREVIOUS_VAR: &'static str = "ENCRYPTION_KEYS_PREVIOUS";

    /// A keyring with one key and no previous ones.
    pub fn new(current: EncryptionKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Builds the keyring from `ENCRYPTION_KEY` and, optionally,
    /// `ENCRYPTION_KEYS_PREVIOUS` (comma-separated, used only to open old values).
    pub fn from_config(
        current: Option<&SecretString>,
        previous: Option<&SecretString>,
    ) -> Result<Self, KeyError> {
        let current = current.ok_or(KeyError::Missing {
            var: Self::CURRENT_VAR,
        })?;
        let current = EncryptionKey::from_hex(current.expose_secret(), Self::CURRENT_VAR)?;
        let mut ring = Self::new(current);
        if let Some(previous) = previous {
            for text in previous
                .expose_secret()
                .split(',')
                .filter(|t| !t.trim().is_empty())
            {
                ring = ring.with_previous(EncryptionKey::from_hex(text, Self::PREVIOUS_VAR)?);
            }
        }
        Ok(ring)
    }

    /// Adds a key that opens old values but never seals new ones.
    pub fn with_previous(mut self, key: EncryptionKey) -> Self {
        let known =
            self.current.id() == key.id() || self.previous.iter().any(|k| k.id() == key.id());
        if !known {
            self.previous.push(key);
        }
        self
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> KeyId {
        self.current.id()
    }

    /// The key that derives values: the one with id `preferred` while it is in the
    /// ring, so derived values stay put through a rotation until that key is retired,
    /// else the current key.
    pub fn deriving_key(&self, preferred: Option<KeyId>) -> &EncryptionKey {
        preferred
            .and_then(|id| self.key(id))
            .unwrap_or(&self.current)
    }

    /// The key with this id, current or previous.
    pub(super) fn key(&self, id: KeyId) -> Option<&EncryptionKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "2cedfe85788afd56c729646ca017e64e57f97c344971ffa79110c84c2f8c5c6c";

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn accepts_64_hex_characters() {
        let ring = Keyring::from_config(Some(&secret(KEY)), None).unwrap();
        assert_eq!(ring.current_id().to_hex().len(), 8);
        let upper = Keyring::from_config(Some(&secret(&KEY.to_uppercase())), None).unwrap();
        assert_eq!(upper.current_id(), ring.current_id());
    }

    #[test]
    fn refuses_bad_keys_with_one_line_that_says_how_to_make_one() {
        let cases = [
            (None, "ENCRYPTION_KEY is not set"),
            (Some(""), "ENCRYPTION_KEY is not set"),
            (Some(&KEY[..63]), "not 63"),
            (Some("zz".repeat(32).leak() as &str), "not hexadecimal"),
            (Some("00".repeat(32).leak() as &str), "all zeros"),
        ];
        for (value, expected) in cases {
            let value = value.map(secret);
            let err = Keyring::from_config(value.as_ref(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
            assert!(err.contains("openssl rand -hex 32"), "{err}");
            assert_eq!(err.lines().count(), 1);
        }
    }

    #[test]
    fn previous_keys_are_validated_and_deduplicated() {
        let other = "1f".repeat(32);
        let ring = Keyring::from_config(
            Some(&secret(KEY)),
            Some(&secret(&format!("{other}, {KEY},{other},"))),
        )
        .unwrap();
        assert_eq!(ring.previous.len(), 1);
        let err = Keyring::from_config(Some(&secret(KEY)), Some(&secret("abc"))).unwrap_err();
        assert!(
            err.to_string().starts_with("ENCRYPTION_KEYS_PREVIOUS"),
            "{err}"
        );
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let ring = Keyring::from_config(Some(&secret(KEY)), None).unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains(&KEY[..16]), "{shown}");
        assert!(shown.contains(&ring.current_id().to_hex()), "{shown}");
    }
}
