//! The controller's settings: every one from the environment or the flag of the same
//! name, checked at start-up so that a missing or malformed one stops the process with
//! one line naming it.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::backoff::LONGEST_WAIT;
use super::error::SettingsError;
use super::images::AllowedImages;
use crate::crypto::EncryptionArgs;
use crate::db::DatabaseArgs;
use crate::domain::AiProvider;
use crate::fly::FlyArgs;
use crate::runtime::{self, Endpoints};
use url::Url;

/// `fasterclaw controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// The database holding the stored tokens.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The keys that open stored tokens.
    #[command(flatten)]
    pub encryption: EncryptionArgs,

    /// How to reach Fly.io.
    #[command(flatten)]
    pub fly: FlyArgs,

    /// The providers' platform keys.
    #[command(flatten)]
    pub platform_keys: PlatformKeyArgs,

    /// Watch Instances in this namespace only; all namespaces when unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Container image of the assistant, for Instances that name none: by default the
    /// OpenClaw version this release pins (`ghcr.io/openclaw/openclaw:<version>`).
    #[arg(long, env = "OPENCLAW_IMAGE", default_value_t = runtime::default_image())]
    pub openclaw_image: String,

    /// Where the assistants reach Telegram's Bot API (`channels.telegram.apiRoot`), for
    /// a Bot API proxy or a self-hosted Bot API server; Telegram's own when unset.
    #[arg(long, env = "TELEGRAM_API_ROOT")]
    pub telegram_api_root: Option<Url>,

    /// Base URL of Anthropic's API for the assistants (`models.providers.anthropic.baseUrl`),
    /// for a model gateway or a metering proxy; Anthropic's own when unset.
    #[arg(long, env = "MODEL_BASE_URL_ANTHROPIC")]
    pub model_base_url_anthropic: Option<Url>,

    /// Base URL of OpenAI's API, ending in `/v1` (`models.providers.openai.baseUrl`).
    #[arg(long, env = "MODEL_BASE_URL_OPENAI")]
    pub model_base_url_openai: Option<Url>,

    /// Base URL of Google's Gemini API, ending in `/v1beta` (`models.providers.google.baseUrl`).
    #[arg(long, env = "MODEL_BASE_URL_GOOGLE")]
    pub model_base_url_google: Option<Url>,

    /// Image repositories whose machines get the platform's model keys,
    /// comma-separated (`ghcr.io/openclaw/openclaw`, or `ghcr.io/acme/*` for every
    /// repository under one); an Instance naming an image from elsewhere is not run.
    /// Default: the repository of OPENCLAW_IMAGE.
    #[arg(long, env = "ALLOWED_IMAGE_REPOSITORIES", value_delimiter = ',')]
    pub allowed_image_repositories: Vec<String>,

    /// Machine size: `shared` or `performance` CPUs.
    #[arg(long, env = "MACHINE_CPU_KIND", default_value = "shared")]
    pub machine_cpu_kind: String,

    /// Machine size: number of CPUs.
    #[arg(long, env = "MACHINE_CPUS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub machine_cpus: u32,

    /// Machine size: memory in MB, a multiple of 256 and at least 1024 (OpenClaw's
    /// gateway alone takes about 1 GB; 2048 is its documented size on Fly.io). The
    /// gateway's Node heap is limited to three quarters of it.
    #[arg(long, env = "MACHINE_MEMORY_MB", default_value_t = 2048)]
    pub machine_memory_mb: u32,

    /// Size in GB of the volume holding an assistant's state, for Instances whose
    /// `spec.storageGB` says nothing (1 GB is OpenClaw's documented size on Fly.io).
    #[arg(long, env = "VOLUME_SIZE_GB", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub volume_size_gb: u32,

    /// Days Fly.io keeps each volume's snapshots (its daily ones and those taken before
    /// an image change), 1 to 60.
    #[arg(long, env = "SNAPSHOT_RETENTION_DAYS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub snapshot_retention_days: u32,

    /// How long a volume the assistant moved off (after a restore or a move to another
    /// region) is kept before it is deleted, so the move can be undone.
    #[arg(long, env = "RETAINED_VOLUME_PERIOD", default_value = "7days", value_parser = humantime::parse_duration)]
    pub retained_volume_period: Duration,

    /// How long a region whose quota Fly.io says is spent is left out of the rotation.
    #[arg(long, env = "REGION_QUOTA_COOLDOWN", default_value = "1h", value_parser = humantime::parse_duration)]
    pub region_quota_cooldown: Duration,

    /// Prefix of the Fly.io app names (the rest is derived from each Instance's uid).
    #[arg(long, env = "FLY_APP_PREFIX", default_value = "fasterclaw")]
    pub fly_app_prefix: String,

    /// How often a settled Instance is checked against Fly.io (jittered by ±10%), such
    /// as `10m`; an Instance's `fasterclaw.io/poll-interval` annotation overrides it.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync_interval: Duration,

    /// How soon an Instance in transition (creating, starting, stopping) is looked at
    /// again.
    #[arg(long, env = "TRANSITION_REQUEUE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub transition_requeue: Duration,

    /// How long an Instance may stay CREATING, PROVISIONING, STARTING or STOPPING before
    /// it is FAILED.
    #[arg(long, env = "TRANSITION_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    pub transition_timeout: Duration,

    /// How many exits of the gateway nobody asked for, inside `CRASH_LOOP_WINDOW`, make
    /// a crash loop: the controller stops the machine and the Instance is FAILED
    /// `CrashLoop` until it is retried or its spec changes.
    #[arg(long, env = "CRASH_LOOP_EXITS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=20))]
    pub crash_loop_exits: u32,

    /// The window a crash loop's exits are counted in.
    #[arg(long, env = "CRASH_LOOP_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub crash_loop_window: Duration,

    /// How long after a start the gateway's checks may fail without harm (it takes a
    /// minute or more to start on a shared CPU).
    #[arg(long, env = "HEALTH_STARTUP_GRACE", default_value = "3m", value_parser = humantime::parse_duration)]
    pub health_startup_grace: Duration,

    /// How long a gateway may fail its health check before the controller restarts its
    /// machine, and after that restart before it makes the machine again on its volume.
    #[arg(long, env = "HEAL_AFTER", default_value = "3m", value_parser = humantime::parse_duration)]
    pub heal_after: Duration,

    /// How often an Instance whose owner must act (a refused or shared Telegram token) is
    /// looked at again, to see it recover.
    #[arg(long, env = "HEALTH_RECHECK_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub health_recheck_interval: Duration,

    /// The cluster-scoped FleetRelease the controller follows: its stable image, and its
    /// candidate on a share of the Instances. Without it, every Instance runs
    /// OPENCLAW_IMAGE (or its own spec.image).
    #[arg(long, env = "FLEET_RELEASE", default_value = "fleet")]
    pub fleet_release: String,

    /// How often the rollout looks at the release and its Instances (it gives the next
    /// Instances their new image, counts, and halts).
    #[arg(long, env = "ROLLOUT_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub rollout_interval: Duration,

    /// How long one reconcile waits for a machine to reach its state before looking
    /// again later (Fly allows 1 to 60 seconds).
    #[arg(long, env = "MACHINE_WAIT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub machine_wait: Duration,

    /// First delay after a failed reconcile; it doubles with each failure in a row.
    #[arg(long, env = "ERROR_BACKOFF_BASE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub error_backoff_base: Duration,

    /// Longest delay after failed reconciles.
    #[arg(long, env = "ERROR_BACKOFF_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub error_backoff_max: Duration,

    /// Most Instances reconciled at once.
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,

    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Elect one active replica with a Lease; the others stand by.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Namespace of the leader election Lease: the watched namespace, else `POD_NAMESPACE`,
    /// else `default`.
    #[arg(long, env = "LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Name of the leader election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "fasterclaw-controller")]
    pub lease_name: String,

    /// How long a leader's Lease lasts without renewal; a standby takes over after it.
    #[arg(long, env = "LEASE_DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,

    /// This replica's name in the Lease: `POD_NAME`, else the host name and a random
    /// suffix.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
}

