//! How a reconcile ends, and what stops one half way: a problem only the Instance's
//! owner (or operator) can fix, reported and waited on, or an error that may pass,
//! retried with backoff. Which one a Fly.io failure is, is decided here.

use super::error::Error;
use crate::crd::SyncedReason;
use crate::fly::{FlyError, FlyErrorCode};

/// Something only the owner or the operator can fix, with what to tell them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The `Synced` reason.
    pub reason: SyncedReason,
    /// What happened and what to do.
    pub message: String,
}

impl Problem {
    /// A problem with `reason`, told as `message`.
    pub fn new(reason: SyncedReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// Whether it makes the Instance FAILED: only a spec change or a retry starts it
    /// over. Other problems wait for what they name (a Secret, a setting).
    pub fn fails(&self) -> bool {
        self.reason.fails()
    }
}

/// How a reconcile ended, as its status reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Fly.io is as the spec asks, or on its way there.
    Synced,
    /// The Instance is paused; nothing was written to Fly.io.
    Paused,
    /// Something stops the reconcile until it changes.
    Problem(Problem),
    /// Something failed that may pass: the reconcile is retried with backoff.
    Error(String),
}

impl Outcome {
    /// The `Synced` reason it reports.
    pub fn reason(&self) -> SyncedReason {
        match self {
            Outcome::Synced => SyncedReason::ReconcileSuccess,
            Outcome::Paused => SyncedReason::ReconcilePaused,
            Outcome::Problem(problem) => problem.reason,
            Outcome::Error(_) => SyncedReason::ReconcileError,
        }
    }

    /// Whether it makes the Instance FAILED.
    pub fn fails(&self) -> bool {
        matches!(self, Outcome::Problem(p) if p.fails())
    }
}

/// What stops a reconcile half way.
#[derive(Debug)]
pub enum Halt {
    /// A problem to report and wait on.
    Problem(Problem),
    /// An error to report and retry with backoff.
    Error(Error),
}

impl Halt {
    /// What a Fly.io call's failure means: a problem the owner must fix when Fly.io
    /// refused the request, else an error to retry.
    pub fn refused(error: FlyError) -> Self {
        match refusal(&error) {
            Some(problem) => Halt::Problem(problem),
            None => Halt::Error(error.into()),
        }
    }
}

impl From<Problem> for Halt {
    fn from(problem: Problem) -> Self {
        Halt::Problem(problem)
    }
}

impl<E: Into<Error>> From<E> for Halt {
    fn from(error: E) -> Self {
        Halt::Error(error.into())
    }
}

/// A Fly.io failure that more retries will not fix: a refused request.
fn refusal(error: &FlyError) -> Option<Problem> {
    if error.shortage().is_some() {
        // Capacity passes, or another region has room: not a refusal.
        return None;
    }
    match error {
        FlyError::Api {
            code: Some(FlyErrorCode::NameTaken),
            ..
        } => Some(Problem::new(
            SyncedReason::AppNameConflict,
            format!("{error}: the app name belongs to another Fly.io organization"),
        )),
        FlyError::Api {
            status: 401 | 403, ..
        } => Some(Problem::new(
            SyncedReason::FlyUnauthorized,
            format!("{error}: check FLY_API_TOKEN and FLY_ORG_SLUG on the controller"),
        )),
        e if e.is_terminal() => Some(Problem::new(
            SyncedReason::FlyRejected,
            format!("{error}; fix the spec (or the controller's settings), then retry"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<FlyErrorCode>) -> FlyError {
        FlyError::Api {
            operation: "Apps_create",
            status,
            code,
            message: "refused".to_owned(),
        }
    }

    #[test]
    fn fly_failures_are_problems_or_errors() {
        let table = [
            (
                api(422, Some(FlyErrorCode::NameTaken)),
                Some(SyncedReason::AppNameConflict),
            ),
            (api(401, None), Some(SyncedReason::FlyUnauthorized)),
            (api(403, None), Some(SyncedReason::FlyUnauthorized)),
            (api(422, None), Some(SyncedReason::FlyRejected)),
            (api(500, None), None),
            (api(429, None), None),
        ];
        for (error, reason) in table {
            let shown = error.to_string();
            match (Halt::refused(error), reason) {
                (Halt::Problem(p), Some(reason)) => {
                    assert_eq!(p.reason, reason, "{shown}");
                    assert!(p.message.starts_with(&shown));
                }
                (Halt::Error(_), None) => {}
                (halt, reason) => panic!("{shown}: {halt:?}, wanted {reason:?}"),
            }
        }
    }

    #[test]
    fn only_failing_reasons_fail() {
        assert!(Outcome::Problem(Problem::new(SyncedReason::Timeout, "")).fails());
        assert!(!Outcome::Problem(Problem::new(SyncedReason::TokenUnavailable, "")).fails());
        assert!(!Outcome::Error("x".to_owned()).fails());
        assert_eq!(
            Outcome::Error("x".to_owned()).reason(),
            SyncedReason::ReconcileError
        );
    }
}
