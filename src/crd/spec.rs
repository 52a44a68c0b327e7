use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::InstanceStatus;
use crate::domain::{AiModel, AiProvider, DisplayName, Region};

/// Desired state of an OpenClaw assistant: one Telegram bot answered by one AI model,
/// running on its own Fly.io app and machine.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) names its own type_"
)]
#[kube(
    group = "fasterclaw.io",
    version = "v1alpha1",
    kind = "Instance",
    namespaced,
    status = "InstanceStatus",
    shortname = "fci",
    category = "fasterclaw",
    derive = "PartialEq",
    doc = "An OpenClaw assistant (a Telegram bot backed by an AI model) that FasterClaw runs on its own Fly.io app and machine.",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase of the instance"
    ),
    printcolumn(
        name = "Health",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Healthy\")].reason",
        description = "Why the gateway is healthy or not: Healthy, Starting, CheckFailing, CrashLoop, TelegramTokenRejected, TelegramConflict, OutOfMemory, HostFailed, Stopped, NotRunning"
    ),
    printcolumn(
        name = "Restarts",
        type_ = "integer",
        json_path = ".status.restarts",
        description = "Exits of the gateway nobody asked for",
        priority = 1
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".status.region",
        description = "Fly.io region the machine runs in: spec.region, or a fallback region when it was full"
    ),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".spec.aiModel",
        description = "AI model answering the bot"
    ),
    printcolumn(
        name = "IP",
        type_ = "string",
        json_path = ".status.ipAddress",
        description = "Private IPv6 address of the machine"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(self.aiProvider) || self.aiProvider == (self.aiModel.startsWith('claude-') ? 'anthropic' : self.aiModel.startsWith('gemini-') ? 'google' : 'openai')"
).message("aiProvider must be the provider of aiModel's family: gpt- and o1- are openai, claude- is anthropic, gemini- is google"))]
#[x_kube(validation = Rule::new(
    "!has(self.fallbackRegions) || !(self.region in self.fallbackRegions)"
).message("fallbackRegions must not repeat region"))]
#[serde(rename_all = "camelCase")]
pub struct InstanceSpec {
    /// Name of the assistant as its owner sees it in the web app: 1 to 50 characters.
    pub display_name: DisplayName,

    /// Id of the FasterClaw user who owns this instance.
    #[schemars(length(min = 1, max = 128))]
    pub owner_id: String,

    /// Fly.io region code the machine runs in, such as `lax`, `iad` or `lhr`. Fixed at
    /// creation: moving an assistant means creating a new Instance.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region cannot change after creation"))]
    pub region: Region,

    /// Regions to use, in order, when `region` has no room for the assistant's volume or
    /// machine (or the organization's quota there is spent). The region the assistant
    /// actually runs in is `status.region`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub fallback_regions: Vec<Region>,

    /// Size of the volume holding the assistant's state (memory, sessions, pairing
    /// approvals), in GB. When absent the controller's `VOLUME_SIZE_GB` is used. It can
    /// grow (the volume is extended) but never shrink.
    #[serde(rename = "storageGB", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    #[x_kube(validation = Rule::new("self >= oldSelf").message("storageGB can only grow: a Fly.io volume cannot shrink"))]
    pub storage_gb: Option<u32>,

    /// AI model that answers the bot. It must start with `gpt-`, `claude-`, `gemini-` or
    /// `o1-`; the prefix also selects the provider.
    #[serde(default)]
    pub ai_model: AiModel,

    /// Provider serving the model: `openai`, `anthropic` or `google`. When absent it is
    /// derived from the model's prefix; when present it must agree with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::optional_enum::<AiProvider>")]
    pub ai_provider: Option<AiProvider>,

    /// Telegram user ids of the people the assistant answers, its owner first (a
    /// Telegram user id is a number; @userinfobot tells one). With any, direct messages
    /// from everyone else are dropped (`dmPolicy: allowlist`); with none, a stranger who
    /// writes gets a pairing code for the owner to approve (`dmPolicy: pairing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.all(id, id > 0)").message("telegramUserIds are positive Telegram user ids"))]
    pub telegram_user_ids: Vec<i64>,

    /// Whether the machine should be running (`Running`) or stopped (`Stopped`).
    #[serde(default)]
    pub power_state: PowerState,

