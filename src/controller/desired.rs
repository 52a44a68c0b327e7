//! What an Instance asks of Fly.io: its machine's configuration (never a secret in it)
//! and its app's secrets, with a digest that tells whether they changed without
//! reading them back.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::naming;
use super::settings::MachineDefaults;
use crate::crd::{FleetReleaseSpec, Instance, annotation};
use crate::crypto::EncryptionKey;
use crate::domain::AiProvider;
use crate::fly::{
    CREATE_REQUEST_TAG, Guest, MachineConfig, MachineFile, MachineInit, RestartPolicy,
};
use crate::runtime::{OwnedConfig, machine, versions};

/// The app secret holding the Telegram bot token.
pub const TELEGRAM_TOKEN_SECRET: &str = "TELEGRAM_BOT_TOKEN";

/// The app secrets an Instance needs, and their digest.
pub struct DesiredSecrets {
    /// Name → value.
    pub values: BTreeMap<String, SecretString>,
    /// Secrets to remove: the keys of the providers the Instance does not use, and
    /// names earlier versions wrote.
    pub stale: Vec<&'static str>,
    /// SHA-256 over the names and values, hex: what `status.secretsDigest` records
    /// once they are written. It reveals nothing of values as random as tokens and keys.
    pub digest: String,
    /// Id of the key the gateway token was derived with.
    pub gateway_token_key: String,
}

impl std::fmt::Debug for DesiredSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredSecrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("digest", &self.digest)
            .finish()
    }
}

/// What goes into an Instance's app secrets.
pub struct SecretInputs<'a> {
    /// The Instance's uid.
    pub uid: &'a str,
    /// Its Telegram bot token.
    pub telegram_token: SecretString,
    /// Its model's provider.
    pub provider: AiProvider,
    /// The platform's key for that provider.
    pub platform_key: SecretString,
    /// The key that derives its gateway token.
    pub deriving_key: &'a EncryptionKey,
}

/// The secrets of an Instance: its Telegram token, its provider's platform key under the
/// name OpenClaw reads, its gateway token, and the marker naming its uid.
pub fn secrets(inputs: SecretInputs<'_>) -> DesiredSecrets {
    let SecretInputs {
        uid,
        telegram_token,
        provider,
        platform_key,
        deriving_key,
    } = inputs;
    let mut values = BTreeMap::new();
    values.insert(TELEGRAM_TOKEN_SECRET.to_owned(), telegram_token);
    values.insert(
        machine::provider_key_secret(provider).to_owned(),
        platform_key,
    );
    values.insert(
        machine::GATEWAY_TOKEN_SECRET.to_owned(),
        gateway_token(deriving_key, uid),
    );
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
    .map(machine::provider_key_secret)
    .chain(machine::RETIRED_SECRETS.iter().copied())
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
        gateway_token_key: deriving_key.id().to_hex(),
    }
}

/// An Instance's gateway token: derived from the controller's encryption key and the
/// Instance's uid, so no two Instances share one, nothing needs storing, and whoever
/// holds one learns nothing of another.
pub fn gateway_token(key: &EncryptionKey, uid: &str) -> SecretString {
    key.derive("openclaw gateway token v1", uid)
}

