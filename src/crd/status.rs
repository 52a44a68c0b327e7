use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;

/// Observed state of an Instance, written only by the controller.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Lifecycle phase, one of CREATING, PROVISIONING, STARTING, RUNNING, STOPPING,
    /// STOPPED, FAILED, DELETED or UNKNOWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::optional_enum::<Phase>")]
    pub phase: Option<Phase>,

    /// Name of the Fly.io app that holds this instance's machine and secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fly_app_name: Option<String>,

    /// Id of the Fly.io machine running the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fly_machine_id: Option<String>,

    /// Private (6PN) IPv6 address of the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,

    /// Region the machine actually runs in, as Fly.io reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// The `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (the assistant is usable), `Synced` (the last reconcile succeeded) and
    /// `Healthy` (its gateway works), each with a reason and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The last error or notice for people, such as a Fly.io error or a missing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// When the Instance last began moving toward its spec (created, changed, retried,
    /// or found away from it) without reaching it since; unset while it is Ready. A
    /// move that outlasts the controller's transition timeout is FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressing_since: Option<Timestamp>,

    /// The provisioning steps in order, each with its state and times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub provisioning_steps: Vec<ProvisioningStep>,

    /// The value of the `fasterclaw.io/reconcile-requested-at` annotation that the
    /// controller last acted on; a changed annotation asks for an immediate sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,

    /// The value of the `fasterclaw.io/retry-requested-at` annotation that the
    /// controller last acted on; a changed annotation starts a FAILED Instance over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_retry_at: Option<String>,

    /// SHA-256 digest (hex, truncated) of the app secrets last written to Fly.io, so a
    /// changed token or key is noticed without reading them back. Never the secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub secrets_digest: Option<String>,

    /// The Fly.io app secrets version those secrets were written as; the machine is
    /// started with at least this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_version: Option<u64>,

    /// Id of the encryption key the gateway token in those secrets was derived with:
    /// the token stays the same through a key rotation until that key is retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub gateway_token_key: Option<String>,

    /// Pairing: the strangers waiting for the owner's approval (listed when a reconcile
    /// is requested) and the last approval the controller carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing: Option<PairingStatus>,

    /// The volume holding the assistant's state (OpenClaw's state directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<super::VolumeStatus>,

    /// The volume's latest snapshots, newest first: what a restore can go back to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub snapshots: Vec<super::SnapshotStatus>,

    /// When the snapshots were listed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots_listed_at: Option<String>,

    /// Volumes the assistant moved off (a restore, a move to another region), kept for
    /// a while so the move can be undone with `fasterclaw.io/restore`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub retained_volumes: Vec<super::RetainedVolume>,

    /// What became of the last `fasterclaw.io/restore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<super::RestoreStatus>,

    /// The gateway's last exit that nobody asked for (a crash, a kill, an OOM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<super::ExitRecord>,

    /// How many times the gateway exited without being asked to, since the Instance
    /// was created (Fly.io or the controller started it again each time).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,

    /// When the exits inside the crash-loop window happened (RFC 3339), newest first:
    /// as many of them as the controller's bound makes the Instance FAILED `CrashLoop`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub recent_exits: Vec<String>,

    /// The controller's last heal of the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heal: Option<super::HealRecord>,

    /// The image the machine runs, as Fly.io reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// The last change of the machine's image: from what, to what, the snapshot taken
    /// before, and whether the gateway became healthy on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<super::UpgradeStatus>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Pairing requests and approvals, as the assistant's OpenClaw reports them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingStatus {
    /// Strangers who wrote and got a code, as last listed.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub pending: Vec<PendingPairing>,

    /// When the pending requests were listed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_at: Option<String>,

    /// Why the last listing failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub list_error: Option<String>,

    /// The last approval asked with the `fasterclaw.io/approve-pairing-code` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<PairingApproval>,
}

/// A stranger waiting for approval.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPairing {
    /// The code the stranger was sent.
    #[schemars(length(max = 16))]
    pub code: String,
    /// The stranger's Telegram user id.
    #[schemars(length(max = 32))]
    pub telegram_user_id: String,
    /// Their Telegram username, if they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub username: Option<String>,
    /// Their first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub first_name: Option<String>,
    /// When they first wrote (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
}

/// What became of an approval.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingApproval {
    /// The code, as the annotation gave it.
    #[schemars(length(max = 64))]
    pub code: String,
    /// `Approved`, `NotPending` (no stranger holds this code), `Invalid` (not a
    /// pairing code) or `Failed` (the machine could not run the approval).
    pub result: ApprovalResult,
    /// The approved stranger's Telegram user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_user_id: Option<String>,
    /// What happened, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    /// When it was handled (RFC 3339).
    pub handled_at: String,
}

/// The result of an approval.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ApprovalResult {
    /// The stranger is let in.
    Approved,
    /// No pending request has this code.
    #[default]
    NotPending,
    /// The annotation holds no pairing code.
    Invalid,
    /// The machine could not carry it out (not running, or the command failed).
    Failed,
}

/// The lifecycle phase of an Instance, with the same nine values the web app knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// Accepted; nothing exists on Fly.io yet.
    Creating,
    /// The Fly.io app, secrets and machine are being set up.
    Provisioning,
    /// The machine is booting.
    Starting,
    /// The machine runs and the bot answers.
    Running,
    /// The machine is shutting down.
    Stopping,
    /// The machine is stopped.
    Stopped,
    /// Provisioning or the machine failed; see `message` and the conditions.
    Failed,
    /// The machine and app are gone.
    Deleted,
    /// The state reported by Fly.io is not one FasterClaw knows.
    Unknown,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 9] = [
        Phase::Creating,
        Phase::Provisioning,
        Phase::Starting,
        Phase::Running,
        Phase::Stopping,
        Phase::Stopped,
        Phase::Failed,
        Phase::Deleted,
        Phase::Unknown,
    ];

    /// The upper-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Creating => "CREATING",
            Phase::Provisioning => "PROVISIONING",
            Phase::Starting => "STARTING",
            Phase::Running => "RUNNING",
            Phase::Stopping => "STOPPING",
            Phase::Stopped => "STOPPED",
            Phase::Failed => "FAILED",
            Phase::Deleted => "DELETED",
            Phase::Unknown => "UNKNOWN",
        }
    }
}

impl InstanceStatus {
    /// A condition by type.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == kind.as_str())
    }
}

/// The condition types an Instance's status carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The assistant is usable: its machine is in the desired power state.
    Ready,
    /// The last reconcile reached Fly.io and applied the spec without error.
    Synced,
    /// The gateway works: it lives, its Telegram channel is ready, it does not crash.
    Healthy,
}

impl ConditionType {
    /// The condition's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Synced => "Synced",
            ConditionType::Healthy => "Healthy",
        }
    }
}

/// One step of provisioning an instance on Fly.io.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningStep {
    /// Which step this is.
    pub name: ProvisioningStepName,
    /// Where the step stands.
    pub state: StepState,
    /// When the step was first attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the step completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Why the step failed or is waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The provisioning steps, in the order the controller takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ProvisioningStepName {
    /// The Fly.io app exists.
    AppCreated,
    /// The app's secrets hold the Telegram token and the provider key.
    SecretsSet,
    /// The machine exists with the desired configuration.
    MachineCreated,
    /// The machine reached the desired power state.
    MachineStarted,
}

/// Where a provisioning step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum StepState {
    /// Not attempted yet.
    Pending,
    /// Attempted, not finished.
    InProgress,
    /// Finished.
    Done,
    /// Failed; see the message.
    Failed,
}
