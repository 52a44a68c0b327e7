//! The OpenClaw versions the product supports, side by side while a fleet release moves
//! Instances from a stable image to a candidate, and what each accepts of the keys the
//! control plane owns in `openclaw.json` ([`super::config`]).
//!
//! OpenClaw refuses to start on a configuration key or value it does not know
//! (openclaw/openclaw issues 35957, 125578, 133984, 89227), so the owned document is
//! written for the version the machine runs: [`OwnedConfig::document_for`] with the
//! [`ConfigDialect`] of the machine's image ([`dialect_for_image`]).
//!
//! # What each supported version accepts of the owned keys
//!
//! Checked with each npm package's own `openclaw config schema` (the JSON Schema of
//! `openclaw.json`) and `openclaw config validate` (on our documents and on documents
//! with one key changed); the integration test `runtime_versions` repeats the checks
//! against the installed packages.
//!
//! | owned key | 2026.8.2 | 2026.9.6 |
//! |---|---|---|
//! | `gateway.mode` | `local`\|`remote` | same |
//! | `gateway.port` | integer 1–65535 | same |
//! | `gateway.bind` | `auto`\|`lan`\|`loopback`\|`custom`\|`tailnet` | same |
//! | `gateway.auth.mode` | `none`\|`token`\|`password`\|`trusted-proxy` | same |
//! | `gateway.auth.token`, `.password` (deleted: `null`) | string or SecretRef | same |
//! | `agents.defaults.model.primary` | string (ids are not checked against the catalog) | same |
//! | `agents.defaults.heartbeat.every` (`"0m"`) | string | same |
//! | `channels.telegram.enabled` | boolean | same |
//! | `channels.telegram.botToken` (deleted) | string or SecretRef | same |
//! | `channels.telegram.dmPolicy` | `pairing`\|`allowlist`\|`open`\|`disabled` | same |
//! | `channels.telegram.allowFrom` | array of string or number | same |
//! | `channels.telegram.groupPolicy` | `open`\|`disabled`\|`allowlist` | same |
//! | `channels.telegram.apiRoot` | string, format `uri` | same |
//! | `models.providers.<id>.baseUrl` | string | same |
//! | `models.providers.<id>.api` | 10 protocols | 11: adds `pi-messages` |
//!
//! So the two versions accept the same owned document: their dialects are equal, and
//! the one difference near our keys, the `pi-messages` protocol that 2026.8.2 refuses
//! ("models.providers.x.api: Invalid option: expected one of …"), is not one we write.
//! [`OwnedConfig::document_for`] still leaves out or rewrites what a dialect lacks;
//! its unit tests use a synthetic older dialect.
//!
//! # What else differs between them
//!
//! - **Owner's keys.** 2026.9.6 retired `gateway.controlUi.toolTitles`, which 2026.8.2
//!   accepts: after the upgrade, `openclaw config patch` and `config validate` refuse a
//!   file holding it ("gateway.controlUi: Unrecognized key: \"toolTitles\""), although
//!   the 2026.9.6 gateway itself removes it at boot ("Migrated legacy config keys at
//!   startup"). The owned document cannot delete such a key (`null`): `config patch`
//!   refuses to touch a file that does not validate. `openclaw doctor --non-interactive`
//!   applies the same safe migrations without starting the gateway (`--fix` would do
//!   more: it disables the skills the machine cannot run), so the start command runs it
//!   when a merge into an existing file is refused, and merges again
//!   ([`super::machine::START_SCRIPT`]).
//!   2026.9.6 also adds keys 2026.8.2 lacks (`gateway.portals`,
//!   `gateway.controlUi.communityInvite`, `.experimental`,
//!   `gateway.auth.trustedProxy.cloudflareAccessOidc`).
//! - **No way back.** A version refuses state a newer one wrote. 2026.9.6 stamps
//!   `meta.migrations.utilityModelSeparation` into `openclaw.json`, which 2026.8.2
//!   rejects ("meta.migrations: Unrecognized key"), and migrates the state database to
//!   schema 18 (agents' to 23), which 2026.8.2 (15 and 19) refuses to open
//!   ("SqliteSchemaVersionError: … uses newer schema version 18; this build supports
//!   15"; `openclaw config patch` then fails, so the start exits 78). Each package
//!   declares its schemas in `package.json` (`openclaw.schemaVersions`), recorded here
//!   as [`StateSchemas`]: putting an Instance back on an older image after a newer one
//!   ran needs the volume as it was before (a snapshot), see
//!   [`SupportedVersion::opens_state_of`].
//! - **Models.** The bundled catalogs differ (2026.8.2 lacks `claude-opus-5-5`,
//!   `claude-fable-5-1` and the `gpt-6-*` models, and lists Google's models only at run
//!   time); the configuration does not check model ids, so this is no refusal.
//!
//! # Images and their versions
//!
//! An image's version is its tag when the tag is a calendar version
//! (`ghcr.io/openclaw/openclaw:2026.9.6`, also with a digest after it). An image without
//! such a tag (a digest only, `latest`, a beta or variant tag) names no version; it and
//! an image of a version not in the table get the newest known dialect
//! ([`dialect_for_image`]). [`check_image`] tells a fleet release whether an image runs
//! a supported version, with a message naming the supported ones.