/// The machine configuration an Instance asks for: the pinned OpenClaw image (or the
/// Instance's), the owned part of `openclaw.json` as a file (written for the image's
/// OpenClaw version, [`versions::dialect_for_image`]), the start command that
/// merges it, the health check, size, restart policy and the tags that link it to the
/// Instance, and the volume holding OpenClaw's state when there is one. Never a secret.
pub fn machine_config(
    instance: &Instance,
    defaults: &MachineDefaults,
    image: &str,
    volume: Option<&str>,
) -> MachineConfig {
    let spec = &instance.spec;
    let owned = OwnedConfig {
        model: &spec.ai_model,
        provider: spec.effective_provider(),
        telegram_user_ids: &spec.telegram_user_ids,
        endpoints: &defaults.endpoints,
    };
    // The Instance's own size (its owner's plan), else the controller's.
    let guest = match &spec.machine {
        Some(size) => Guest {
            cpu_kind: size.cpu_kind.as_str().to_owned(),
            cpus: size.cpus,
            memory_mb: size.memory_mb,
        },
        None => Guest {
            cpu_kind: defaults.cpu_kind.clone(),
            cpus: defaults.cpus,
            memory_mb: defaults.memory_mb,
        },
    };
    let file = owned.to_file_for(versions::dialect_for_image(image));
    MachineConfig {
        image: image.to_owned(),
        env: machine::env(guest.memory_mb),
        guest: Some(guest),
        services: Vec::new(),
        metadata: naming::machine_tags(instance),
        restart: Some(RestartPolicy {
            policy: "on-failure".to_owned(),
            max_retries: Some(machine::RESTART_RETRIES),
        }),
        auto_destroy: false,
        files: vec![machine::config_file(&file)],
        init: Some(machine::init()),
        checks: machine::checks(),
        stop_config: Some(machine::stop_config()),
        mounts: volume.map(machine::mount).into_iter().collect(),
        other: BTreeMap::new(),
    }
}

/// The image an Instance runs: `spec.image` pins it; else the image the fleet release
/// gave it (`fasterclaw.io/release-image`); else, under a release, the image its machine
/// runs (a change waits for the release's turn) or the release's stable image for a
/// new machine; with no release, the controller's `OPENCLAW_IMAGE`.
pub fn image<'a>(
    instance: &'a Instance,
    release: Option<&'a FleetReleaseSpec>,
    running: Option<&'a str>,
    default: &'a str,
) -> &'a str {
    if let Some(pinned) = instance.spec.image.as_deref() {
        return pinned;
    }
    let Some(release) = release else {
        return default;
    };
    instance
        .annotation(annotation::RELEASE_IMAGE)
        .map(str::trim)
        .filter(|image| !image.is_empty())
        .or(running.filter(|image| !image.is_empty()))
        .unwrap_or(release.stable.as_str())
}