/// The platform keys each provider's assistants use; the original system's names are
/// accepted as aliases.
#[derive(Debug, Args)]
pub struct PlatformKeyArgs {
    /// OpenAI API key (alias: `OPENAI_KEY`).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<SecretString>,
    /// Anthropic API key.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<SecretString>,
    /// Google AI API key (alias: `GEMINI_API_KEY`).
    #[arg(long, env = "GOOGLE_API_KEY", hide_env_values = true)]
    pub google_api_key: Option<SecretString>,
}

/// Platform keys by provider.
#[derive(Clone, Debug, Default)]
pub struct PlatformKeys {
    openai: Option<SecretString>,
    anthropic: Option<SecretString>,
    google: Option<SecretString>,
}

impl PlatformKeys {
    /// The keys from the settings, with the original system's variable names as
    /// aliases (`OPENAI_KEY`, `GEMINI_API_KEY`) read from `environment`.
    pub fn from_args(args: &PlatformKeyArgs, environment: impl Fn(&str) -> Option<String>) -> Self {
        let alias = |name: &str| environment(name).map(SecretString::from);
        let present =
            |key: Option<SecretString>| key.filter(|k| !k.expose_secret().trim().is_empty());
        Self {
            openai: present(args.openai_api_key.clone().or_else(|| alias("OPENAI_KEY"))),
            anthropic: present(args.anthropic_api_key.clone()),
            google: present(
                args.google_api_key
                    .clone()
                    .or_else(|| alias("GEMINI_API_KEY")),
            ),
        }
    }

