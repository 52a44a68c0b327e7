//! The process's one TLS crypto provider.
//!
//! kube, sqlx and reqwest all use rustls; each is built with the `ring` provider only,
//! and this installs it as the process default so no library has to guess.

/// Installs `ring` as the process-wide rustls provider. Calling it again, or after
/// another provider was installed, changes nothing.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
