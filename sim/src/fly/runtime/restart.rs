//! The restart policy (`config.restart`) and its backoff: what follows a process's
//! exit that nobody asked for.

use std::time::Duration;

use serde_json::{Value, json};

/// Fly's default `max_retries` for `on-failure`.
pub const DEFAULT_MAX_RETRIES: u32 = 10;
/// The first restart's delay.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest delay between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run at least this long resets the backoff and the retry count.
pub const STABLE_RUN: Duration = Duration::from_secs(60);

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
}

impl Exit {
    /// From a wait status.
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
        }
    }

    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self.code == Some(0)
    }

    /// The exit code as Fly reports it: the code, else 128 + the signal.
    pub fn code_or_signal(self) -> i32 {
        self.code
            .unwrap_or_else(|| self.signal.map_or(-1, |s| 128 + s))
    }
}

/// A machine's restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Never restart.
    No,
    /// Restart after every exit.
    Always,
    /// Restart after a non-zero exit, at most `max_retries` times in a row.
    OnFailure {
        /// Restarts allowed in a row.
        max_retries: u32,
    },
}

impl Policy {
    /// The policy of a machine config: `on-failure` with 10 retries when none is set.
    pub fn from_config(config: &Value) -> Self {
        let restart = &config["restart"];
        match restart["policy"].as_str() {
            Some("no") => Policy::No,
            Some("always") => Policy::Always,
            _ => Policy::OnFailure {
                max_retries: restart["max_retries"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(DEFAULT_MAX_RETRIES),
            },
        }
    }

    /// Whether an exit is followed by a restart, after `restarts` restarts in a row.
    pub fn restarts_after(self, exit: Exit, restarts: u32) -> bool {
        match self {
            Policy::No => false,
            Policy::Always => true,
            Policy::OnFailure { max_retries } => !exit.success() && restarts < max_retries,
        }
    }
}

/// The restarts in a row and the next delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Restarts since the last stable run or user start.
    pub restarts: u32,
    /// The delay before the next restart.
    pub delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            restarts: 0,
            delay: INITIAL_BACKOFF,
        }
    }
}

impl Backoff {
    /// After a run of `ran`: a stable run starts over.
    pub fn after_run(self, ran: Duration) -> Self {
        if ran >= STABLE_RUN {
            Self::default()
        } else {
            self
        }
    }

    /// Takes one restart: its delay, and the state for the next one.
    pub fn take(self) -> (Duration, Self) {
        (
            self.delay,
            Self {
                restarts: self.restarts + 1,
                delay: (self.delay * 2).min(MAX_BACKOFF),
            },
        )
    }
}

/// The `request` of an `exit` event, as flyd writes it.
pub fn exit_request(
    exit: Exit,
    requested_stop: bool,
    restarting: bool,
    restarts: u32,
    oom_killed: bool,
) -> Value {
    let code = exit.code_or_signal();
    let signal = exit.signal.unwrap_or(-1);
    json!({
        "exit_event": {
            "exit_code": code,
            "guest_exit_code": code,
            "signal": signal,
            "guest_signal": signal,
            "oom_killed": oom_killed,
            "requested_stop": requested_stop,
            "restarting": restarting,
            "exited_at": super::super::world::now_rfc3339(),
        },
        "restart_count": restarts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: Exit = Exit {
        code: Some(78),
        signal: None,
    };
    const OK: Exit = Exit {
        code: Some(0),
        signal: None,
    };

    #[test]
    fn policies() {
        assert_eq!(
            Policy::from_config(&json!({})),
            Policy::OnFailure { max_retries: 10 }
        );
        assert_eq!(
            Policy::from_config(&json!({"restart": {"policy": "on-failure", "max_retries": 2}})),
            Policy::OnFailure { max_retries: 2 }
        );
        assert_eq!(
            Policy::from_config(&json!({"restart": {"policy": "no"}})),
            Policy::No
        );
        let on_failure = Policy::OnFailure { max_retries: 2 };
        assert!(on_failure.restarts_after(FAIL, 1));
        assert!(!on_failure.restarts_after(FAIL, 2));
        assert!(!on_failure.restarts_after(OK, 0));
        assert!(Policy::Always.restarts_after(OK, 100));
        assert!(!Policy::No.restarts_after(FAIL, 0));
        let killed = Exit {
            code: None,
            signal: Some(9),
        };
        assert!(on_failure.restarts_after(killed, 0));
        assert_eq!(killed.code_or_signal(), 137);
    }

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets_after_a_stable_run() {
        let mut backoff = Backoff::default();
        let mut delays = Vec::new();
        for _ in 0..7 {
            let (delay, next) = backoff.take();
            delays.push(delay.as_secs());
            backoff = next;
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff.restarts, 7);
        assert_eq!(backoff.after_run(Duration::from_secs(5)), backoff);
        assert_eq!(
            backoff.after_run(Duration::from_secs(60)),
            Backoff::default()
        );
    }

    #[test]
    fn exit_events_carry_the_code() {
        let request = exit_request(FAIL, false, true, 3, false);
        assert_eq!(request["exit_event"]["exit_code"], 78);
        assert_eq!(request["exit_event"]["signal"], -1);
        assert_eq!(request["exit_event"]["restarting"], true);
        assert_eq!(request["restart_count"], 3);
    }
}