    /// The key for a provider, if set.
    pub fn get(&self, provider: AiProvider) -> Option<&SecretString> {
        match provider {
            AiProvider::Openai => self.openai.as_ref(),
            AiProvider::Anthropic => self.anthropic.as_ref(),
            AiProvider::Google => self.google.as_ref(),
        }
    }

    /// The controller's variable that holds a provider's key.
    pub fn variable(provider: AiProvider) -> &'static str {
        match provider {
            AiProvider::Openai => "OPENAI_API_KEY",
            AiProvider::Anthropic => "ANTHROPIC_API_KEY",
            AiProvider::Google => "GOOGLE_API_KEY",
        }
    }
}

/// What a machine is made of, for Instances that do not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineDefaults {
    /// Image.
    pub image: String,
    /// `shared` or `performance`.
    pub cpu_kind: String,
    /// CPUs.
    pub cpus: u32,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Where the gateways reach Telegram and the model providers.
    pub endpoints: Endpoints,
}

/// How assistants' volumes are made and kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Storage {
    /// Size of a new volume, in GB, when the Instance does not say.
    pub size_gb: u32,
    /// Days Fly.io keeps snapshots.
    pub snapshot_retention_days: u32,
    /// How long a volume moved off is kept.
    pub retained_for: Duration,
    /// How long a region out of quota is left out.
    pub quota_cooldown: Duration,
}

/// The bounds the controller heals within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    /// This many exits nobody asked for inside [`HealthPolicy::crash_loop_window`] are a
    /// crash loop.
    pub crash_loop_exits: u32,
    /// The window the exits of a crash loop are counted in.
    pub crash_loop_window: Duration,
    /// How long after a start the gateway's checks may fail without harm.
    pub startup_grace: Duration,
    /// How long the gateway may fail its health check before it is restarted, and after
    /// a restart before it is replaced.
    pub heal_after: Duration,
    /// The machine's memory, for the size an OOM suggests.
    pub memory_mb: u32,
    /// The machine's CPUs, likewise.
    pub cpus: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            crash_loop_exits: 5,
            crash_loop_window: Duration::from_secs(15 * 60),
            startup_grace: Duration::from_secs(180),
            heal_after: Duration::from_secs(180),
            memory_mb: 2048,
            cpus: 1,
        }
    }
}

/// Timing of reconciles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Settled Instances are looked at again after this, jittered.
    pub resync: Duration,
    /// Instances in transition are looked at again after this.
    pub transition_requeue: Duration,
    /// Longest time in a transitional phase.
    pub transition_timeout: Duration,
    /// Longest wait for a machine state within one reconcile.
    pub machine_wait: Duration,
    /// Instances whose owner must act are looked at again after this.
    pub health_recheck: Duration,
    /// First delay after an error.
    pub backoff_base: Duration,
    /// Longest delay after errors.
    pub backoff_max: Duration,
}

