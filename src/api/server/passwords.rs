//! Passwords: argon2id for new ones; bcrypt hashes the original stored (`$2a$`, `$2b$`,
//! `$2y$`) still verify, and are replaced with argon2id at the next sign-in.
//!
//! Hashing is costly by design (argon2id works through 19 MiB for tens of
//! milliseconds), so it runs on `PASSWORD_HASH_CONCURRENCY` threads of its own, off the
//! async threads, each working in one block of memory it keeps from hash to hash. At
//! most that many hashes run at once, and their memory is that many times 19 MiB
//! whatever arrives (allocating the memory for each hash instead leaves the allocator
//! holding a little more after every one). A request that cannot get a turn within
//! [`QUEUE_WAIT`] is told the service is busy.

use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OnceCell, Semaphore, oneshot};

/// How long a request waits for a turn to hash before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The most memory a stored argon2 hash may ask for, in KiB: four times what this
/// facade's own hashes use. A hash asking for more is not one of ours, and verifying
/// it could take the memory the bound is for.
const MOST_MEMORY_KIB: u32 = 4 * Params::DEFAULT_M_COST;

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

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing turn stayed taken for [`QUEUE_WAIT`].
    #[error("every password hashing turn is taken")]
    Busy,
    /// Hashing itself failed.
    #[error("cannot hash a password: {0}")]
    Failed(String),
}

/// Work for a hashing thread, given the thread's memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The facade's password hashing, at most so many at once.
#[derive(Debug)]
pub struct Passwords {
    /// One turn per hashing thread: a job is sent only with a turn, so it never queues.
    turns: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    /// How long a request waits for a turn.
    wait: Duration,
    /// A hash of a random password, verified against when there is no real one, so an
    /// unknown email or an account without a password costs what a real check costs.
    stand_in: OnceCell<String>,
}

impl Passwords {
    /// Hashing on `concurrency` threads of its own (at least one).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..concurrency {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            Ok(job) => job(&mut memory),
                            // The facade is gone.
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            turns: Arc::new(Semaphore::new(concurrency)),
            jobs,
            wait: QUEUE_WAIT,
            stand_in: OnceCell::new(),
        }
    }

    /// Runs `work` on a hashing thread, with its memory, once a turn is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let turn = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _turn = turn;
            let _ = answer.send(work(memory));
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("the hashing threads are gone".to_owned()))?;
        answered
            .await
            .map_err(|_| HashError::Failed("a hashing thread failed".to_owned()))
    }

    /// Hashes a new password with argon2id.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |memory| hash_now(memory, password.as_bytes()))
            .await?
    }

    /// Checks a password against a stored hash. Without one (an unknown account, or one
    /// that signs in with Google only) the same work is done against a stand-in, and
    /// the answer is [`Verified::No`].
    pub async fn verify(
        &self,
        stored: Option<String>,
        password: String,
    ) -> Result<Verified, HashError> {
        match stored.filter(|h| !h.is_empty()) {
            Some(stored) => {
                self.run(move |memory| verify_now(memory, &stored, &password))
                    .await
            }
            None => {
                let stand_in = self
                    .stand_in
                    .get_or_try_init(|| self.hash(uuid::Uuid::new_v4().to_string()))
                    .await?
                    .clone();
                self.run(move |memory| verify_now(memory, &stand_in, &password))
                    .await?;
                Ok(Verified::No)
            }
        }
    }
}

/// argon2 with `params` into `memory` (grown to fit once, then reused): the output of
/// `output_len` bytes.
fn argon2_into(
    memory: &mut Vec<Block>,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    output_len: usize,
) -> Result<Output, String> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| e.to_string())
}

/// A new argon2id hash of `password`, in the PHC string form.
fn hash_now(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let params = Params::default();
    let output = argon2_into(
        memory,
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        salt_bytes,
        Params::DEFAULT_OUTPUT_LEN,
    )
    .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

fn verify_now(memory: &mut Vec<Block>, stored: &str, password: &str) -> Verified {
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash,
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Verified::No;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm);
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let params = Params::try_from(&parsed);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return Verified::No;
    };
    if params.m_cost() > MOST_MEMORY_KIB {
        tracing::warn!(
            memory_kib = params.m_cost(),
            "a stored password hash asks for more memory than any this facade makes; refused"
        );
        return Verified::No;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return Verified::No;
    };
    match argon2_into(
        memory,
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt_bytes,
        expected.len(),
    ) {
        // `Output` compares in constant time.
        Ok(computed) if computed == expected => Verified::Yes,
        _ => Verified::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trips_and_agrees_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let passwords = Passwords::new(2);
        let stored = passwords.hash("correct horse".to_owned()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        // The crate's own verifier accepts ours, and ours accepts the crate's.
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(
            passwords
                .verify(Some(theirs), "battery staple".to_owned())
                .await
                .unwrap(),
            Verified::Yes
        );
        // A hash asking for more memory than the facade's own is not checked.
        let greedy = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MOST_MEMORY_KIB + 8, 1, 1, None).unwrap(),
        )
        .hash_password(b"x", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert_eq!(
            passwords
                .verify(Some(greedy), "x".to_owned())
                .await
                .unwrap(),
            Verified::No
        );
        let verify =
            |stored: Option<String>, password: &str| passwords.verify(stored, password.to_owned());
        assert_eq!(
            verify(Some(stored.clone()), "correct horse").await.unwrap(),
            Verified::Yes
        );
        assert_eq!(verify(Some(stored), "wrong").await.unwrap(), Verified::No);
        assert_eq!(verify(None, "x").await.unwrap(), Verified::No);
        assert_eq!(verify(Some(String::new()), "").await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn the_originals_bcrypt_hashes_verify_and_ask_for_a_rehash() {
        // A cost-10 hash in the `$2a$` form the original's bcryptjs writes.
        let stored = bcrypt::hash_with_result("password123", 10)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA);
        assert!(stored.starts_with("$2a$10$"));
        let passwords = Passwords::new(1);
        assert_eq!(
            passwords
                .verify(Some(stored.clone()), "password123".to_owned())
                .await
                .unwrap(),
            Verified::YesRehash
        );
        assert_eq!(
            passwords
                .verify(Some(stored), "password124".to_owned())
                .await
                .unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn a_request_that_finds_every_turn_taken_is_told_so() {
        let passwords = Passwords {
            wait: Duration::from_millis(20),
            ..Passwords::new(1)
        };
        let held = passwords.turns.clone().acquire_owned().await.unwrap();
        let refused = passwords.hash("a password".to_owned()).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        drop(held);
        assert!(passwords.hash("a password".to_owned()).await.is_ok());
    }
}
