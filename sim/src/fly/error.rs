//! Errors as the Machines API writes them: `{"error": "...", "status": "<code>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer. `code` is the spec's `main.statusCode` when Fly sends one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// Machine-readable code (`name_taken`, `unknown`, ...).
    pub code: Option<&'static str>,
}

impl ApiError {
    /// An error with no machine-readable code.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
        }
    }

    /// The same error with a machine-readable code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 for an app.
    pub fn app_not_found(app: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Could not find App \"{app}\""),
        )
    }

    /// 404 for a machine.
    pub fn machine_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("machine not found: {id}"))
    }

    /// 412 for an action the machine's state does not allow.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.code {
            Some(code) => json!({ "error": self.message, "status": code }),
            None => json!({ "error": self.message }),
        };
        (self.status, Json(body)).into_response()
    }
}
