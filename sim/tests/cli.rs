//! `fasterclaw-sim` as its own process: it prints the address it bound, then serves.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fasterclaw-sim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fasterclaw-sim starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("it prints its address");
    (Running(child), line.trim().to_owned())
}

/// A minimal HTTP/1.1 GET over a plain TCP socket, returning the status line and body.
fn get(base: &str, path: &str, token: Option<&str>) -> (String, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connects");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[test]
fn fly_prints_its_address_and_answers_with_the_token() {
    let (_sim, base) = start(&["fly", "--listen", "127.0.0.1:0", "--token", "cli-token"]);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let (status, _) = get(&base, "/v1/apps?org_slug=personal", Some("cli-token"));
    assert!(status.contains("200"), "{status}");
    let (status, body) = get(&base, "/v1/apps?org_slug=personal", None);
    assert!(status.contains("401"), "{status}");
    assert!(body.contains("authenticated"), "{body}");
}

#[test]
fn fly_refuses_a_bad_fault_plan() {
    let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw-sim"))
        .args(["fly", "--faults", "{not json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--faults"));
}

#[test]
fn kube_writes_a_kubeconfig_installs_crds_and_serves_them() {
    let dir = std::env::temp_dir().join(format!("fasterclaw-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let crd = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/instance.yaml");
    let (_sim, base) = start(&[
        "kube",
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--crd",
        crd,
    ]);
    let written = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(written.contains(&format!("server: {base}")), "{written}");
    let (status, body) = get(&base, "/apis/fasterclaw.io/v1alpha1", None);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("\"instances\""), "{body}");
    let (status, body) = get(&base, "/api/v1/namespaces/default", None);
    assert!(
        status.contains("200") && body.contains("Active"),
        "{status} {body}"
    );
}

#[test]
fn kube_refuses_a_file_that_is_not_a_crd() {
    let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw-sim"))
        .args([
            "kube",
            "--crd",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/instance.yaml"),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("CustomResourceDefinition"));
}

#[test]
fn kube_history_bounds_what_watches_can_resume_from() {
    let (_sim, base) = start(&["kube", "--listen", "127.0.0.1:0", "--history", "3"]);
    let host = base.trim_start_matches("http://").to_owned();
    let send = |method: &str, path: &str, body: &str| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&host).expect("connects");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let first = send(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c0"}}"#,
    );
    let version: String = first
        .split("\"resourceVersion\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a resourceVersion")
        .to_owned();
    for n in 1..6 {
        send(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"c{n}"}}}}"#),
        );
    }
    // Five changes later, with three kept, the first version is gone: 410 Expired, as
    // after etcd compacts, and a client must relist.
    let (_, watched) = get(
        &base,
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={version}&timeoutSeconds=1"
        ),
        None,
    );
    assert!(watched.contains("\"type\":\"ERROR\""), "{watched}");
    assert!(watched.contains("\"code\":410"), "{watched}");
    let (status, listed) = get(
        &base,
        &format!(
            "/api/v1/namespaces/default/configmaps?resourceVersion={version}&resourceVersionMatch=Exact"
        ),
        None,
    );
    assert!(status.contains("410"), "{status} {listed}");
}

#[test]
fn stripe_serves_its_prices_to_the_key_and_refuses_others() {
    let (_sim, base) = start(&[
        "stripe",
        "--listen",
        "127.0.0.1:0",
        "--secret-key",
        "sk_test_cli",
        "--price",
        "price_cli=4900",
    ]);
    let (status, body) = get(&base, "/v1/prices/price_cli", Some("sk_test_cli"));
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("\"unit_amount\":4900"), "{body}");
    let (status, body) = get(&base, "/v1/prices/price_cli", Some("sk_test_other"));
    assert!(status.contains("401"), "{status}");
    assert!(body.contains("Invalid API Key provided"), "{body}");
    let (status, body) = get(&base, "/v1/prices/price_none", Some("sk_test_cli"));
    assert!(status.contains("404"), "{status}");
    assert!(body.contains("resource_missing"), "{body}");
}

#[test]
fn stripe_refuses_malformed_prices_and_webhook_secrets() {
    for (args, expected) in [
        (vec!["stripe", "--price", "price_x"], "--price"),
        (
            vec![
                "stripe",
                "--webhook-url",
                "http://127.0.0.1:1/",
                "--webhook-secret",
                "nope",
            ],
            "whsec_",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw-sim"))
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn fly_takes_the_machine_runtime_flags_only_together() {
    for args in [
        &["fly", "--node", "/bin/true"][..],
        &["fly", "--openclaw", "/tmp"],
        &["fly", "--node", "/bin/true", "--machines-dir", "/tmp"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw-sim"))
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("required"), "{args:?}: {stderr}");
    }
}

/// A minimal HTTP/1.1 request with a JSON body, returning the status line and body.
fn send(base: &str, method: &str, path: &str, token: &str, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connects");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// Whether a process lives (a zombie does not count).
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// The pids of `root` and its descendants.
fn tree(root: i64) -> Vec<i64> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i64>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found
}

/// Starts a simulator whose machines run, and one machine running `cmd`; returns the
/// simulator and the machine's processes once they all run.
fn sim_with_a_running_machine(
    dir: &std::path::Path,
    cmd: &str,
    processes: usize,
) -> (Running, Vec<i64>) {
    let package = dir.join("package");
    std::fs::create_dir_all(&package).unwrap();
    let (sim, base) = start(&[
        "fly",
        "--transition-ms",
        "10",
        "--rate-limits",
        "false",
        "--node",
        "/bin/true",
        "--openclaw",
        package.to_str().unwrap(),
        "--machines-dir",
        dir.join("machines").to_str().unwrap(),
    ]);
    let token = "fly-sim-token";
    let (status, body) = send(
        &base,
        "POST",
        "/v1/apps",
        token,
        r#"{"name":"fc-cli","org_slug":"personal"}"#,
    );
    assert!(status.contains("201"), "{status} {body}");
    let machine = format!(r#"{{"config":{{"image":"x","init":{{"cmd":{cmd}}}}}}}"#);
    let (status, body) = send(&base, "POST", "/v1/apps/fc-cli/machines", token, &machine);
    assert!(status.contains("200"), "{status} {body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, state) = get(&base, "/_sim/state", None);
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        if let Some(pid) = state["apps"][0]["machines"][0]["pid"].as_i64() {
            let pids = tree(pid);
            if pids.len() >= processes {
                // The simulator records descendants every half second.
                std::thread::sleep(std::time::Duration::from_millis(1200));
                return (sim, pids);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the machine never ran: {state}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn all_gone(pids: &[i64]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let living: Vec<i64> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if living.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still alive: {living:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn fly_machines_end_when_the_simulator_gets_sigterm() {
    let dir = tempfile_dir("sigterm");
    let (mut sim, pids) =
        sim_with_a_running_machine(&dir, r#"["sh","-c","sleep 600 & exec sleep 601"]"#, 2);
    let pid = rustix::process::Pid::from_child(&sim.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = sim.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    all_gone(&pids);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fly_machines_end_when_the_simulator_is_sigkilled() {
    let dir = tempfile_dir("sigkill");
    let (mut sim, pids) = sim_with_a_running_machine(&dir, r#"["sleep","600"]"#, 1);
    sim.0.kill().unwrap();
    let _ = sim.0.wait();
    all_gone(&pids);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("fasterclaw-sim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
