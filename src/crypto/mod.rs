//! Secrets at rest: AES-256-GCM with a fresh random nonce per value, associated data
//! that binds each ciphertext to its row and field, and key ids so keys can rotate.
//!
//! Stored form (bytes): `0xFC 0x01 ‖ key id (4) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
//! `0xFC` never begins UTF-8 text, so a sealed value cannot be mistaken for plaintext;
//! `0x01` is the format version; the key id is derived from the key itself. [`legacy`]
//! opens values in the original TypeScript system's format, for migration only.

mod aad;
mod envelope;
mod key;
pub mod legacy;
mod settings;

pub use aad::AssociatedData;
pub use envelope::{OpenError, SEALED_MARK, StoredForm, classify, sealed_prefix};
pub use key::{EncryptionKey, KeyError, KeyId, Keyring};
pub use settings::EncryptionArgs;
