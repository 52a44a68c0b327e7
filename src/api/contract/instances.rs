use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::crd::{Phase, ProvisioningStep};
use crate::domain::{
    AiModel, AiProvider, DisplayName, InvalidValue, Region, TelegramBotToken, Timestamp,
};

/// A new assistant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstanceRequest {
    /// Name of the assistant: 1 to 50 characters.
    pub name: DisplayName,
    /// The bot's token from BotFather: 40 to 100 characters, `<digits>:<token>`.
    pub telegram_bot_token: TelegramBotToken,
    /// Fly.io region code; `lax` when absent.
    #[serde(default)]
    pub region: Region,
    /// AI model, one of those the assistant's OpenClaw offers (a refusal lists them);
    /// `claude-sonnet-5` when absent.
    #[serde(default)]
    pub ai_model: AiModel,
    /// Telegram user ids of the people the assistant answers, its owner first. With
    /// any, everyone else is ignored; with none, a stranger gets a pairing code for the
    /// owner to approve (`/instances/{id}/pairing-requests`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(range(min = 1)))]
    pub telegram_user_ids: Vec<i64>,
}

/// Changes to an assistant; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInstanceRequest {
    /// New name: 1 to 50 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DisplayName>,
    /// New bot token: 40 to 100 characters, `<digits>:<token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<TelegramBotToken>,
    /// The region. It cannot change after creation, so only the current value is
    /// accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// New AI model, one of those the assistant's OpenClaw offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<AiModel>,
    /// The Telegram user ids the assistant answers, replacing the list; `[]` opens it
    /// to pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(range(min = 1)))]
    pub telegram_user_ids: Option<Vec<i64>>,
}

impl UpdateInstanceRequest {
    /// Whether the request changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.telegram_bot_token.is_none()
            && self.region.is_none()
            && self.ai_model.is_none()
            && self.telegram_user_ids.is_none()
    }
}

/// An assistant as the web app shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Instance")]
#[schemars(transform = super::require_every_property)]
pub struct InstanceResponse {
    /// Instance id.
    pub id: Uuid,
    /// Id of the owning user.
    pub user_id: Uuid,
    /// Name of the assistant.
    pub name: String,
    /// Where the assistant runs; always `fly`.
    pub provider: String,
    /// Name of the Fly.io app, once created.
    pub fly_app_name: Option<String>,
    /// Id of the Fly.io machine, once created.
    pub fly_machine_id: Option<String>,
    /// Always null: kept for clients of the original API, which had a Docker provider.
    #[schemars(extend("deprecated" = true))]
    pub docker_container_id: Option<String>,
    /// Always null: kept for clients of the original API, which had a Docker provider.
    #[schemars(extend("deprecated" = true))]
    pub docker_port: Option<i32>,
    /// Lifecycle phase.
    pub status: Phase,
    /// Fly.io region code.
    pub region: String,
    /// AI model.
    pub ai_model: String,
    /// Provider serving the model.
    pub ai_provider: AiProvider,
    /// The Telegram user ids the assistant answers; empty when strangers pair.
    pub telegram_user_ids: Vec<i64>,
    /// The bot token, masked: the first 10 characters, `...`, the last 4.
    pub telegram_bot_token: Option<String>,
    /// Private IPv6 address of the machine, once known.
    pub ip_address: Option<String>,
    /// Why billing stopped the instance, as the owner is shown it (`Billing: payment
    /// failed`, `Billing: subscription canceled`, `Billing: plan allows 2 instances`);
    /// null when billing did not stop it.
    pub stop_reason: Option<String>,
    /// When the instance was created.
    pub created_at: Timestamp,
    /// When the instance last changed.
    pub updated_at: Timestamp,
    /// Whether the assistant works, and if not why, in words to show; null before the
    /// controller has looked.
    #[serde(default)]
    pub health: Option<HealthView>,
}

