use aes_gcm::aead::{AeadInOut, Generate};
use aes_gcm::{Nonce, Tag};
use secrecy::SecretString;
use zeroize::Zeroize;

use super::{AssociatedData, KeyId, Keyring, legacy};

/// First byte of every sealed value. It can never begin UTF-8 text, so a sealed value
/// is never mistaken for plaintext or for the original system's text format.
const MAGIC: u8 = 0xFC;
/// The envelope format this code writes.
const VERSION: u8 = 1;
const HEADER_LEN: usize = 2 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a stored value did not open. No variant carries the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not a value this system sealed (plaintext or the original system's format).
    #[error(
        "not a sealed value (plaintext or a legacy format); run `fasterclaw secrets encrypt-legacy`"
    )]
    NotSealed,
    /// The value is damaged: too short, or an envelope version this code does not know.
    #[error("the sealed value is malformed")]
    Malformed,
    /// Sealed under a key that is neither the current nor a previous one.
    #[error(
        "sealed under key {0}, which is neither ENCRYPTION_KEY nor in ENCRYPTION_KEYS_PREVIOUS"
    )]
    UnknownKey(KeyId),
    /// Authentication failed: a wrong key, a tampered value, or a value moved from
    /// another row or field.
    #[error("the sealed value does not authenticate: tampered, or moved from another row or field")]
    Tampered,
}

/// What a stored value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredForm {
    /// Sealed by this system under the key with this id.
    Sealed(KeyId),
    /// Marked as sealed, but too short or of an unknown envelope version.
    Malformed,
    /// The original system's `ivhex:taghex:cthex`, as UTF-8 text.
    Legacy,
    /// Anything else: plaintext.
    Plain,
}

/// Tells what a stored value is, without opening it.
pub fn classify(stored: &[u8]) -> StoredForm {
    match stored {
        [MAGIC, VERSION, a, b, c, d, ..] if stored.len() >= HEADER_LEN + NONCE_LEN + TAG_LEN => {
            StoredForm::Sealed(KeyId::from_bytes([*a, *b, *c, *d]))
        }
        [MAGIC, ..] => StoredForm::Malformed,
        _ if std::str::from_utf8(stored).is_ok_and(legacy::looks_legacy) => StoredForm::Legacy,
        _ => StoredForm::Plain,
    }
}

/// The first bytes of every value sealed under `key`: magic, version and key id.
pub fn sealed_prefix(key: KeyId) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = key.to_bytes();
    [MAGIC, VERSION, a, b, c, d]
}

/// The first bytes of every value this system sealed, whatever the key.
pub const SEALED_MARK: [u8; 2] = [MAGIC, VERSION];