impl ControllerArgs {
    /// Checks the settings that need more than clap's parsing.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |text: String| Err(SettingsError(text));
        if !matches!(self.machine_cpu_kind.as_str(), "shared" | "performance") {
            return bad(format!(
                "MACHINE_CPU_KIND must be shared or performance, not {:?}",
                self.machine_cpu_kind
            ));
        }
        if self.machine_memory_mb < 1024 || !self.machine_memory_mb.is_multiple_of(256) {
            return bad(format!(
                "MACHINE_MEMORY_MB must be a multiple of 256 of at least 1024 (the OpenClaw gateway needs about 1 GB), not {}",
                self.machine_memory_mb
            ));
        }
        if self.fleet_release.trim().is_empty() {
            return bad("FLEET_RELEASE is empty: name the FleetRelease to follow".to_owned());
        }
        if self.openclaw_image.trim().is_empty() {
            return bad("OPENCLAW_IMAGE is empty".to_owned());
        }
        for (name, url) in [
            ("TELEGRAM_API_ROOT", &self.telegram_api_root),
            ("MODEL_BASE_URL_ANTHROPIC", &self.model_base_url_anthropic),
            ("MODEL_BASE_URL_OPENAI", &self.model_base_url_openai),
            ("MODEL_BASE_URL_GOOGLE", &self.model_base_url_google),
        ] {
            if let Some(url) = url
                && (!matches!(url.scheme(), "http" | "https")
                    || !url.username().is_empty()
                    || url.password().is_some()
                    || url.query().is_some())
            {
                return bad(format!(
                    "{name} must be an http(s) URL without credentials or query, not {:?}",
                    url.scheme()
                ));
            }
        }
        let prefix_ok = !self.fly_app_prefix.is_empty()
            && self.fly_app_prefix.len() <= 20
            && self
                .fly_app_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !prefix_ok {
            return bad(format!(
                "FLY_APP_PREFIX must be 1 to 20 lowercase letters, digits or dashes, not {:?}",
                self.fly_app_prefix
            ));
        }
        let wait = self.machine_wait.as_secs();
        if !(1..=60).contains(&wait) {
            return bad(format!(
                "MACHINE_WAIT must be between 1s and 60s, not {}",
                humantime::format_duration(self.machine_wait)
            ));
        }
        for (name, value) in [
            ("RESYNC_INTERVAL", self.resync_interval),
            ("TRANSITION_REQUEUE", self.transition_requeue),
            ("TRANSITION_TIMEOUT", self.transition_timeout),
            ("CRASH_LOOP_WINDOW", self.crash_loop_window),
            ("HEALTH_RECHECK_INTERVAL", self.health_recheck_interval),
            ("ROLLOUT_INTERVAL", self.rollout_interval),
            ("ERROR_BACKOFF_BASE", self.error_backoff_base),
            ("LEASE_DURATION", self.lease_duration),
        ] {
            if value.is_zero() {
                return bad(format!("{name} must be longer than zero"));
            }
        }
        for (name, value, most) in [
            ("RESYNC_INTERVAL", self.resync_interval, LONGEST_WAIT),
            ("ERROR_BACKOFF_MAX", self.error_backoff_max, LONGEST_WAIT),
            (
                "TRANSITION_REQUEUE",
                self.transition_requeue,
                Duration::from_secs(3600),
            ),
            (
                "TRANSITION_TIMEOUT",
                self.transition_timeout,
                Duration::from_secs(7 * 24 * 3600),
            ),
            (
                "LEASE_DURATION",
                self.lease_duration,
                Duration::from_secs(3600),
            ),
            (
                "CRASH_LOOP_WINDOW",
                self.crash_loop_window,
                Duration::from_secs(24 * 3600),
            ),
            (
                "HEALTH_STARTUP_GRACE",
                self.health_startup_grace,
                Duration::from_secs(3600),
            ),
            (
                "HEAL_AFTER",
                self.heal_after,
                Duration::from_secs(24 * 3600),
            ),
            (
                "HEALTH_RECHECK_INTERVAL",
                self.health_recheck_interval,
                LONGEST_WAIT,
            ),
            ("ROLLOUT_INTERVAL", self.rollout_interval, LONGEST_WAIT),
        ] {
            if value > most {
                return bad(format!(
                    "{name} must be at most {}, not {}",
                    humantime::format_duration(most),
                    humantime::format_duration(value)
                ));
            }
        }
        if self.error_backoff_max < self.error_backoff_base {
            return bad("ERROR_BACKOFF_MAX must not be shorter than ERROR_BACKOFF_BASE".to_owned());
        }
        if self.lease_duration < Duration::from_secs(2) {
            return bad("LEASE_DURATION must be at least 2s".to_owned());
        }
        Ok(())
    }

    /// The images allowed to run with the platform's keys.
    pub fn allowed_images(&self) -> Result<AllowedImages, SettingsError> {
        AllowedImages::new(&self.allowed_image_repositories, self.openclaw_image.trim())
    }

    /// Machine defaults.
    pub fn machine_defaults(&self) -> MachineDefaults {
        MachineDefaults {
            image: self.openclaw_image.trim().to_owned(),
            cpu_kind: self.machine_cpu_kind.clone(),
            cpus: self.machine_cpus,
            memory_mb: self.machine_memory_mb,
            endpoints: Endpoints {
                telegram_api_root: self.telegram_api_root.clone(),
                anthropic: self.model_base_url_anthropic.clone(),
                openai: self.model_base_url_openai.clone(),
                google: self.model_base_url_google.clone(),
            },
        }
    }

    /// Storage.
    pub fn storage(&self) -> Storage {
        Storage {
            size_gb: self.volume_size_gb,
            snapshot_retention_days: self.snapshot_retention_days,
            retained_for: self.retained_volume_period,
            quota_cooldown: self.region_quota_cooldown,
        }
    }

    /// The bounds the controller heals within.
    pub fn health_policy(&self) -> HealthPolicy {
        HealthPolicy {
            crash_loop_exits: self.crash_loop_exits,
            crash_loop_window: self.crash_loop_window,
            startup_grace: self.health_startup_grace,
            heal_after: self.heal_after,
            memory_mb: self.machine_memory_mb,
            cpus: self.machine_cpus,
        }
    }

    /// Timing.
    pub fn timing(&self) -> Timing {
        Timing {
            resync: self.resync_interval,
            transition_requeue: self.transition_requeue,
            transition_timeout: self.transition_timeout,
            machine_wait: self.machine_wait,
            health_recheck: self.health_recheck_interval,
            backoff_base: self.error_backoff_base,
            backoff_max: self.error_backoff_max,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ControllerArgs,
    }

    fn parse(extra: &[&str]) -> Result<ControllerArgs, String> {
        let mut argv = vec!["test"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv)
            .map(|w| w.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_valid() {
        let args = parse(&[]).unwrap();
        args.validate().unwrap();
        assert_eq!(args.timing().resync, Duration::from_secs(600));
        let defaults = args.machine_defaults();
        assert_eq!(defaults.memory_mb, 2048);
        assert_eq!(defaults.image, crate::runtime::default_image());
        assert_eq!(defaults.endpoints, Endpoints::default());
    }

    #[test]
    fn malformed_settings_are_named() {
        let err = parse(&["--machine-memory-mb", "300"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.0.starts_with("MACHINE_MEMORY_MB"), "{err}");
        let err = parse(&["--machine-memory-mb", "512"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.0.contains("at least 1024"), "{err}");
        let err = parse(&["--telegram-api-root", "ftp://proxy.example"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.0.starts_with("TELEGRAM_API_ROOT"), "{err}");
        let err = parse(&["--model-base-url-openai", "https://user:pw@gw.example/v1"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.0.starts_with("MODEL_BASE_URL_OPENAI"), "{err}");
        assert!(!err.0.contains("pw"), "{err}");
        let err = parse(&["--machine-wait", "90s"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.0.starts_with("MACHINE_WAIT"), "{err}");
        let err = parse(&["--fly-app-prefix", "Bad_Prefix"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.0.starts_with("FLY_APP_PREFIX"), "{err}");
        let err = parse(&["--resync-interval", "2years"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            err.0.starts_with("RESYNC_INTERVAL must be at most 1day"),
            "{err}"
        );
        assert!(parse(&["--resync-interval", "soon"]).is_err());
    }

    #[test]
    fn the_original_names_of_platform_keys_are_aliases() {
        let args = PlatformKeyArgs {
            openai_api_key: None,
            anthropic_api_key: Some(SecretString::from("sk-ant")),
            google_api_key: None,
        };
        let env = |name: &str| match name {
            "OPENAI_KEY" => Some("sk-openai".to_owned()),
            "GEMINI_API_KEY" => Some("  ".to_owned()),
            _ => None,
        };
        let keys = PlatformKeys::from_args(&args, env);
        assert_eq!(
            keys.get(AiProvider::Openai).map(|k| k.expose_secret()),
            Some("sk-openai")
        );
        assert_eq!(
            keys.get(AiProvider::Anthropic).map(|k| k.expose_secret()),
            Some("sk-ant")
        );
        assert!(
            keys.get(AiProvider::Google).is_none(),
            "a blank key is no key"
        );
    }
}