use std::fmt;
use std::str::FromStr;

#[cfg(doc)]
use super::{OPENCLAW_VERSION, OwnedConfig};

/// An OpenClaw calendar version, `<year>.<month>.<release>` (`2026.9.6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The year.
    pub year: u16,
    /// The month.
    pub month: u8,
    /// The release in that month.
    pub release: u16,
}

impl Version {
    /// A version from its parts.
    pub const fn new(year: u16, month: u8, release: u16) -> Self {
        Self {
            year,
            month,
            release,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.year, self.month, self.release)
    }
}

/// Text that is not a calendar version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an OpenClaw version (<year>.<month>.<release>, such as 2026.9.6)")]
pub struct NotAVersion(pub String);

impl FromStr for Version {
    type Err = NotAVersion;

    /// Exactly three dot-separated decimal numbers; no pre-release or variant suffix.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || NotAVersion(text.to_owned());
        let mut parts = text.split('.');
        let mut next = || {
            parts
                .next()
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(bad)
        };
        let year = next()?.parse().map_err(|_| bad())?;
        let month = next()?.parse().map_err(|_| bad())?;
        let release = next()?.parse().map_err(|_| bad())?;
        if parts.next().is_some() || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self::new(year, month, release))
    }
}

/// How `channels.telegram.allowFrom` holds Telegram user ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// As strings of digits (`["424242"]`).
    Strings,
    /// As JSON numbers (`[424242]`).
    Numbers,
}

/// What one OpenClaw version accepts of the owned keys, where versions could differ.
/// The keys every version must accept for the assistant to work at all (gateway mode,
/// port, bind and auth; the model; the Telegram channel and its DM policy) are not
/// switches: a version without them cannot be supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDialect {
    /// `agents.defaults.heartbeat.every`; without it the document leaves the heartbeat
    /// to the version's default.
    pub heartbeat_every: bool,
    /// `channels.telegram.groupPolicy`; without it the document leaves it out (the
    /// versions' default, `allowlist`, is what it would write).
    pub telegram_group_policy: bool,
    /// `channels.telegram.apiRoot`; without it the document leaves it out and the
    /// gateway reaches Telegram at its public address.
    pub telegram_api_root: bool,
    /// How `channels.telegram.allowFrom` is written.
    pub allow_from: IdFormat,
    /// The values `models.providers.<id>.api` accepts (the wire protocols).
    pub provider_apis: &'static [&'static str],
}

impl ConfigDialect {
    /// Whether `models.providers.<id>.api` accepts `api`.
    pub fn accepts_provider_api(&self, api: &str) -> bool {
        self.provider_apis.contains(&api)
    }
}

/// The schema versions of OpenClaw's SQLite databases a version reads and writes
/// (`openclaw.schemaVersions` in its `package.json`). A version refuses a database of
/// a newer schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSchemas {
    /// The shared state database (`$OPENCLAW_STATE_DIR/state/openclaw.sqlite`).
    pub state: u32,
    /// Each agent's database (`agents/<id>/agent/openclaw-agent.sqlite`).
    pub agent: u32,
}

/// A supported OpenClaw version: what its configuration accepts and the state it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupportedVersion {
    /// The version (the npm package's and the image tag's).
    pub version: Version,
    /// What it accepts of the owned keys.
    pub dialect: ConfigDialect,
    /// The database schemas it writes (and the newest it opens).
    pub schemas: StateSchemas,
}

impl SupportedVersion {
    /// Its image in [`super::IMAGE_REPOSITORY`].
    pub fn image(&self) -> String {
        format!("{}:{}", super::IMAGE_REPOSITORY, self.version)
    }

    /// Whether it opens a state directory `other` has run on: never when `other`
    /// migrated a database to a newer schema than this version reads.
    pub fn opens_state_of(&self, other: &SupportedVersion) -> bool {
        self.schemas.state >= other.schemas.state && self.schemas.agent >= other.schemas.agent
    }
}

/// The protocols `models.providers.<id>.api` accepts in 2026.8.2.
const PROVIDER_APIS_2026_8: &[&str] = &[
    "openai-completions",
    "openai-responses",
    "openai-chatgpt-responses",
    "anthropic-messages",
    "google-generative-ai",
    "google-vertex",
    "github-copilot",
    "bedrock-converse-stream",
    "ollama",
    "azure-openai-responses",
];

