//! Machine checks (`config.checks`): each probes the host port its internal port maps
//! to, as flyd probes a machine's port, and reports `warning` until the first probe
//! (which comes after the grace period), then `passing` or `critical`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::duration;

/// What a check reports when the machine is not running.
pub const NOT_RUNNING: &str = "the machine is not running";

/// Default time between probes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default time a probe may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The status of one check, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not probed yet.
    Warning,
    /// The last probe succeeded.
    Passing,
    /// The last probe failed, or the machine is not running.
    Critical,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Warning => "warning",
            Status::Passing => "passing",
            Status::Critical => "critical",
        }
    }
}

/// How a check probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connect.
    Tcp,
    /// An HTTP request; 2xx passes.
    Http {
        /// The method (default `GET`).
        method: String,
        /// The path (default `/`).
        path: String,
    },
}

/// One check of a machine config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Its name (the key in `config.checks`).
    pub name: String,
    /// The internal port it probes.
    pub port: u16,
    /// How.
    pub probe: Probe,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take.
    pub timeout: Duration,
    /// Time after start before the first probe.
    pub grace_period: Duration,
}

/// The checks of a machine config (entries without a usable port or type are left
/// out; a duration that does not parse takes its default).
pub fn from_config(config: &Value) -> Vec<Check> {
    let Some(checks) = config["checks"].as_object() else {
        return Vec::new();
    };
    let time = |value: &Value, default: Duration| duration::from_json(value).unwrap_or(default);
    checks
        .iter()
        .filter_map(|(name, check)| {
            let port = u16::try_from(check["port"].as_u64()?).ok()?;
            let probe = match check["type"].as_str().unwrap_or("tcp") {
                "tcp" => Probe::Tcp,
                "http" => Probe::Http {
                    method: check["method"].as_str().unwrap_or("GET").to_uppercase(),
                    path: check["path"].as_str().unwrap_or("/").to_owned(),
                },
                _ => return None,
            };
            Some(Check {
                name: name.clone(),
                port,
                probe,
                interval: time(&check["interval"], DEFAULT_INTERVAL)
                    .max(Duration::from_millis(100)),
                timeout: time(&check["timeout"], DEFAULT_TIMEOUT),
                grace_period: time(&check["grace_period"], Duration::ZERO),
            })
        })
        .collect()
}

/// A check's result as the API shows it (`CheckStatus`).
pub fn status_json(name: &str, status: Status, output: &str) -> Value {
    json!({
        "name": name,
        "status": status.as_str(),
        "output": output,
        "updated_at": super::super::world::now_rfc3339(),
    })
}

/// Every check of a config as one status with one output (`warning` at start,
/// `critical` when the machine is not running).
pub fn all(config: &Value, status: Status, output: &str) -> Vec<Value> {
    from_config(config)
        .iter()
        .map(|c| status_json(&c.name, status, output))
        .collect()
}

/// Probes `check` on `host_port` of loopback once.
pub async fn probe(check: &Check, host_port: u16) -> (Status, String) {
    match tokio::time::timeout(check.timeout, probe_once(check, host_port)).await {
        Ok(result) => result,
        Err(_) => (
            Status::Critical,
            format!("timed out after {:?}", check.timeout),
        ),
    }
}

async fn probe_once(check: &Check, host_port: u16) -> (Status, String) {
    let mut stream = match TcpStream::connect(("127.0.0.1", host_port)).await {
        Ok(stream) => stream,
        Err(e) => {
            return (
                Status::Critical,
                format!("dial tcp 127.0.0.1:{}: {e}", check.port),
            );
        }
    };
    let Probe::Http { method, path } = &check.probe else {
        return (Status::Passing, "Success".to_owned());
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: Consul Health Check\r\nConnection: close\r\n\r\n",
        check.port
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return (Status::Critical, format!("write: {e}"));
    }
    let mut response = Vec::new();
    if let Err(e) = stream.take(64 * 1024).read_to_end(&mut response).await
        && response.is_empty()
    {
        return (Status::Critical, format!("read: {e}"));
    }
    http_status(&response)
}

/// The check result of a raw HTTP response: 2xx passes, anything else is critical.
pub fn http_status(response: &[u8]) -> (Status, String) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    let body: String = body.chars().take(512).collect();
    match code {
        Some(code) if (200..300).contains(&code) => (Status::Passing, body),
        Some(code) => (
            Status::Critical,
            format!("HTTP GET: {code}; Output: {body}"),
        ),
        None => (Status::Critical, "not an HTTP response".to_owned()),
    }
}

/// The checks of a config keyed by name, with what they report before the first probe.
pub fn initial(config: &Value) -> BTreeMap<String, Value> {
    from_config(config)
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                status_json(&c.name, Status::Warning, "waiting for status update"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_read_from_the_config() {
        let config = json!({"checks": {
            "gateway": {"type": "http", "port": 18789, "method": "get", "path": "/healthz",
                        "interval": "15s", "timeout": "5s", "grace_period": "30s"},
            "tcp": {"type": "tcp", "port": 80},
            "odd": {"type": "udp", "port": 1},
            "portless": {"type": "tcp"}
        }});
        let checks = from_config(&config);
        assert_eq!(checks.len(), 2);
        let gateway = &checks[0];
        assert_eq!(gateway.name, "gateway");
        assert_eq!(
            gateway.probe,
            Probe::Http {
                method: "GET".to_owned(),
                path: "/healthz".to_owned()
            }
        );
        assert_eq!(gateway.interval, Duration::from_secs(15));
        assert_eq!(gateway.timeout, Duration::from_secs(5));
        assert_eq!(gateway.grace_period, Duration::from_secs(30));
        assert_eq!(checks[1].probe, Probe::Tcp);
        assert_eq!(checks[1].timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn http_answers_pass_only_when_2xx() {
        let (status, output) =
            http_status(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{\"ok\":true}");
        assert_eq!(status, Status::Passing);
        assert!(output.contains("ok"));
        let (status, output) = http_status(b"HTTP/1.1 503 Service Unavailable\r\n\r\nnope");
        assert_eq!(status, Status::Critical);
        assert!(
            output.contains("503") && output.contains("nope"),
            "{output}"
        );
        assert_eq!(http_status(b"garbage").0, Status::Critical);
    }

    #[test]
    fn a_check_names_its_status() {
        let value = status_json("gateway", Status::Critical, NOT_RUNNING);
        assert_eq!(value["status"], "critical");
        assert_eq!(value["output"], NOT_RUNNING);
        assert!(value["updated_at"].is_string());
    }

    #[tokio::test]
    async fn probes_reach_a_port_or_report_critical() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let check = Check {
            name: "c".to_owned(),
            port: 18789,
            probe: Probe::Http {
                method: "GET".to_owned(),
                path: "/healthz".to_owned(),
            },
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            grace_period: Duration::ZERO,
        };
        assert_eq!(probe(&check, port).await.0, Status::Passing);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(probe(&check, closed_port).await.0, Status::Critical);
    }
}
