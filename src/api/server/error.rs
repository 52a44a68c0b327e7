//! The facade's errors: each becomes `{"error": "<message>"}` with the original API's
//! status codes, a message a person can act on, and never SQL text or a stack trace.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::passwords::HashError;
use crate::db::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The message for people.
    pub message: String,
    /// For validation errors: each problem, `field: rule`.
    pub details: Vec<String>,
    /// For 429 and a busy 503: seconds to wait.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 for an invalid body: the message and each detail name the field and the rule.
    pub fn invalid(details: Vec<String>) -> Self {
        let message = details.join("; ");
        Self {
            details,
            ..Self::bad_request(message)
        }
    }

    /// 401 `Unauthorized`, as the original answered any authentication failure.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 `Instance not found`.
    pub fn instance_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Instance not found")
    }

    /// 409 with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 429, to retry after `seconds`.
    pub fn too_many(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts; try again in {} seconds", seconds.max(1)),
            )
        }
    }

    /// 500: the cause is logged, never shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// 503: a service the facade depends on cannot be reached.
    pub fn unavailable(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, service = what, "a dependency failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{what} is unavailable; try again shortly"),
        )
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self {
                retry_after: Some(1),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many sign-ins at once; try again in a second",
                )
            },
            HashError::Failed(_) => Self::internal(&e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Connect(_) => Self::unavailable("The database", &e),
            _ => Self::internal(&e),
        }
    }
}

impl From<kube::Error> for ApiError {
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(status) if status.code < 500 && status.code != 429 => {
                Self::internal(&e)
            }
            _ => Self::unavailable("Kubernetes", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if !self.details.is_empty() {
            body["details"] = json!(self.details);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
