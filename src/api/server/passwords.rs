//! Passwords: argon2id for new ones; bcrypt hashes the original stored (`$2a$`, `$2b$`,
//! `$2y$`) still verify, and are replaced with argon2id at the next sign-in. Hashing
//! runs off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};

/// What checking a password found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, or no usable hash.
    No,
    /// Right, and the hash is current.
    Yes,
    /// Right, but the hash is the original's bcrypt: store a new one.
    YesRehash,
}

/// Hashes a new password with argon2id.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| format!("cannot hash a password: {e}"))
    })
    .await
    .map_err(|e| format!("the hashing task failed: {e}"))?
}

/// Checks a password against a stored hash.
pub async fn verify(stored: Option<String>, password: String) -> Verified {
    let Some(stored) = stored.filter(|h| !h.is_empty()) else {
        return Verified::No;
    };
    tokio::task::spawn_blocking(move || verify_now(&stored, &password))
        .await
        .unwrap_or(Verified::No)
}

/// Spends the time of a verification, for a sign-in with an unknown email.
pub async fn verify_nothing(password: String) {
    static STAND_IN: tokio::sync::OnceCell<Option<String>> = tokio::sync::OnceCell::const_new();
    let stand_in = STAND_IN
        .get_or_init(|| async { hash(uuid::Uuid::new_v4().to_string()).await.ok() })
        .await
        .clone();
    let _ = verify(stand_in, password).await;
}

fn verify_now(stored: &str, password: &str) -> Verified {
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash,
            _ => Verified::No,
        };
    }
    match PasswordHash::new(stored) {
        Ok(parsed)
            if Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok() =>
        {
            Verified::Yes
        }
        _ => Verified::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trips() {
        let stored = hash("correct horse".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(
            verify(Some(stored.clone()), "correct horse".to_owned()).await,
            Verified::Yes
        );
        assert_eq!(verify(Some(stored), "wrong".to_owned()).await, Verified::No);
        assert_eq!(verify(None, "x".to_owned()).await, Verified::No);
        assert_eq!(
            verify(Some(String::new()), String::new()).await,
            Verified::No
        );
    }

    #[tokio::test]
    async fn the_originals_bcrypt_hashes_verify_and_ask_for_a_rehash() {
        // A cost-10 hash in the `$2a$` form the original's bcryptjs writes.
        let stored = bcrypt::hash_with_result("password123", 10)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA);
        assert!(stored.starts_with("$2a$10$"));
        assert_eq!(
            verify(Some(stored.clone()), "password123".to_owned()).await,
            Verified::YesRehash
        );
        assert_eq!(
            verify(Some(stored), "password124".to_owned()).await,
            Verified::No
        );
    }
}
