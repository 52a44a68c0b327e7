//! The original TypeScript system's encrypted format, opened for migration only.
//!
//! It stored `ivhex:taghex:cthex`: AES-256-GCM with a 16-byte IV, a 16-byte tag and no
//! associated data, under a key derived as scrypt(N=16384, r=8, p=1) over the UTF-8
//! bytes of its `ENCRYPTION_KEY` string with the salt `fasterclaw-salt`.

use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::consts::U16;
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit, Nonce, Tag};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// AES-256-GCM with the original system's 16-byte IV.
type LegacyCipher = AesGcm<Aes256, U16>;

const SALT: &[u8] = b"fasterclaw-salt";
const LOG_N: u8 = 14;
const R: u32 = 8;
const P: u32 = 1;

/// Why a legacy value did not open.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// The text is not `ivhex:taghex:cthex`.
    #[error("not in the original system's encrypted format")]
    NotLegacy,
    /// Wrong key or damaged value.
    #[error("does not open with LEGACY_ENCRYPTION_KEY (wrong key or damaged value)")]
    DoesNotOpen,
}

/// The original system's key, derived from its `ENCRYPTION_KEY` string. `Debug`
/// prints nothing of it.
#[derive(Clone)]
pub struct LegacyKey(LegacyCipher);

impl std::fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacyKey([REDACTED])")
    }
}

impl LegacyKey {
    /// Derives the key exactly as the original did: scrypt over the string's UTF-8 bytes.
    pub fn derive(old_encryption_key: &SecretString) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        // These parameters and a 32-byte output are valid by construction.
        let params = scrypt::Params::new(LOG_N, R, P)
            .unwrap_or_else(|_| unreachable!("scrypt parameters N=2^14, r=8, p=1 are valid"));
        scrypt::scrypt(
            old_encryption_key.expose_secret().as_bytes(),
            SALT,
            &params,
            key.as_mut(),
        )
        .unwrap_or_else(|_| unreachable!("a 32-byte scrypt output is valid"));
        let key: &[u8; 32] = &key;
        Self(LegacyCipher::new(key.into()))
    }

    /// Opens a value in the original format.
    pub fn open(&self, stored: &str) -> Result<SecretString, LegacyError> {
        let (iv, tag, ciphertext) = split(stored).ok_or(LegacyError::NotLegacy)?;
        let nonce = Nonce::<U16>::try_from(iv.as_slice()).map_err(|_| LegacyError::NotLegacy)?;
        let tag = Tag::try_from(tag.as_slice()).map_err(|_| LegacyError::NotLegacy)?;
        let mut buffer = ciphertext;
        self.0
            .decrypt_inout_detached(&nonce, b"", buffer.as_mut_slice().into(), &tag)
            .map_err(|_| LegacyError::DoesNotOpen)?;
        String::from_utf8(buffer)
            .map(SecretString::from)
            .map_err(|_| LegacyError::DoesNotOpen)
    }
}

/// Whether a stored text has the original's shape: 32 hex, 32 hex, then an even
/// number of hex digits, separated by colons.
pub fn looks_legacy(stored: &str) -> bool {
    split(stored).is_some()
}

fn split(stored: &str) -> Option<([u8; 16], [u8; 16], Vec<u8>)> {
    let mut parts = stored.split(':');
    let (iv, tag, ct) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || iv.len() != 32 || tag.len() != 32 || ct.is_empty() {
        return None;
    }
    let mut iv_bytes = [0u8; 16];
    let mut tag_bytes = [0u8; 16];
    hex::decode_to_slice(iv, &mut iv_bytes).ok()?;
    hex::decode_to_slice(tag, &mut tag_bytes).ok()?;
    let ct_bytes = hex::decode(ct).ok()?;
    Some((iv_bytes, tag_bytes, ct_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values the original system wrote, produced with Node.js `crypto` as it did.
    const VECTORS: &str = include_str!("../../tests/fixtures/legacy-vectors.json");

    fn vectors() -> (SecretString, Vec<(String, String)>) {
        let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let key = SecretString::from(doc["key"].as_str().unwrap().to_owned());
        let pairs = doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["stored"].as_str().unwrap().to_owned(),
                    v["plaintext"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (key, pairs)
    }

    #[test]
    fn opens_what_the_original_system_wrote() {
        let (old_key, vectors) = vectors();
        let key = LegacyKey::derive(&old_key);
        assert_eq!(vectors.len(), 3);
        for (stored, plaintext) in vectors {
            assert!(looks_legacy(&stored));
            assert_eq!(key.open(&stored).unwrap().expose_secret(), plaintext);
        }
    }

    #[test]
    fn a_wrong_key_or_damage_does_not_open() {
        let (old_key, vectors) = vectors();
        let wrong = LegacyKey::derive(&SecretString::from("another key".to_owned()));
        assert_eq!(
            wrong.open(&vectors[0].0).unwrap_err(),
            LegacyError::DoesNotOpen
        );
        let key = LegacyKey::derive(&old_key);
        let damaged = vectors[0].0.replacen("93", "94", 1);
        assert_eq!(key.open(&damaged).unwrap_err(), LegacyError::DoesNotOpen);
    }

    #[test]
    fn recognises_only_the_original_shape() {
        for text in [
            "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "cus_123",
            "fc1:abcd0123:xyz",
            "00:11:22",
            &format!("{}:{}:", "a".repeat(32), "b".repeat(32)),
            &format!("{}:{}:abc", "a".repeat(32), "b".repeat(32)),
        ] {
            assert!(!looks_legacy(text), "{text} taken for legacy");
        }
    }
}