/// Whether an assistant works, as the web app shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InstanceHealth")]
#[schemars(transform = super::require_every_property)]
pub struct HealthView {
    /// `healthy`, `unhealthy`, or `unknown` (stopped, or starting).
    pub state: HealthState,
    /// Why, as a stable name: `Healthy`, `Starting`, `CheckFailing`, `CrashLoop`,
    /// `TelegramTokenRejected`, `TelegramConflict`, `OutOfMemory`, `HostFailed`,
    /// `Stopped` or `NotRunning`.
    pub reason: String,
    /// What to tell the owner, when something is wrong (such as "Your Telegram token was
    /// revoked or is wrong: update it with a new token from @BotFather.").
    pub message: Option<String>,
    /// Whether only the owner can mend it (a new token, another poller stopped).
    pub owner_action_needed: bool,
    /// Since when it is so.
    pub since: Option<Timestamp>,
    /// How many times the assistant crashed and was started again.
    pub restarts: u32,
}

/// Whether an assistant works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// It answers.
    Healthy,
    /// Something is wrong; see the message.
    Unhealthy,
    /// Not running, or starting.
    Unknown,
}

/// The caller's assistants, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct InstanceList(pub Vec<InstanceResponse>);

/// How far provisioning of an instance has come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct ProvisioningStatusResponse {
    /// Instance id.
    pub instance_id: Uuid,
    /// Lifecycle phase.
    pub status: Phase,
    /// Whether the assistant is usable: its machine is in the desired power state.
    pub ready: bool,
    /// The last error or notice, when there is one.
    pub message: Option<String>,
    /// The provisioning steps in order.
    pub steps: Vec<ProvisioningStep>,
    /// Whether the assistant works, and if not why; null before the controller has
    /// looked.
    #[serde(default)]
    pub health: Option<HealthView>,
}

/// A token to check with Telegram.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ValidateTelegramTokenRequest {
    /// The token to check.
    pub token: TokenToCheck,
}

/// The outcome of checking a token with Telegram. A token Telegram refuses is not an
/// error of the request: the answer is `valid: false` with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateTelegramTokenResponse {
    /// Whether Telegram accepted the token.
    pub valid: bool,
    /// The bot's username, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub bot_username: Option<String>,
    /// The bot's display name, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub bot_name: Option<String>,
    /// Why the token is not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub error: Option<String>,
}

/// A token someone wants checked: any non-empty text up to 200 characters, since
/// telling them what is wrong with it is the point. `Debug` prints nothing of it.
#[derive(Clone)]
pub struct TokenToCheck(SecretString);

impl TokenToCheck {
    /// The most characters accepted.
    pub const MAX_CHARS: usize = 200;

    /// Takes a token to check.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = SecretString::from(value.into());
        match value.expose_secret().chars().count() {
            0 => Err(InvalidValue::new("Token is required")),
            n if n > Self::MAX_CHARS => Err(InvalidValue::new(format!(
                "Token must be {} characters or less",
                Self::MAX_CHARS
            ))),
            _ => Ok(Self(value)),
        }
    }

    /// The token itself, to send to Telegram.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for TokenToCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenToCheck([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for TokenToCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Serializes the token itself, for the typed client's requests.
impl Serialize for TokenToCheck {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl JsonSchema for TokenToCheck {
    fn schema_name() -> Cow<'static, str> {
        "TokenToCheck".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": Self::MAX_CHARS,
            "writeOnly": true,
        })
    }
}

/// The strangers waiting for the owner's approval, as the assistant listed them just now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct PairingRequestList {
    /// Pending requests, oldest first.
    pub requests: Vec<PairingRequestView>,
    /// When the assistant listed them (RFC 3339), if it has.
    pub listed_at: Option<String>,
}

/// A stranger who wrote to the assistant and got a pairing code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct PairingRequestView {
    /// The code the stranger got; approve it to let them in.
    pub code: String,
    /// Their Telegram user id.
    pub telegram_user_id: String,
    /// Their Telegram username, if they have one.
    pub username: Option<String>,
    /// Their first name.
    pub first_name: Option<String>,
    /// When they first wrote (RFC 3339).
    pub requested_at: Option<String>,
}

/// An approved pairing code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct PairingApprovalResponse {
    /// The code.
    pub code: String,
    /// The Telegram user now let in.
    pub telegram_user_id: Option<String>,
}
