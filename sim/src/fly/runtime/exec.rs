//! `POST /v1/apps/{app}/machines/{id}/exec` (`Machines_exec`): a command run in a
//! started machine's container, with its environment, working dir and path mapping.
//!
//! The body is `{command: [..], cmd?: string, timeout?: seconds, stdin?: string}`;
//! `cmd`, deprecated, runs with `sh -c`. The answer is
//! `{exit_code, exit_signal, stdout, stderr}` (`exit_signal` 0 when no signal ended
//! it). The timeout is 30 s by default and at most 600 s; when it runs out the
//! command's processes are killed and the answer is 408. A program the container
//! lacks answers exit code 127. A machine that is not started answers 412.
//! Without a runtime no process runs: every exec answers exit code 127 with
//! [`NO_RUNTIME`] on stderr.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::Runtime;
use super::container::{self, Container};
use super::process::{self, Launch, Tracked};

/// The default timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// What stderr says when the simulator runs no processes.
pub const NO_RUNTIME: &str =
    "fasterclaw-sim: machines do not run in this simulator (start it with a machine runtime)\n";

/// An exec request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command line.
    pub command: Vec<String>,
    /// Given to the command's stdin.
    pub stdin: Option<String>,
    /// How long it may run.
    pub timeout: Duration,
}

/// Why an exec request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Neither `command` nor `cmd`.
    #[error("command is required")]
    NoCommand,
    /// `timeout` is not a number of seconds up to the maximum.
    #[error("timeout must be a number of seconds between 1 and 600")]
    BadTimeout,
}

impl ExecRequest {
    /// Reads a `MachineExecRequest` body.
    pub fn from_json(body: &Value) -> Result<Self, RequestError> {
        let mut command: Vec<String> = body["command"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if command.is_empty()
            && let Some(cmd) = body["cmd"].as_str().filter(|c| !c.trim().is_empty())
        {
            command = vec!["sh".to_owned(), "-c".to_owned(), cmd.to_owned()];
        }
        if command.is_empty() {
            return Err(RequestError::NoCommand);
        }
        let timeout = match &body["timeout"] {
            Value::Null => DEFAULT_TIMEOUT,
            value => match value.as_u64() {
                Some(0) => DEFAULT_TIMEOUT,
                Some(seconds) if Duration::from_secs(seconds) <= MAX_TIMEOUT => {
                    Duration::from_secs(seconds)
                }
                _ => return Err(RequestError::BadTimeout),
            },
        };
        Ok(Self {
            command,
            stdin: body["stdin"].as_str().map(str::to_owned),
            timeout,
        })
    }
}

/// What the command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code (128 + the signal when one ended it; 127 when not found).
    pub exit_code: i32,
    /// The signal that ended it, or 0.
    pub exit_signal: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl ExecOutput {
    /// The `flydv1.ExecResponse` body.
    pub fn to_json(&self) -> Value {
        json!({
            "exit_code": self.exit_code,
            "exit_signal": self.exit_signal,
            "stdout": self.stdout,
            "stderr": self.stderr,
        })
    }

    /// A program that is not there.
    pub fn not_found(message: String) -> Self {
        Self {
            exit_code: 127,
            exit_signal: 0,
            stdout: String::new(),
            stderr: message,
        }
    }
}

/// Why an exec did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// It ran out of time (and was killed).
    #[error("the command did not finish within {}s", .0.as_secs())]
    TimedOut(Duration),
    /// It could not be started.
    #[error("exec: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a command in a machine's container.
pub async fn run(
    runtime: &Runtime,
    container: &Container,
    request: &ExecRequest,
) -> Result<ExecOutput, ExecError> {
    let Some((program, args)) = request.command.split_first() else {
        return Ok(ExecOutput::not_found("no command\n".to_owned()));
    };
    let Some(resolved) = container::resolve_program(program, container) else {
        return Ok(ExecOutput::not_found(format!(
            "exec: {program:?}: executable file not found in $PATH\n"
        )));
    };
    let args: Vec<String> = args.iter().map(|a| container.layout.map_value(a)).collect();
    let mut child = process::spawn(&Launch {
        arg0: program,
        program: &resolved,
        args: &args,
        container,
        log: None,
        stdin: true,
    })?;
    let pid = child.id().unwrap_or_default();
    let tracked = Tracked::new(i32::try_from(pid).unwrap_or(i32::MAX));
    let _guard = runtime.track_exec(std::sync::Arc::clone(&tracked));
    if let Some(mut stdin) = child.stdin.take() {
        let input = request.stdin.clone().unwrap_or_default();
        tokio::spawn(async move {
            let _ = stdin.write_all(input.as_bytes()).await;
        });
    }
    match tokio::time::timeout(request.timeout, child.wait_with_output()).await {
        Ok(output) => {
            let output = output?;
            let exit = super::restart::Exit::from_status(output.status);
            Ok(ExecOutput {
                exit_code: exit.code_or_signal(),
                exit_signal: exit.signal.unwrap_or(0),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
        Err(_) => {
            tracked.kill_all();
            Err(ExecError::TimedOut(request.timeout))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let r = ExecRequest::from_json(&json!({"command": ["ls", "-l"], "timeout": 5})).unwrap();
        assert_eq!(r.command, vec!["ls", "-l"]);
        assert_eq!(r.timeout, Duration::from_secs(5));
        let r = ExecRequest::from_json(&json!({"cmd": "echo hi", "stdin": "x"})).unwrap();
        assert_eq!(r.command, vec!["sh", "-c", "echo hi"]);
        assert_eq!(r.stdin.as_deref(), Some("x"));
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            ExecRequest::from_json(&json!({})),
            Err(RequestError::NoCommand)
        );
        assert_eq!(
            ExecRequest::from_json(&json!({"command": ["x"], "timeout": 601})),
            Err(RequestError::BadTimeout)
        );
    }
}
