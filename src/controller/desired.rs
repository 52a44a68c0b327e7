//! What an Instance asks of Fly.io: its machine's configuration (never a secret in it)
//! and its app's secrets, with a digest that tells whether they changed without
//! reading them back.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::naming;
use super::settings::{MachineDefaults, PlatformKeys};
use crate::crd::Instance;
use crate::domain::AiProvider;
use crate::fly::{CREATE_REQUEST_TAG, Guest, MachineConfig, RestartPolicy};

/// The app secret holding the Telegram bot token.
pub const TELEGRAM_TOKEN_SECRET: &str = "TELEGRAM_BOT_TOKEN";

/// The app secrets an Instance needs, and their digest.
pub struct DesiredSecrets {
    /// Name → value.
    pub values: BTreeMap<String, SecretString>,
    /// Secrets to remove: the keys of the providers the Instance does not use.
    pub stale: Vec<&'static str>,
    /// SHA-256 over the names and values, hex: what `status.secretsDigest` records
    /// once they are written. It reveals nothing of values as random as tokens and keys.
    pub digest: String,
}

impl std::fmt::Debug for DesiredSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredSecrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("digest", &self.digest)
            .finish()
    }
}

/// The secrets of an Instance: its Telegram token, its provider's platform key, and
/// the marker naming its uid.
pub fn secrets(
    uid: &str,
    token: SecretString,
    provider: AiProvider,
    platform_key: SecretString,
) -> DesiredSecrets {
    let mut values = BTreeMap::new();
    values.insert(TELEGRAM_TOKEN_SECRET.to_owned(), token);
    values.insert(PlatformKeys::variable(provider).to_owned(), platform_key);
    values.insert(
        naming::marker_secret(uid),
        SecretString::from(uid.to_owned()),
    );
    let stale = [
        AiProvider::Openai,
        AiProvider::Anthropic,
        AiProvider::Google,
    ]
    .into_iter()
    .filter(|p| *p != provider)
    .map(PlatformKeys::variable)
    .collect();
    let mut hasher = Sha256::new();
    for (name, value) in &values {
        // Length-prefixed, so no two different sets hash alike.
        for part in [name.as_bytes(), value.expose_secret().as_bytes()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
    }
    let digest = hex::encode(&hasher.finalize()[..16]);
    DesiredSecrets {
        values,
        stale,
        digest,
    }
}

/// The machine configuration an Instance asks for: image, model and provider in env
/// (never a secret), size, restart policy and the tags that link it to the Instance.
pub fn machine_config(instance: &Instance, defaults: &MachineDefaults) -> MachineConfig {
    let spec = &instance.spec;
    MachineConfig {
        image: spec.image.clone().unwrap_or_else(|| defaults.image.clone()),
        env: BTreeMap::from([
            ("AI_MODEL".to_owned(), spec.ai_model.as_str().to_owned()),
            (
                "AI_PROVIDER".to_owned(),
                spec.effective_provider().as_str().to_owned(),
            ),
        ]),
        guest: Some(Guest {
            cpu_kind: defaults.cpu_kind.clone(),
            cpus: defaults.cpus,
            memory_mb: defaults.memory_mb,
        }),
        services: Vec::new(),
        metadata: naming::machine_tags(instance),
        restart: Some(RestartPolicy {
            policy: "always".to_owned(),
            max_retries: None,
        }),
        auto_destroy: false,
        other: BTreeMap::new(),
    }
}

/// Whether a machine's configuration is what the Instance asks for: the fields the
/// controller sets are equal (env exactly, so nothing else hides in it), its tags are
/// there; whatever Fly.io added is left alone.
pub fn config_matches(observed: &MachineConfig, desired: &MachineConfig) -> bool {
    observed.image == desired.image
        && observed.env == desired.env
        && observed.guest == desired.guest
        && observed.restart.as_ref().map(|r| &r.policy)
            == desired.restart.as_ref().map(|r| &r.policy)
        && desired
            .metadata
            .iter()
            .all(|(k, v)| observed.metadata.get(k) == Some(v))
}

/// The configuration to send in an update: the observed one with the controller's
/// fields replaced, so fields Fly.io added survive (Fly has no partial updates).
pub fn updated_config(observed: &MachineConfig, desired: &MachineConfig) -> MachineConfig {
    let mut config = observed.clone();
    config.image = desired.image.clone();
    config.env = desired.env.clone();
    config.guest = desired.guest.clone();
    config.restart = desired.restart.clone();
    config.metadata.remove(CREATE_REQUEST_TAG);
    config
        .metadata
        .extend(desired.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn secrets_carry_the_token_the_provider_key_and_the_marker() {
        let uid = "6f1c2a34-5b6d-4e7f-8091-a2b3c4d5e6f7";
        let token = "123456789:AAH-abcdefghijklmnopqrstuvwxyz012345";
        let set = secrets(uid, key(token), AiProvider::Anthropic, key("sk-ant-1"));
        let names: Vec<&str> = set.values.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ANTHROPIC_API_KEY",
                "FASTERCLAW_INSTANCE_6F1C2A345B6D4E7F8091A2B3C4D5E6F7",
                "TELEGRAM_BOT_TOKEN"
            ]
        );
        assert_eq!(set.stale, ["OPENAI_API_KEY", "GOOGLE_API_KEY"]);
        assert!(!set.digest.contains(token) && set.digest.len() == 32);
        assert!(!format!("{set:?}").contains("sk-ant-1"));
        let same = secrets(uid, key(token), AiProvider::Anthropic, key("sk-ant-1"));
        assert_eq!(set.digest, same.digest);
        let rotated = secrets(uid, key(token), AiProvider::Anthropic, key("sk-ant-2"));
        assert_ne!(set.digest, rotated.digest);
    }
}
