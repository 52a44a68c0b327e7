use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;

/// The body of every error response: one message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ApiError")]
pub struct ErrorBody {
    /// What went wrong, in words the web app can show as they are.
    pub error: String,
}

impl ErrorBody {
    /// An error body with this message.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
        }
    }
}

/// A confirmation with a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ApiMessage")]
pub struct MessageResponse {
    /// What was done.
    pub message: String,
}

/// A confirmation that an operation succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ApiSuccess")]
pub struct SuccessResponse {
    /// Always `true`.
    pub success: bool,
}

/// Whether the service is up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthResponse {
    /// Always `ok` when the service answers.
    pub status: HealthStatus,
    /// The server's current time.
    pub timestamp: Timestamp,
}

/// The health status value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The service answers.
    Ok,
}

/// Whether the service can serve: its database answers and its Instance cache is filled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadyResponse {
    /// Always `ready` when the answer is 200.
    pub status: String,
}
