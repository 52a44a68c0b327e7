use std::fmt;

/// Fly's machine-readable error codes (`ErrorResponse.status` in the spec).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FlyErrorCode {
    /// The app name is in use (by us or by someone else).
    NameTaken,
    /// No capacity in the region; retry later or elsewhere.
    InsufficientCapacity,
    /// No capacity to place the volume.
    VolumePlacementCapacity,
    /// Fly's catch-all.
    Unknown,
    /// A code this client does not know.
    Other(String),
}

impl FlyErrorCode {
    /// Reads the `status` field of an error body.
    pub fn parse(code: &str) -> Self {
        match code {
            "name_taken" => FlyErrorCode::NameTaken,
            "insufficient_capacity" => FlyErrorCode::InsufficientCapacity,
            "volume_placement_capacity" => FlyErrorCode::VolumePlacementCapacity,
            "unknown" => FlyErrorCode::Unknown,
            other => FlyErrorCode::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FlyErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlyErrorCode::NameTaken => "name_taken",
            FlyErrorCode::InsufficientCapacity => "insufficient_capacity",
            FlyErrorCode::VolumePlacementCapacity => "volume_placement_capacity",
            FlyErrorCode::Unknown => "unknown",
            FlyErrorCode::Other(code) => code,
        })
    }
}

/// Why a Fly call failed. Messages name the operation and never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum FlyError {
    /// Fly answered with an error status.
    #[error("{operation}: Fly.io answered {status}{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// The operation, as the spec names it (`Machines_create`).
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// Fly's error code, when it sent one.
        code: Option<FlyErrorCode>,
        /// Fly's message.
        message: String,
    },
    /// The request did not reach Fly, or the response was cut off.
    #[error("{operation}: cannot reach Fly.io: {message}")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// What failed.
        message: String,
    },
    /// Fly answered 2xx with a body this client cannot read.
    #[error("{operation}: unexpected response from Fly.io: {message}")]
    InvalidResponse {
        /// The operation.
        operation: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The client is misconfigured.
    #[error("Fly.io client configuration: {0}")]
    Config(String),
}

impl FlyError {
    /// The HTTP status Fly answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FlyError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Fly's error code, if it sent one.
    pub fn code(&self) -> Option<&FlyErrorCode> {
        match self {
            FlyError::Api { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// Whether trying again may succeed: transport failures, cut-off responses, and
    /// 408, 429 and 5xx answers.
    pub fn is_retryable(&self) -> bool {
        match self {
            FlyError::Transport { .. } => true,
            FlyError::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
            FlyError::InvalidResponse { .. } | FlyError::Config(_) => false,
        }
    }

    /// Whether the request can never succeed as it is: invalid input or credentials.
    /// Capacity shortages are not terminal; they pass.
    pub fn is_terminal(&self) -> bool {
        match self {
            FlyError::Api { status, code, .. } => {
                matches!(status, 400 | 401 | 403 | 422)
                    && !matches!(
                        code,
                        Some(
                            FlyErrorCode::InsufficientCapacity
                                | FlyErrorCode::VolumePlacementCapacity
                        )
                    )
            }
            FlyError::Config(_) => true,
            FlyError::Transport { .. } | FlyError::InvalidResponse { .. } => false,
        }
    }

    /// Whether the app or machine does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether Fly refused because of a conflict (a stale `current_version`, a name in
    /// use).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409) || self.code() == Some(&FlyErrorCode::NameTaken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<FlyErrorCode>) -> FlyError {
        FlyError::Api {
            operation: "Machines_create",
            status,
            code,
            message: "x".into(),
        }
    }

    #[test]
    fn classifies_statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(api(status, None).is_retryable(), "{status}");
            assert!(!api(status, None).is_terminal(), "{status}");
        }
        for status in [400, 401, 403, 422] {
            assert!(!api(status, None).is_retryable(), "{status}");
            assert!(api(status, None).is_terminal(), "{status}");
        }
        assert!(api(404, None).is_not_found());
        assert!(!api(404, None).is_retryable() && !api(404, None).is_terminal());
        assert!(!api(422, Some(FlyErrorCode::InsufficientCapacity)).is_terminal());
        assert!(api(422, Some(FlyErrorCode::NameTaken)).is_conflict());
        let transport = FlyError::Transport {
            operation: "Apps_show",
            message: "reset".into(),
        };
        assert!(transport.is_retryable());
    }

    #[test]
    fn messages_name_the_operation_and_code() {
        let message = api(422, Some(FlyErrorCode::NameTaken)).to_string();
        assert_eq!(
            message,
            "Machines_create: Fly.io answered 422 (name_taken): x"
        );
    }
}
