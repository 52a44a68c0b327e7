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
    /// Files written into the machine before its process starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<MachineFile>,
    /// The process to run instead of the image's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<MachineInit>,
    /// Health checks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, MachineCheck>,
    /// How the machine's process is asked to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_config: Option<StopConfig>,
    /// Volumes mounted into the machine (at most one on Fly.io).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MachineMount>,
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

/// A volume mounted into a machine (`fly.MachineMount`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineMount {
    /// The volume's id (`vol_…`).
    pub volume: String,
    /// Where it is mounted in the machine.
    pub path: String,
    /// Every other field, as Fly sent it (`name`, `size_gb`, `encrypted`…).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
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

/// A file written into the machine (`fly.File`): its content inline (`raw_value`, base64)
/// or from an app secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineFile {
    /// Absolute path in the machine.
    pub guest_path: String,
    /// Content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_value: Option<String>,
    /// The app secret holding the content (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Permission bits, as `chmod(2)` takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// The machine's process (`fly.MachineInit`): what replaces the image's entrypoint and
/// command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineInit {
    /// Replaces the image's command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Every other field, as Fly sent it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A health check (`fly.MachineCheck`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineCheck {
    /// `http` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The port probed, in the machine.
    pub port: u16,
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Time between probes, such as `15s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time a probe may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Time after start before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<String>,
    /// Every other field, as Fly sent it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// How a machine is stopped (`fly.StopConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopConfig {
    /// The signal sent first, such as `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Time allowed before the process is killed, such as `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// A check's latest result on a machine (`CheckStatus`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// `passing`, `warning` or `critical`.
    pub status: String,
    /// What the probe saw.
    pub output: String,
    /// When the probe last reported (RFC 3339).
    pub updated_at: String,
}

/// Something that happened to a machine (`MachineEvent`): a launch, a start, an exit…
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MachineEvent {
    /// Kind, such as `launch`, `start`, `exit`, `restart`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its status, such as `started` or `stopped`.
    pub status: String,
    /// Who caused it (`flyd`, `user`).
    pub source: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Details; for an exit, `exit_event.exit_code`.
    pub request: Value,
}

impl MachineEvent {
    /// The exit code an `exit` event carries.
    pub fn exit_code(&self) -> Option<i64> {
        self.exit().map(|exit| exit.code)
    }

    /// What an `exit` event tells of the exit (`request.exit_event`, as flyd writes it).
    pub fn exit(&self) -> Option<MachineExit> {
        if self.kind != "exit" {
            return None;
        }
        let exit = self.request.get("exit_event")?;
        let flag = |name: &str| exit.get(name).and_then(Value::as_bool).unwrap_or(false);
        Some(MachineExit {
            code: exit.get("exit_code")?.as_i64()?,
            signal: exit
                .get("signal")
                .and_then(Value::as_i64)
                .filter(|signal| *signal > 0),
            oom_killed: flag("oom_killed"),
            requested_stop: flag("requested_stop"),
            at_ms: self.timestamp,
        })
    }
}

/// An exit of a machine's process, as an `exit` event tells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachineExit {
    /// The exit code (128 + the signal's number for a process a signal ended).
    pub code: i64,
    /// The signal that ended it, when one did.
    pub signal: Option<i64>,
    /// The kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// It exited because it was asked to stop.
    pub requested_stop: bool,
    /// When (milliseconds since the Unix epoch).
    pub at_ms: i64,
}

/// A command run in a machine (`MachineExecRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExecRequest {
    /// Program and arguments; no shell is involved.
    pub command: Vec<String>,
    /// Seconds the command may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Given to the command's standard input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

/// What a command run in a machine did (`flydv1.ExecResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ExecResponse {
    /// Exit code.
    pub exit_code: i64,
    /// The signal that ended it, if one did.
    pub exit_signal: Option<i64>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
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
    /// The latest result of each check.
    pub checks: Vec<CheckStatus>,
    /// Recent events, newest first.
    pub events: Vec<MachineEvent>,
    /// Whether flyd can reach the machine's host: `ok`, `unknown` or `unreachable`.
    pub host_status: String,
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