impl Keyring {
    /// Seals a value under the current key with a fresh random nonce, bound to `aad`:
    /// `0xFC 0x01 ‖ key id (4) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
    pub fn seal(&self, plaintext: &str, aad: &AssociatedData<'_>) -> Vec<u8> {
        let body_start = HEADER_LEN + NONCE_LEN;
        let len = body_start + plaintext.len() + TAG_LEN;
        let mut sealed = Vec::with_capacity(len);
        sealed.extend_from_slice(&sealed_prefix(self.current.id()));
        let nonce = Nonce::generate();
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext.as_bytes());
        // Encrypted in place, in a buffer sized exactly: the plaintext copy is overwritten
        // by the ciphertext and never left behind in freed memory.
        let tag = self
            .current
            .cipher
            .encrypt_inout_detached(
                &nonce,
                aad.bytes().as_slice(),
                (&mut sealed[body_start..]).into(),
            )
            // AES-GCM fails only past 64 GiB of plaintext.
            .unwrap_or_else(|_| unreachable!("AES-GCM refused a value shorter than 64 GiB"));
        sealed.extend_from_slice(&tag);
        sealed
    }

    /// Opens a sealed value bound to `aad`, with the current key or a previous one.
    pub fn open(&self, stored: &[u8], aad: &AssociatedData<'_>) -> Result<SecretString, OpenError> {
        let kid = match classify(stored) {
            StoredForm::Sealed(kid) => kid,
            StoredForm::Malformed => return Err(OpenError::Malformed),
            StoredForm::Legacy | StoredForm::Plain => return Err(OpenError::NotSealed),
        };
        let key = self.key(kid).ok_or(OpenError::UnknownKey(kid))?;
        let body_start = HEADER_LEN + NONCE_LEN;
        let tag_start = stored.len() - TAG_LEN;
        let nonce =
            Nonce::try_from(&stored[HEADER_LEN..body_start]).map_err(|_| OpenError::Malformed)?;
        let tag = Tag::try_from(&stored[tag_start..]).map_err(|_| OpenError::Malformed)?;

        let mut plaintext = stored[body_start..tag_start].to_vec();
        if key
            .cipher
            .decrypt_inout_detached(
                &nonce,
                aad.bytes().as_slice(),
                plaintext.as_mut_slice().into(),
                &tag,
            )
            .is_err()
        {
            return Err(OpenError::Tampered);
        }
        match String::from_utf8(plaintext) {
            // The buffer is exactly sized, so it becomes the secret without a copy.
            Ok(text) => Ok(SecretString::from(text)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(OpenError::Malformed)
            }
        }
    }

    /// Whether a stored value should be re-sealed: it is not sealed under the current
    /// key.
    pub fn needs_reseal(&self, stored: &[u8]) -> bool {
        classify(stored) != StoredForm::Sealed(self.current_id())
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use uuid::Uuid;

    use super::*;
    use crate::crypto::EncryptionKey;

    const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn ring(byte: u8) -> Keyring {
        Keyring::new(EncryptionKey::from_bytes(&[byte; 32]))
    }

    fn aad(row_id: Uuid) -> AssociatedData<'static> {
        AssociatedData {
            table: "sealed_secrets",
            row_id,
            field: "telegram_bot_token",
            bound_to: None,
        }
    }

    #[test]
    fn seals_and_opens() {
        let ring = ring(7);
        let row = Uuid::new_v4();
        let sealed = ring.seal(TOKEN, &aad(row));
        assert_eq!(sealed[..6], sealed_prefix(ring.current_id()));
        assert_eq!(sealed.len(), 6 + 12 + TOKEN.len() + 16);
        assert!(!sealed.windows(10).any(|w| w == &TOKEN.as_bytes()[10..20]));
        assert_eq!(
            ring.open(&sealed, &aad(row)).unwrap().expose_secret(),
            TOKEN
        );
        assert_eq!(classify(&sealed), StoredForm::Sealed(ring.current_id()));
        assert!(!ring.needs_reseal(&sealed));
    }

    #[test]
    fn values_of_any_length_round_trip() {
        let ring = ring(7);
        let row = Uuid::new_v4();
        for len in [0, 1, 100, 5000] {
            let value = "é".repeat(len);
            let sealed = ring.seal(&value, &aad(row));
            assert_eq!(
                ring.open(&sealed, &aad(row)).unwrap().expose_secret(),
                value
            );
        }
    }

    #[test]
    fn a_wrong_key_does_not_open() {
        let row = Uuid::new_v4();
        let sealed = ring(7).seal(TOKEN, &aad(row));
        assert!(matches!(
            ring(8).open(&sealed, &aad(row)),
            Err(OpenError::UnknownKey(_))
        ));
        // A different key that claims the same id fails authentication.
        let mut forged = sealed.clone();
        forged[2..6].copy_from_slice(&ring(8).current_id().to_bytes());
        let both = ring(9).with_previous(EncryptionKey::from_bytes(&[8; 32]));
        assert_eq!(
            both.open(&forged, &aad(row)).err(),
            Some(OpenError::Tampered)
        );
    }

    #[test]
    fn tampered_nonce_ciphertext_or_tag_does_not_open() {
        let ring = ring(7);
        let row = Uuid::new_v4();
        let sealed = ring.seal(TOKEN, &aad(row));
        // Nonce, ciphertext, tag.
        for index in [6, 17, 18, 30, sealed.len() - 16, sealed.len() - 1] {
            let mut damaged = sealed.clone();
            damaged[index] ^= 1;
            assert_eq!(
                ring.open(&damaged, &aad(row)).err(),
                Some(OpenError::Tampered),
                "flipping byte {index} went unnoticed"
            );
        }
    }

    #[test]
    fn a_value_moved_to_another_row_or_field_does_not_open() {
        let ring = ring(7);
        let row = Uuid::new_v4();
        let sealed = ring.seal(TOKEN, &aad(row));
        assert_eq!(
            ring.open(&sealed, &aad(Uuid::new_v4())).err(),
            Some(OpenError::Tampered)
        );
        let other_field = AssociatedData {
            field: "stripe_customer_id",
            ..aad(row)
        };
        assert_eq!(
            ring.open(&sealed, &other_field).err(),
            Some(OpenError::Tampered)
        );
        let bound = AssociatedData {
            bound_to: Some(Uuid::new_v4()),
            ..aad(row)
        };
        let sealed_bound = ring.seal(TOKEN, &bound);
        assert_eq!(
            ring.open(&sealed_bound, &aad(row)).err(),
            Some(OpenError::Tampered),
            "a value bound to its owner does not open for no owner"
        );
        let other_owner = AssociatedData {
            bound_to: Some(Uuid::new_v4()),
            ..bound
        };
        assert_eq!(
            ring.open(&sealed_bound, &other_owner).err(),
            Some(OpenError::Tampered),
            "nor for another owner"
        );
    }

    #[test]
    fn malformed_and_unsealed_values_are_told_apart() {
        let ring = ring(7);
        let row = Uuid::new_v4();
        assert_eq!(
            ring.open(TOKEN.as_bytes(), &aad(row)).err(),
            Some(OpenError::NotSealed)
        );
        assert_eq!(
            ring.open(&[MAGIC, VERSION, 1, 2], &aad(row)).err(),
            Some(OpenError::Malformed)
        );
        let mut future = ring.seal(TOKEN, &aad(row));
        future[1] = 2;
        assert_eq!(
            ring.open(&future, &aad(row)).err(),
            Some(OpenError::Malformed)
        );
        assert_eq!(classify(TOKEN.as_bytes()), StoredForm::Plain);
        assert_eq!(classify(&[0xFF, 0xFE]), StoredForm::Plain);
        let legacy = format!("{}:{}:{}", "a".repeat(32), "b".repeat(32), "cd");
        assert_eq!(classify(legacy.as_bytes()), StoredForm::Legacy);
    }

    #[test]
    fn previous_keys_open_and_flag_the_value_for_resealing() {
        let old = ring(7);
        let row = Uuid::new_v4();
        let sealed = old.seal(TOKEN, &aad(row));
        let rotated = ring(8).with_previous(EncryptionKey::from_bytes(&[7; 32]));
        assert_eq!(
            rotated.open(&sealed, &aad(row)).unwrap().expose_secret(),
            TOKEN
        );
        assert!(rotated.needs_reseal(&sealed));
        assert!(rotated.needs_reseal(TOKEN.as_bytes()));
    }

    #[test]
    fn nonces_never_repeat_over_100_000_seals() {
        let ring = ring(7);
        let row = Uuid::new_v4();
        let mut seen = std::collections::HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let sealed = ring.seal(TOKEN, &aad(row));
            let nonce: [u8; NONCE_LEN] = sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN]
                .try_into()
                .unwrap();
            assert!(seen.insert(nonce), "a nonce repeated");
        }
    }
}