    /// Size of the machine (CPUs and memory). When absent the controller's
    /// `MACHINE_CPU_KIND`, `MACHINE_CPUS` and `MACHINE_MEMORY_MB` are used. The facade sets
    /// the size of the owner's plan. A change reaches the machine at the controller's
    /// next update of it (one restart); the gateway's heap follows the memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineSize>,

    /// Where the controller reads the Telegram bot token: exactly one source.
    pub telegram_token: TelegramTokenSource,

    /// What happens to the Fly.io app and machine when this Instance is deleted:
    /// `Delete` destroys them, `Orphan` leaves them running untouched.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Container image of the assistant. When absent the controller's configured
    /// OpenClaw image is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// A Fly.io app (and machine) that exist already and that this Instance takes over
    /// instead of creating its own, as `fasterclaw import-original` sets it for bots the
    /// original system made: only an app of the original's name form, carrying no other
    /// Instance's marker, is taken over. The controller marks the app as this Instance's,
    /// moves the Telegram token and the provider key from the machine's env into the
    /// app's secrets and updates the machine in place (one restart); with
    /// `deletionPolicy: Delete` the app goes with the Instance. Set at creation; it
    /// cannot change afterwards. Only the import's identity should be allowed to set it
    /// (see the chart's admission policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("adopt cannot change after creation"))]
    pub adopt: Option<Adoption>,
}

/// Fly.io resources an Instance takes over.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Adoption {
    /// Name of the Fly.io app, in the controller's organization: an app the original
    /// system made, `openclaw-<8 characters of its owner's id>-<milliseconds>`.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^openclaw-[a-z0-9]{1,8}-[0-9]{10,16}$")
    )]
    pub app_name: String,

    /// Id of the app's machine to keep. When absent the controller looks for the
    /// machine by its tags, and creates one if there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9]+$"))]
    pub machine_id: Option<String>,
}

impl InstanceSpec {
    /// The provider serving the model: the explicit one, or the one its prefix names.
    pub fn effective_provider(&self) -> AiProvider {
        self.ai_provider.unwrap_or_else(|| self.ai_model.provider())
    }
}

/// The size of an assistant's machine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.memoryMB % 256 == 0").message("memoryMB must be a multiple of 256"))]
#[serde(rename_all = "camelCase")]
pub struct MachineSize {
    /// `shared` or `performance` CPUs.
    pub cpu_kind: CpuKind,
    /// Number of CPUs.
    #[schemars(range(min = 1, max = 16))]
    pub cpus: u32,
    /// Memory in MB: a multiple of 256, at least 1024 (OpenClaw's gateway alone takes
    /// about 1 GB).
    #[serde(rename = "memoryMB")]
    #[schemars(range(min = 1024, max = 131072))]
    pub memory_mb: u32,
}

/// The kind of a machine's CPUs, as Fly.io names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CpuKind {
    /// Shared CPUs.
    Shared,
    /// Dedicated CPUs.
    Performance,
}

impl CpuKind {
    /// The name Fly.io's machine configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Performance => "performance",
        }
    }
}

/// The power state an Instance asks for.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PowerState {
    /// The machine runs and the bot answers.
    #[default]
    Running,
    /// The machine is stopped; the app, its secrets and the machine are kept.
    Stopped,
}

/// What deleting an Instance does to what it created on Fly.io.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Destroy the machine and the app, and forget the stored token.
    #[default]
    Delete,
    /// Leave the app and machine on Fly.io as they are; only the Instance goes.
    Orphan,
}

/// Where the Telegram bot token comes from. Exactly one field is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
// Written as a conditional rather than `has(a) != has(b)`: Kubernetes 1.25's CEL cost
// estimator refuses the inequality of two `has()` calls as far over its budget.
#[x_kube(validation = Rule::new("has(self.storedSecretId) ? !has(self.secretKeyRef) : has(self.secretKeyRef)")
    .message("exactly one of storedSecretId or secretKeyRef must be set"))]
#[serde(rename_all = "camelCase")]
pub struct TelegramTokenSource {
    /// Id of the token the FasterClaw API stored, encrypted, in its database. The web
    /// app's instances use this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    pub stored_secret_id: Option<uuid::Uuid>,

    /// A key of a Kubernetes Secret in the Instance's namespace that holds the token.
    /// Operators who `kubectl apply` Instances use this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// A key in a Kubernetes Secret of the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data whose value is the token.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
