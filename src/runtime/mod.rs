//! What every machine runs: the pinned OpenClaw gateway (and the other versions a fleet
//! release may run side by side), the part of its `openclaw.json` the control plane
//! owns, how the machine is started, checked and stopped, the models on offer, and the
//! pairing codes owners approve.
//!
//! Nothing here talks to Fly.io or Kubernetes: the controller turns it into machine
//! configs, the facade into requests, the tests into assertions.

pub mod channels;
pub mod config;
pub mod machine;
pub mod models;
pub mod pairing;
pub mod versions;

pub use config::{DmPolicy, Endpoints, OwnedConfig};
pub use pairing::{PairingCode, PairingRequest};
pub use versions::{ConfigDialect, SupportedVersion, Version, supported_versions};

/// The OpenClaw version the product runs and its tests install (`openclaw.version`).
pub const OPENCLAW_VERSION: &str = include_str!("openclaw.version").trim_ascii();

/// Where OpenClaw's images are published.
pub const IMAGE_REPOSITORY: &str = "ghcr.io/openclaw/openclaw";

/// The image a machine runs when neither the Instance nor the controller's settings
/// name one: the pinned version, never a moving tag.
pub fn default_image() -> String {
    format!("{IMAGE_REPOSITORY}:{OPENCLAW_VERSION}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_image_is_the_pinned_version() {
        assert!(!OPENCLAW_VERSION.is_empty());
        assert!(
            OPENCLAW_VERSION
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
        );
        assert_eq!(
            default_image(),
            format!("ghcr.io/openclaw/openclaw:{OPENCLAW_VERSION}")
        );
    }
}