/// Whether a machine's configuration is what the Instance asks for: the fields the
/// controller sets are equal (env exactly, so nothing else hides in it), its tags are
/// there; whatever Fly.io added is left alone.
pub fn config_matches(observed: &MachineConfig, desired: &MachineConfig) -> bool {
    // The import flag only matters at a machine's first start: it neither calls for an
    // update nor is sent again.
    let owned_files = |config: &MachineConfig| -> Vec<MachineFile> {
        config
            .files
            .iter()
            .filter(|f| f.guest_path != machine::IMPORT_FLAG)
            .cloned()
            .collect()
    };
    observed.image == desired.image
        && observed.env == desired.env
        && observed.guest == desired.guest
        && observed.restart == desired.restart
        && owned_files(observed) == owned_files(desired)
        && observed.init.as_ref().map(|i| (&i.cmd, &i.entrypoint))
            == desired.init.as_ref().map(|i| (&i.cmd, &i.entrypoint))
        && observed.checks == desired.checks
        && observed.stop_config == desired.stop_config
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
    config.files = desired.files.clone();
    config.init = match (&observed.init, &desired.init) {
        (Some(observed), Some(desired)) => Some(MachineInit {
            cmd: desired.cmd.clone(),
            entrypoint: desired.entrypoint.clone(),
            other: observed.other.clone(),
        }),
        (_, desired) => desired.clone(),
    };
    config.checks = desired.checks.clone();
    config.stop_config = desired.stop_config.clone();
    config.metadata.remove(CREATE_REQUEST_TAG);
    config
        .metadata
        .extend(desired.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn secrets_carry_the_token_the_provider_key_the_gateway_token_and_the_marker() {
        let uid = "6f1c2a34-5b6d-4e7f-8091-a2b3c4d5e6f7";
        let token = "123456789:AAH-abcdefghijklmnopqrstuvwxyz012345";
        let ring = EncryptionKey::from_bytes(&[7; 32]);
        let of = |uid: &str, provider, platform: &str, key: &EncryptionKey| {
            secrets(SecretInputs {
                uid,
                telegram_token: secret(token),
                provider,
                platform_key: secret(platform),
                deriving_key: key,
            })
        };
        let set = of(uid, AiProvider::Anthropic, "sk-ant-1", &ring);
        let names: Vec<&str> = set.values.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ANTHROPIC_API_KEY",
                "FASTERCLAW_INSTANCE_6F1C2A345B6D4E7F8091A2B3C4D5E6F7",
                "OPENCLAW_GATEWAY_TOKEN",
                "TELEGRAM_BOT_TOKEN"
            ]
        );
        assert_eq!(
            set.stale,
            ["OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"]
        );
        assert!(!set.digest.contains(token) && set.digest.len() == 32);
        assert!(!format!("{set:?}").contains("sk-ant-1"));
        assert_eq!(set.gateway_token_key, ring.id().to_hex());
        let same = of(uid, AiProvider::Anthropic, "sk-ant-1", &ring);
        assert_eq!(set.digest, same.digest);
        let rotated = of(uid, AiProvider::Anthropic, "sk-ant-2", &ring);
        assert_ne!(set.digest, rotated.digest);

        let google = of(uid, AiProvider::Google, "g-1", &ring);
        assert!(google.values.contains_key("GEMINI_API_KEY"));
        assert_eq!(
            google.stale,
            ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY"]
        );

        let gateway = |set: &DesiredSecrets| {
            set.values["OPENCLAW_GATEWAY_TOKEN"]
                .expose_secret()
                .to_owned()
        };
        let other_uid = of(
            "0a1b2c3d-0000-4000-8000-000000000000",
            AiProvider::Anthropic,
            "sk-ant-1",
            &ring,
        );
        let other_key = of(
            uid,
            AiProvider::Anthropic,
            "sk-ant-1",
            &EncryptionKey::from_bytes(&[8; 32]),
        );
        assert_eq!(gateway(&set).len(), 64);
        assert_eq!(gateway(&set), gateway(&same));
        assert_ne!(gateway(&set), gateway(&other_uid));
        assert_ne!(gateway(&set), gateway(&other_key));
    }

    #[test]
    fn the_machine_takes_the_instance_size_else_the_controller_default() {
        let defaults = MachineDefaults {
            image: "ghcr.io/openclaw/openclaw:1".to_owned(),
            cpu_kind: "shared".to_owned(),
            cpus: 1,
            memory_mb: 2048,
            endpoints: Default::default(),
        };
        let mut spec: crate::crd::InstanceSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Bot",
            "ownerId": "o",
            "telegramToken": { "secretKeyRef": { "name": "s", "key": "k" } },
        }))
        .unwrap();
        let plain = machine_config(
            &Instance::new("bot", spec.clone()),
            &defaults,
            "img:1",
            None,
        );
        let guest = plain.guest.clone().unwrap();
        assert_eq!(
            (guest.cpu_kind.as_str(), guest.cpus, guest.memory_mb),
            ("shared", 1, 2048)
        );
        assert_eq!(plain.env["NODE_OPTIONS"], "--max-old-space-size=1536");

        spec.machine = Some(crate::crd::MachineSize {
            cpu_kind: crate::crd::CpuKind::Performance,
            cpus: 2,
            memory_mb: 8192,
        });
        let sized = machine_config(&Instance::new("bot", spec), &defaults, "img:1", None);
        let guest = sized.guest.clone().unwrap();
        assert_eq!(
            (guest.cpu_kind.as_str(), guest.cpus, guest.memory_mb),
            ("performance", 2, 8192)
        );
        assert_eq!(sized.env["NODE_OPTIONS"], "--max-old-space-size=6144");
        // A new size is a change the controller carries to the machine.
        assert!(!config_matches(&plain, &sized));
    }
}
