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

/// A capacity answer of Fly.io, recognised by its body: 409 and 412 are also version
/// preconditions, and 400 and 403 also plain refusals, so the status alone says nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shortage {
    /// The host holding the machine's volume has no room for the machine (412
    /// `insufficient resources … with existing volume`): the volume must move.
    HostFull,
    /// The region has no room now (409 `insufficient memory`, 400 `no capacity`,
    /// `insufficient_capacity`, `volume_placement_capacity`).
    NoCapacity,
    /// The organization may not place more there (403 `over the allowed quota`).
    Quota,
}

impl Shortage {
    /// A word for metrics and Events.
    pub fn as_str(self) -> &'static str {
        match self {
            Shortage::HostFull => "host_full",
            Shortage::NoCapacity => "no_capacity",
            Shortage::Quota => "quota",
        }
    }
}

/// Why a Fly call failed. Messages name the operation and never carry a secret.
#[derive(Clone, Debug, thiserror::Error)]
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

    /// The capacity shortage this answer tells of, read from its body.
    pub fn shortage(&self) -> Option<Shortage> {
        let FlyError::Api {
            status,
            code,
            message,
            ..
        } = self
        else {
            return None;
        };
        let text = message.to_ascii_lowercase();
        if matches!(
            code,
            Some(FlyErrorCode::InsufficientCapacity | FlyErrorCode::VolumePlacementCapacity)
        ) {
            return Some(if text.contains("existing volume") {
                Shortage::HostFull
            } else {
                Shortage::NoCapacity
            });
        }
        match status {
            412 if text.contains("insufficient resources") => Some(Shortage::HostFull),
            409 if text.contains("insufficient memory") || text.contains("insufficient cpu") => {
                Some(Shortage::NoCapacity)
            }
            400 | 409 | 412 | 422 if text.contains("no capacity") => Some(Shortage::NoCapacity),
            403 if text.contains("over the allowed quota") => Some(Shortage::Quota),
            _ => None,
        }
    }

    /// Whether the request can never succeed as it is: invalid input or credentials.
    /// Capacity shortages are not terminal; they pass (or another region has room).
    pub fn is_terminal(&self) -> bool {
        match self {
            FlyError::Api { status, .. } => {
                matches!(status, 400 | 401 | 403 | 422) && self.shortage().is_none()
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
    fn shortages_are_read_from_the_body_not_the_status() {
        let answer = |status: u16, code: Option<FlyErrorCode>, message: &str| FlyError::Api {
            operation: "Machines_create",
            status,
            code,
            message: message.to_owned(),
        };
        let table = [
            (
                answer(
                    412,
                    None,
                    "insufficient resources to create new machine with existing volume 'vol_123'",
                ),
                Some(Shortage::HostFull),
            ),
            (answer(412, None, "machine not in a state to start"), None),
            (
                answer(
                    409,
                    None,
                    "insufficient memory available to fulfill request",
                ),
                Some(Shortage::NoCapacity),
            ),
            (
                answer(
                    409,
                    None,
                    "machine version mismatch: current_version is stale",
                ),
                None,
            ),
            (
                answer(400, Some(FlyErrorCode::VolumePlacementCapacity), "x"),
                Some(Shortage::NoCapacity),
            ),
            (
                answer(400, None, "no capacity available in iad"),
                Some(Shortage::NoCapacity),
            ),
            (
                answer(
                    403,
                    None,
                    "Your organization is over the allowed quota for volumes",
                ),
                Some(Shortage::Quota),
            ),
            (answer(403, None, "forbidden"), None),
        ];
        for (error, expected) in table {
            assert_eq!(error.shortage(), expected, "{error}");
            assert_eq!(
                error.is_terminal(),
                expected.is_none() && matches!(error.status(), Some(400 | 403)),
                "{error}"
            );
        }
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
