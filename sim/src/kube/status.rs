//! Errors as the API server writes them: `Status` objects with the real reason and code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::cause::Cause;
use super::resources::ResourceType;

/// A failure answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub code: StatusCode,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...
    pub reason: &'static str,
    /// The message.
    pub message: String,
    /// `details`, when the error concerns one object.
    pub details: Option<Value>,
    /// Answered as the plain text `404 page not found`, as the server's mux answers
    /// paths that serve nothing, rather than as a `Status`.
    pub plain_text: bool,
}

impl ApiError {
    fn with(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            plain_text: false,
        }
    }

    fn details(mut self, name: &str, resource: &ResourceType) -> Self {
        self.details = Some(details(name, &resource.group, &resource.plural));
        self
    }

    /// 404 NotFound.
    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        Self::with(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", resource.qualified_plural()),
        )
        .details(name, resource)
    }

    /// 404 for a path that serves nothing: the plain text `404 page not found`.
    pub fn no_route() -> Self {
        let mut error = Self::with(StatusCode::NOT_FOUND, "NotFound", "404 page not found");
        error.plain_text = true;
        error
    }

    /// 422 Invalid for request options (`ListOptions`, `DeleteOptions`), which name no
    /// object.
    pub fn invalid_options(kind: &str, causes: Vec<Cause>) -> Self {
        let mut error = Self::invalid_object(&format!("{kind}.meta.k8s.io \"\""), &causes);
        error.details =
            Some(json!({ "group": "meta.k8s.io", "kind": kind, "causes": cause_values(&causes) }));
        error
    }

    /// 422 Invalid for a patch whose result is not an object of the resource.
    pub fn invalid_patch(patched: &str, why: &str) -> Self {
        let causes = vec![Cause::new(
            "FieldValueInvalid",
            "patch",
            format!(
                "Invalid value: {}: {why}",
                Value::String(patched.to_owned())
            ),
        )];
        let mut error = Self::invalid_object(" \"\"", &causes);
        error.details = Some(json!({ "causes": cause_values(&causes) }));
        error
    }

    fn invalid_object(subject: &str, causes: &[Cause]) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let listed = if summary.len() == 1 {
            summary[0].clone()
        } else {
            format!("[{}]", summary.join(", "))
        };
        Self::with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{subject} is invalid: {listed}"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        Self::with(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", resource.qualified_plural()),
        )
        .details(name, resource)
    }

    /// 409 Conflict on a stale resourceVersion or precondition.
    pub fn conflict(resource: &ResourceType, name: &str, why: &str) -> Self {
        Self::with(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                resource.qualified_plural()
            ),
        )
        .details(name, resource)
    }

    /// 409 Conflict from server-side apply, with one cause per contested field.
    pub fn apply_conflict(
        resource: &ResourceType,
        name: &str,
        conflicts: &[(String, String)],
    ) -> Self {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(manager, field)| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{manager}\": {field}"),
                    "field": field,
                })
            })
            .collect();
        let summary: Vec<String> = conflicts
            .iter()
            .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
            .collect();
        let mut error = Self::with(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                summary.join("\n")
            ),
        );
        let mut details = details(name, &resource.group, &resource.plural);
        details["causes"] = json!(causes);
        error.details = Some(details);
        error
    }

    /// 410 Expired: a resourceVersion older than the server keeps.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::with(StatusCode::GONE, "Expired", message)
    }

    /// 422 Invalid, with a cause per field.
    pub fn invalid(resource: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        Self::invalid_kind(&resource.kind, resource, name, causes)
    }

    /// 422 Invalid for an object whose body names `kind` (which may not be the
    /// resource's own, when that is what is wrong).
    pub fn invalid_kind(
        kind: &str,
        resource: &ResourceType,
        name: &str,
        causes: Vec<Cause>,
    ) -> Self {
        // Core objects are named without their (empty) group: `Event "e" is invalid`.
        let subject = if resource.group.is_empty() {
            format!("{kind} \"{name}\"")
        } else {
            format!("{kind}.{} \"{name}\"", resource.group)
        };
        let mut error = Self::invalid_object(&subject, &causes);
        let mut details = details(name, &resource.group, kind);
        details["causes"] = json!(cause_values(&causes));
        error.details = Some(details);
        error
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::with(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::with(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::with(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 422 Invalid with no detail, as a JSON patch that cannot be applied is answered.
    pub fn rejected() -> Self {
        Self::with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
    }

    /// 504 Timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::with(StatusCode::GATEWAY_TIMEOUT, "Timeout", message)
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::with(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// 429 TooManyRequests.
    pub fn too_many_requests() -> Self {
        Self::with(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many requests, please try again later",
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code.as_u16(),
        });
        if !self.reason.is_empty() {
            status["reason"] = json!(self.reason);
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// `details` of a `Status`, leaving out what is empty as the real server does.
fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut details = json!({});
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details["kind"] = json!(kind);
    details
}

fn cause_values(causes: &[Cause]) -> Vec<Value> {
    causes
        .iter()
        .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.plain_text {
            return (
                self.code,
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                format!("{}\n", self.message),
            )
                .into_response();
        }
        let mut response = (self.code, Json(self.to_status())).into_response();
        if self.code == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// A `Status` of success, as deletes answer when the object is gone.
pub fn success(resource: &ResourceType, name: &str, uid: &str) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    });
    let mut details = details(name, &resource.group, &resource.plural);
    details["uid"] = json!(uid);
    status["details"] = details;
    status
}
