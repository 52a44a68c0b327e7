//! Request and response bodies of the Machines API, as its OpenAPI document describes
//! them. Responses are read leniently: absent fields take defaults, and unknown fields
//! of a machine's config are kept so an update can send them back.

use std::collections::BTreeMap;

use super::MachineState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An app (`App`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct App {
    /// App id.
    pub id: String,
    /// App name.
    pub name: String,
    /// `pending`, `deployed`, `suspended`...
    pub status: String,
    /// The owning organization.
    pub organization: AppOrganization,
}

/// The organization of an app (`AppOrganizationInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppOrganization {
    /// Organization name.
    pub name: String,
    /// Organization slug.
    pub slug: String,
}

/// `POST /v1/apps` body (`CreateAppRequest`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateAppRequest<'a> {
    /// App name.
    pub name: &'a str,
    /// Organization slug.
    pub org_slug: &'a str,
    /// Makes a retry of this exact request safe.
    pub idempotency_key: &'a str,
}

/// One app secret (`AppSecret`); the value only when asked for.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AppSecret {
    /// Secret name.
    pub name: String,
    /// Digest of the value.
    pub digest: String,
    /// When it was set first.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSecret")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AppSecrets {
    pub secrets: Vec<AppSecret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SecretsUpdateResponse {
    pub version: Option<u64>,
    #[serde(rename = "Version")]
    pub legacy_version: Option<u64>,
}

/// A machine's configuration (`fly.MachineConfig`): the fields FasterClaw sets, and any
/// others Fly returns, kept as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineConfig {
    /// Container image.
    #[serde(default)]
    pub image: String,
    /// Environment variables. Never secrets: those are app secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<Guest>,
    /// Services the Fly proxy routes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Value>,
    /// Tags, for finding the machine again (`?metadata.<key>=<value>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Restart policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Whether the machine destroys itself when its process exits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_destroy: bool,
    /// Every other field, as Fly sent it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// CPU and memory (`fly.MachineGuest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    /// `shared` or `performance`.
    #[serde(default)]
    pub cpu_kind: String,
    /// Number of CPUs.
    #[serde(default)]
    pub cpus: u32,
    /// Memory in MB, a multiple of 256.
    #[serde(default)]
    pub memory_mb: u32,
}

/// Restart policy (`fly.MachineRestart`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `always` or `on-failure`.
    #[serde(default)]
    pub policy: String,
    /// Attempts under `on-failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

/// A machine to create (`CreateMachineRequest`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CreateMachine {
    /// Name, unique in the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Region code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Configuration.
    pub config: MachineConfig,
    /// The app secrets version the machine must boot with, at least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_secrets_version: Option<u64>,
    /// Create without booting.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_launch: bool,
}

/// A machine's new configuration (`UpdateMachineRequest`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UpdateMachine {
    /// The whole new configuration (Fly has no partial updates).
    pub config: MachineConfig,
    /// Refuse the update (409) unless the machine is still at this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// The app secrets version the machine must boot with, at least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_secrets_version: Option<u64>,
    /// Do not boot a machine that is not running.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_launch: bool,
}

/// A machine (`Machine`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Machine {
    /// Machine id.
    pub id: String,
    /// Name.
    pub name: String,
    /// State, such as `started`.
    pub state: MachineState,
    /// Region code.
    pub region: String,
    /// Version, changed by every update.
    pub version: String,
    /// The same as `version` (deprecated by Fly, still used by `wait`).
    pub instance_id: String,
    /// 6PN private IPv6 address.
    pub private_ip: String,
    /// Configuration.
    pub config: MachineConfig,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl Machine {
    /// The version to wait on: `version`, or the deprecated `instance_id`.
    pub fn current_version(&self) -> &str {
        if self.version.is_empty() {
            &self.instance_id
        } else {
            &self.version
        }
    }
}

/// `GET .../wait` answer (`WaitMachineResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WaitResponse {
    /// Whether the state was reached.
    pub ok: bool,
    /// The state reached.
    pub state: String,
    /// The machine's version.
    pub version: String,
}

/// States `wait` can wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitState {
    /// Running.
    Started,
    /// Stopped.
    Stopped,
    /// Suspended.
    Suspended,
    /// Destroyed.
    Destroyed,
    /// Failed.
    Failed,
    /// In any resting state.
    Settled,
}

impl WaitState {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitState::Started => "started",
            WaitState::Stopped => "stopped",
            WaitState::Suspended => "suspended",
            WaitState::Destroyed => "destroyed",
            WaitState::Failed => "failed",
            WaitState::Settled => "settled",
        }
    }
}

/// Filters for listing machines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineFilter {
    /// Metadata that must all match.
    pub metadata: Vec<(String, String)>,
    /// Include destroyed machines.
    pub include_deleted: bool,
}

impl MachineFilter {
    /// Machines tagged `key=value`.
    pub fn tagged(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            metadata: vec![(key.into(), value.into())],
            include_deleted: false,
        }
    }
}

/// What a delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// It existed and is going.
    Yes,
    /// It was gone already.
    AlreadyGone,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorBody {
    pub error: Option<String>,
    pub message: Option<String>,
    pub status: Option<String>,
}