/// The protocols `models.providers.<id>.api` accepts in 2026.9.6.
const PROVIDER_APIS_2026_9: &[&str] = &[
    "openai-completions",
    "openai-responses",
    "openai-chatgpt-responses",
    "anthropic-messages",
    "google-generative-ai",
    "google-vertex",
    "github-copilot",
    "bedrock-converse-stream",
    "ollama",
    "pi-messages",
    "azure-openai-responses",
];

/// The supported versions, oldest first; the last is the pinned one
/// ([`OPENCLAW_VERSION`], `openclaw.version`) and the one before it the previous
/// (`openclaw.previous.version`) the tests also install.
static SUPPORTED: [SupportedVersion; 2] = [
    SupportedVersion {
        version: Version::new(2026, 8, 2),
        dialect: ConfigDialect {
            heartbeat_every: true,
            telegram_group_policy: true,
            telegram_api_root: true,
            allow_from: IdFormat::Strings,
            provider_apis: PROVIDER_APIS_2026_8,
        },
        schemas: StateSchemas {
            state: 15,
            agent: 19,
        },
    },
    SupportedVersion {
        version: Version::new(2026, 9, 6),
        dialect: ConfigDialect {
            heartbeat_every: true,
            telegram_group_policy: true,
            telegram_api_root: true,
            allow_from: IdFormat::Strings,
            provider_apis: PROVIDER_APIS_2026_9,
        },
        schemas: StateSchemas {
            state: 18,
            agent: 23,
        },
    },
];

/// The version before the pinned one that the tests also run (`openclaw.previous.version`).
pub const PREVIOUS_OPENCLAW_VERSION: &str = include_str!("openclaw.previous.version").trim_ascii();

/// The supported versions, oldest first; the newest is the pinned one.
pub fn supported_versions() -> &'static [SupportedVersion] {
    &SUPPORTED
}

/// The newest supported version: the pinned one ([`OPENCLAW_VERSION`]).
pub fn newest() -> &'static SupportedVersion {
    // The table is a non-empty array.
    &SUPPORTED[SUPPORTED.len() - 1]
}

/// The table's entry for `version`, when it is supported.
pub fn supported(version: &Version) -> Option<&'static SupportedVersion> {
    SUPPORTED.iter().find(|s| s.version == *version)
}

/// Whether `version` is supported.
pub fn is_supported(version: &Version) -> bool {
    supported(version).is_some()
}

/// The version an image's tag names: `ghcr.io/openclaw/openclaw:2026.9.6` (also
/// followed by `@sha256:…`) is 2026.9.6; a digest alone, `latest`, a beta or variant
/// tag (`2026.9.1-beta.1`, `2026.9.6-browser`), or no tag name none.
pub fn image_version(image: &str) -> Option<Version> {
    let image = image.trim();
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let (_, tag) = last.split_once(':')?;
    tag.parse().ok()
}

/// The dialect to write for a machine of `image`: its version's, or, for an image that
/// names no version or one not in the table, the newest known.
pub fn dialect_for_image(image: &str) -> &'static ConfigDialect {
    &image_version(image)
        .and_then(|v| supported(&v))
        .unwrap_or_else(newest)
        .dialect
}

/// Why an image cannot be rolled out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnsupportedImage {
    /// Its tag names a version the controller has no dialect for.
    #[error(
        "image {image} runs OpenClaw {version}, which this controller does not support (supported: {supported}); its configuration could be refused"
    )]
    Version {
        /// The image.
        image: String,
        /// Its version.
        version: Version,
        /// The supported versions, for the message.
        supported: String,
    },
    /// Its reference names no version (a digest alone, a moving or variant tag).
    #[error(
        "image {image} names no OpenClaw version (tag it <repository>:<version>, optionally followed by @sha256:<digest>; supported: {supported})"
    )]
    NoVersion {
        /// The image.
        image: String,
        /// The supported versions, for the message.
        supported: String,
    },
}

/// The supported versions as a message lists them (`2026.8.2, 2026.9.6`).
pub fn describe_supported() -> String {
    SUPPORTED
        .iter()
        .map(|s| s.version.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The supported version `image` runs, or why it cannot be rolled out.
pub fn check_image(image: &str) -> Result<&'static SupportedVersion, UnsupportedImage> {
    let Some(version) = image_version(image) else {
        return Err(UnsupportedImage::NoVersion {
            image: image.to_owned(),
            supported: describe_supported(),
        });
    };
    supported(&version).ok_or_else(|| UnsupportedImage::Version {
        image: image.to_owned(),
        version,
        supported: describe_supported(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::OPENCLAW_VERSION;
    use super::*;

    #[test]
    fn versions_parse_and_order_as_calendar_versions() {
        let v: Version = "2026.9.6".parse().unwrap();
        assert_eq!(v, Version::new(2026, 9, 6));
        assert_eq!(v.to_string(), "2026.9.6");
        assert!(Version::new(2026, 8, 2) < v);
        assert!(Version::new(2026, 9, 10) > v, "numbers, not text");
        for bad in [
            "",
            "2026.9",
            "2026.9.6.1",
            "2026.9.6-beta.1",
            "2026.13.1",
            "v2026.9.6",
            "2026..6",
            "latest",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_table_ends_with_the_pinned_version_and_holds_the_previous_one() {
        let versions = supported_versions();
        assert!(versions.len() >= 2);
        assert_eq!(newest().version.to_string(), OPENCLAW_VERSION);
        let previous: Version = PREVIOUS_OPENCLAW_VERSION.parse().unwrap();
        assert!(is_supported(&previous));
        assert!(previous < newest().version);
        assert!(
            versions.windows(2).all(|w| w[0].version < w[1].version),
            "oldest first, no duplicates"
        );
        assert!(!is_supported(&Version::new(2026, 9, 5)));
    }

    #[test]
    fn every_supported_dialect_speaks_the_protocols_we_write() {
        use crate::domain::AiProvider;
        for entry in supported_versions() {
            for provider in [
                AiProvider::Anthropic,
                AiProvider::Openai,
                AiProvider::Google,
            ] {
                let (_, api) = super::super::config::provider_id_and_api(provider);
                assert!(
                    entry.dialect.accepts_provider_api(api),
                    "{} does not accept api {api}",
                    entry.version
                );
            }
        }
        assert!(newest().dialect.accepts_provider_api("pi-messages"));
        let previous = supported(&Version::new(2026, 8, 2)).unwrap();
        assert!(!previous.dialect.accepts_provider_api("pi-messages"));
    }

    #[test]
    fn an_older_version_does_not_open_the_state_of_a_newer_one() {
        let previous = supported(&Version::new(2026, 8, 2)).unwrap();
        let pinned = newest();
        assert!(pinned.opens_state_of(previous), "upgrades carry state");
        assert!(!previous.opens_state_of(pinned), "downgrades do not");
        assert!(previous.opens_state_of(previous));
    }

    #[test]
    fn images_name_their_version_by_tag() {
        let v = |image: &str| image_version(image).map(|v| v.to_string());
        assert_eq!(
            v("ghcr.io/openclaw/openclaw:2026.9.6").as_deref(),
            Some("2026.9.6")
        );
        assert_eq!(
            v(" ghcr.io/openclaw/openclaw:2026.8.2@sha256:0123abcd ").as_deref(),
            Some("2026.8.2")
        );
        assert_eq!(
            v("registry.local:5000/openclaw/openclaw:2026.8.2").as_deref(),
            Some("2026.8.2")
        );
        for none in [
            "ghcr.io/openclaw/openclaw@sha256:0123abcd",
            "ghcr.io/openclaw/openclaw:latest",
            "ghcr.io/openclaw/openclaw:2026.9.1-beta.1",
            "ghcr.io/openclaw/openclaw:2026.9.6-browser",
            "ghcr.io/openclaw/openclaw",
            "registry.local:5000/openclaw/openclaw",
            "",
        ] {
            assert_eq!(v(none), None, "{none:?}");
        }
    }

    #[test]
    fn unknown_images_get_the_newest_dialect_and_the_check_says_why() {
        let previous = supported(&Version::new(2026, 8, 2)).unwrap();
        assert!(std::ptr::eq(
            dialect_for_image(&previous.image()),
            &previous.dialect
        ));
        for image in [
            "ghcr.io/openclaw/openclaw@sha256:0123abcd",
            "ghcr.io/openclaw/openclaw:2031.1.1",
            "ghcr.io/openclaw/openclaw:latest",
        ] {
            assert!(std::ptr::eq(dialect_for_image(image), &newest().dialect));
        }
        assert_eq!(
            check_image(&previous.image()).map(|s| s.version),
            Ok(previous.version)
        );
        let err = check_image("ghcr.io/openclaw/openclaw:2026.9.5").unwrap_err();
        assert!(matches!(err, UnsupportedImage::Version { .. }));
        let message = err.to_string();
        assert!(
            message.contains("2026.9.5") && message.contains(&describe_supported()),
            "{message}"
        );
        let err = check_image("ghcr.io/openclaw/openclaw@sha256:0123abcd").unwrap_err();
        assert!(matches!(err, UnsupportedImage::NoVersion { .. }));
        assert!(err.to_string().contains("names no OpenClaw version"));
    }
}
