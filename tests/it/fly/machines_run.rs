//! The Fly simulator with a machine runtime: started machines run as local processes
//! in an emulated container of the OpenClaw image. The first tests need only `sh`
//! (a stand-in `node` and package); the last ones run the real OpenClaw gateway
//! (FASTERCLAW_NODE and FASTERCLAW_OPENCLAW, set by `./scripts/test`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use fasterclaw_sim::fly::{FlySim, FlySimConfig, ImageRun, MachineRuntime, MachineState};
use serde_json::{Value, json};

use super::conformance::validate;

const APP: &str = "fc-run";

/// A simulator whose machines run, with a client and the dir it all lives in.
struct Lab {
    sim: FlySim,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Lab {
    async fn start(node: PathBuf, package: PathBuf, dir: tempfile::TempDir) -> Self {
        Self::start_with(BTreeMap::new(), node, package, dir).await
    }

    /// A lab whose machines of the given images run as [`ImageRun`] says.
    async fn start_with(
        images: BTreeMap<String, ImageRun>,
        node: PathBuf,
        package: PathBuf,
        dir: tempfile::TempDir,
    ) -> Self {
        fasterclaw::tls::install_crypto_provider();
        let config = FlySimConfig {
            transition: Duration::from_millis(20),
            rate_limits: false,
            runtime: Some(MachineRuntime {
                images,
                ..MachineRuntime::new(node, package, dir.path().join("machines"))
            }),
            ..FlySimConfig::default()
        };
        let sim = FlySim::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the simulator starts");
        let lab = Self {
            sim,
            http: reqwest::Client::new(),
            dir,
        };
        lab.call(
            "POST",
            "/v1/apps",
            Some(json!({"name": APP, "org_slug": "personal"})),
        )
        .await;
        lab
    }

    /// A lab with a stand-in `node` (a script echoing its arguments) and package.
    async fn sh() -> Self {
        Self::sh_with(BTreeMap::new()).await
    }

    /// [`Lab::sh`] with images run as given; a package named in `images` by a relative
    /// path is made below the lab's dir, its `openclaw.mjs` naming it.
    async fn sh_with(images: BTreeMap<String, ImageRun>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("package");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("openclaw.mjs"), "// not OpenClaw\n").unwrap();
        let images = images
            .into_iter()
            .map(|(image, run)| match run {
                ImageRun::Package(relative) => {
                    let own = dir.path().join(&relative);
                    std::fs::create_dir_all(&own).unwrap();
                    let text = format!("// package {}\n", relative.display());
                    std::fs::write(own.join("openclaw.mjs"), text).unwrap();
                    (image, ImageRun::Package(own))
                }
                other => (image, other),
            })
            .collect();
        let node = dir.path().join("nodejs").join("node");
        std::fs::create_dir_all(node.parent().unwrap()).unwrap();
        std::fs::write(&node, "#!/bin/sh\necho \"stand-in node $*\"\n").unwrap();
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self::start_with(images, node, package, dir).await
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .bearer_auth(self.sim.token())
            .timeout(Duration::from_secs(120));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the simulator answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn secrets(&self, values: Value) -> u64 {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/apps/{APP}/secrets"),
                Some(json!({ "values": values })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["version"].as_u64().unwrap()
    }

    async fn create(&self, config: Value) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/apps/{APP}/machines"),
                Some(json!({ "region": "lax", "config": config })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A new volume in the region machines are created in: its id.
    async fn new_volume(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/apps/{APP}/volumes"),
                Some(json!({ "name": name, "region": "lax", "size_gb": 1 })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn machine(&self, id: &str) -> Value {
        self.call("GET", &format!("/v1/apps/{APP}/machines/{id}"), None)
            .await
            .1
    }

    async fn action(&self, id: &str, action: &str, body: Option<Value>) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/v1/apps/{APP}/machines/{id}/{action}"),
            body,
        )
        .await
    }

    /// Polls the machine until `done` holds, failing with the machine and its log.
    async fn until(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let machine = self.machine(id).await;
            if done(&machine) {
                return machine;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not happen within {timeout:?}: {machine:#}\nlog:\n{}",
                self.log(id)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn state_is(&self, id: &str, state: &str, timeout: Duration) -> Value {
        self.until(id, &format!("state {state}"), timeout, |m| {
            m["state"] == state
        })
        .await
    }

    async fn exec(&self, id: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!(
                "{}/v1/apps/{APP}/machines/{id}/exec",
                self.sim.base_url()
            ))
            .bearer_auth(self.sim.token())
            .timeout(Duration::from_secs(120))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        validate("Machines_exec", status, &bytes);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn log(&self, id: &str) -> String {
        self.sim.machine_log(APP, id).unwrap_or_default()
    }

    fn pid(&self, id: &str) -> i32 {
        let pid = self
            .sim
            .machine_pid(APP, id)
            .expect("the machine has a process");
        i32::try_from(pid).unwrap()
    }

    fn rootfs(&self, id: &str) -> PathBuf {
        self.sim.machine_dir(APP, id).unwrap().join("rootfs")
    }

    fn volume(&self, id: &str) -> PathBuf {
        let dir = self.dir.path().join("machines").join("volumes").join(id);
        assert_eq!(self.sim.volume_dir(id), Some(dir.clone()));
        dir
    }
}

fn environ(pid: i32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (k, v) = text.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Whether a process lives (a zombie does not count).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// `root` and every living descendant of it.
fn tree(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok())
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
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.into_iter().filter(|p| alive(*p)).collect()
}

async fn all_gone(pids: &[i32], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let living: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if living.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes still alive: {living:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn exit_events(machine: &Value) -> Vec<Value> {
    machine["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "exit")
        .cloned()
        .collect()
}

const BOOT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_machine_gets_its_env_paths_files_and_ports() {
    let lab = Lab::sh().await;
    lab.secrets(json!({"TOKEN": "s3cret", "FILE_B64": b64("from a secret")}))
        .await;
    let vol = lab.new_volume("env").await;
    let id = lab
        .create(json!({
            "image": "ghcr.io/openclaw/openclaw:2026.9.6",
            "env": {"OPENCLAW_STATE_DIR": "/data", "OPENCLAW_GATEWAY_PORT": "18789",
                    "CONF": "/etc/fasterclaw/openclaw.json", "PLAIN": "hello world",
                    "URL": "http://127.0.0.1:1/x"},
            "mounts": [{"volume": vol, "path": "/data"}],
            "files": [{"guest_path": "/etc/fasterclaw/openclaw.json", "raw_value": b64("{}"), "mode": 292},
                      {"guest_path": "/data/from-secret", "secret_name": "FILE_B64", "mode": 384}],
            "checks": {"gateway": {"type": "tcp", "port": 18789, "interval": "1s", "timeout": "1s"}},
            "init": {"cmd": ["/usr/local/bin/sleep", "600"]}
        }))
        .await;
    lab.state_is(&id, "started", BOOT).await;
    let pid = lab.pid(&id);
    let rootfs = lab.rootfs(&id);
    let volume = lab.volume(&vol);
    let host_port = lab
        .sim
        .machine_port(APP, &id, 18789)
        .expect("the check's port is mapped");
    let env = environ(pid);
    let runtime = lab.sim.runtime().unwrap().clone();
    let expected: BTreeMap<String, String> = [
        ("OPENCLAW_STATE_DIR", volume.display().to_string()),
        ("OPENCLAW_GATEWAY_PORT", host_port.to_string()),
        (
            "CONF",
            rootfs
                .join("etc/fasterclaw/openclaw.json")
                .display()
                .to_string(),
        ),
        ("PLAIN", "hello world".to_owned()),
        ("URL", "http://127.0.0.1:1/x".to_owned()),
        ("TOKEN", "s3cret".to_owned()),
        ("FILE_B64", b64("from a secret")),
        ("HOME", rootfs.join("home/node").display().to_string()),
        ("PATH", env["PATH"].clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(env, expected, "exactly the container's environment");
    let path: Vec<&str> = env["PATH"].split(':').collect();
    assert_eq!(path[0], runtime.root.join(".bin").display().to_string());
    assert!(
        !path.contains(
            &runtime
                .node
                .parent()
                .unwrap()
                .display()
                .to_string()
                .as_str()
        )
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        runtime.package
    );
    let config = rootfs.join("etc/fasterclaw/openclaw.json");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "{}");
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o444
    );
    let secret_file = volume.join("from-secret");
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        "from a secret"
    );
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(rootfs.join("home/node").is_dir());

    // The port is in the admin view, and the check follows what listens on it.
    let state = lab.sim.state();
    let machine = &state["apps"][0]["machines"][0];
    assert_eq!(machine["ports"]["18789"], host_port);
    assert_eq!(machine["pid"], pid);
    lab.until(&id, "a critical check", BOOT, |m| {
        m["checks"][0]["status"] == "critical"
    })
    .await;
    let listener = std::net::TcpListener::bind(("127.0.0.1", host_port)).unwrap();
    let machine = lab
        .until(&id, "a passing check", BOOT, |m| {
            m["checks"][0]["status"] == "passing"
        })
        .await;
    assert_eq!(machine["checks"][0]["name"], "gateway");
    drop(listener);
    let body = serde_json::to_vec(&machine).unwrap();
    validate("Machines_show", 200, &body);
}

#[tokio::test]
async fn files_in_app_are_refused_and_the_machine_fails() {
    let lab = Lab::sh().await;
    let id = lab
        .create(json!({
            "image": "ghcr.io/openclaw/openclaw:2026.9.6",
            "files": [{"guest_path": "/app/openclaw.json", "raw_value": b64("{}")}],
            "init": {"cmd": ["sleep", "600"]}
        }))
        .await;
    let machine = lab.state_is(&id, "failed", BOOT).await;
    let launch = &machine["events"][0];
    assert_eq!(launch["type"], "launch");
    assert_eq!(launch["status"], "failed");
    let reason = launch["request"]["error"].as_str().unwrap();
    assert!(
        reason.contains("/app") && reason.contains("read-only"),
        "{reason}"
    );
    assert!(lab.log(&id).contains("read-only"));
    assert_eq!(lab.sim.machine_pid(APP, &id), None);

    let id = lab
        .create(json!({"image": "x", "init": {"cmd": ["/no/such-program"]}}))
        .await;
    let machine = lab.state_is(&id, "failed", BOOT).await;
    let reason = machine["events"][0]["request"]["error"].as_str().unwrap();
    assert!(reason.contains("such-program"), "{reason}");
}

#[tokio::test]
async fn the_rootfs_is_fresh_at_each_start_and_volumes_persist() {
    let lab = Lab::sh().await;
    let vol = lab.new_volume("state").await;
    let id = lab
        .create(json!({
            "image": "x",
            "env": {"DATA": "/data"},
            "mounts": [{"volume": vol, "path": "/data"}],
            "init": {"cmd": ["sh", "-c", "echo run >> \"$DATA/runs\"; touch \"$HOME/marker\"; exec sleep 600"]},
            "stop_config": {"signal": "SIGTERM", "timeout": "5s"}
        }))
        .await;
    lab.state_is(&id, "started", BOOT).await;
    let rootfs = lab.rootfs(&id);
    let volume = lab.volume(&vol);
    wait_for_file(&rootfs.join("home/node/marker")).await;
    std::fs::write(rootfs.join("scratch"), "x").unwrap();
    let (status, _) = lab.action(&id, "stop", None).await;
    assert_eq!(status, 200);
    lab.state_is(&id, "stopped", BOOT).await;
    let (status, _) = lab.action(&id, "start", None).await;
    assert_eq!(status, 200);
    lab.state_is(&id, "started", BOOT).await;
    wait_for_file(&rootfs.join("home/node/marker")).await;
    assert!(!rootfs.join("scratch").exists(), "the rootfs was reset");
    assert_eq!(
        std::fs::read_to_string(volume.join("runs")).unwrap(),
        "run\nrun\n",
        "the volume kept the first run's line"
    );
}

async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + BOOT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn exec_runs_in_the_machine_with_stdin_exit_codes_and_a_timeout() {
    let lab = Lab::sh().await;
    let vol = lab.new_volume("exec").await;
    let id = lab
        .create(json!({
            "image": "x",
            "env": {"OPENCLAW_STATE_DIR": "/data"},
            "mounts": [{"volume": vol, "path": "/data"}],
            "files": [{"guest_path": "/etc/greeting", "raw_value": b64("hello\n")}],
            "init": {"cmd": ["sleep", "600"]}
        }))
        .await;
    let (status, body) = lab.exec(&id, json!({"command": ["true"]})).await;
    assert!(status == 412 || status == 200, "{status} {body}");
    lab.state_is(&id, "started", BOOT).await;

    let (status, body) = lab
        .exec(&id, json!({"command": ["cat"], "stdin": "piped in"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "piped in");
    assert_eq!(body["exit_code"], 0);

    let (_, body) = lab
        .exec(
            &id,
            json!({"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}),
        )
        .await;
    assert_eq!(
        (
            body["exit_code"].as_i64(),
            body["stdout"].as_str(),
            body["stderr"].as_str()
        ),
        (Some(3), Some("out\n"), Some("err\n"))
    );

    let (_, body) = lab
        .exec(&id, json!({"cmd": "echo \"$OPENCLAW_STATE_DIR\"; pwd"}))
        .await;
    let package = lab.sim.runtime().unwrap().package.display().to_string();
    assert_eq!(
        body["stdout"],
        format!("{}\n{package}\n", lab.volume(&vol).display())
    );

    // Absolute paths in arguments are the container's; `node` is the configured one.
    let (_, body) = lab
        .exec(&id, json!({"command": ["/bin/cat", "/etc/greeting"]}))
        .await;
    assert_eq!(body["stdout"], "hello\n");
    let (_, body) = lab
        .exec(&id, json!({"command": ["node", "/app/openclaw.mjs"]}))
        .await;
    assert_eq!(
        body["stdout"],
        format!("stand-in node {package}/openclaw.mjs\n")
    );

    let (status, body) = lab.exec(&id, json!({"command": ["no-such-program"]})).await;
    assert_eq!(
        (status, body["exit_code"].as_i64()),
        (200, Some(127)),
        "{body}"
    );

    let started = Instant::now();
    let (status, body) = lab
        .exec(&id, json!({"command": ["sleep", "30"], "timeout": 1}))
        .await;
    assert_eq!(status, 408, "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let (status, _) = lab.exec(&id, json!({"command": []})).await;
    assert_eq!(status, 400);
    let (status, _) = lab
        .exec(&id, json!({"command": ["true"], "timeout": 601}))
        .await;
    assert_eq!(status, 400);

    lab.action(&id, "stop", Some(json!({"signal": "SIGKILL"})))
        .await;
    lab.state_is(&id, "stopped", BOOT).await;
    let (status, body) = lab.exec(&id, json!({"command": ["true"]})).await;
    assert_eq!(status, 412, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not started"));
    assert!(lab.sim.calls_of("Machines_exec") >= 10);
}

#[tokio::test]
async fn without_a_runtime_exec_answers_127() {
    let fly = super::fly().await;
    fly.sim.set_rate_limits(false);
    let http = reqwest::Client::new();
    let call = |path: String, body: Value| {
        http.post(format!("{}{path}", fly.sim.base_url()))
            .bearer_auth(fly.sim.token())
            .json(&body)
            .send()
    };
    call(
        "/v1/apps".to_owned(),
        json!({"name": APP, "org_slug": "personal"}),
    )
    .await
    .unwrap();
    let machine: Value = call(
        format!("/v1/apps/{APP}/machines"),
        json!({"config": {"image": "x"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = machine["id"].as_str().unwrap();
    let deadline = Instant::now() + BOOT;
    while fly.sim.machine_state(APP, id) != Some(MachineState::Started) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = call(
        format!("/v1/apps/{APP}/machines/{id}/exec"),
        json!({"command": ["true"]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["exit_code"], 127);
    assert!(body["stderr"].as_str().unwrap().contains("runtime"));
    assert_eq!(fly.sim.calls_of("Machines_exec"), 1);
}

#[tokio::test]
async fn restart_policies_decide_what_follows_an_exit() {
    let lab = Lab::sh().await;
    let no = lab
        .create(
            json!({"image": "x", "init": {"cmd": ["sh", "-c", "exit 3"]},
                       "restart": {"policy": "no"}}),
        )
        .await;
    let retried = lab
        .create(
            json!({"image": "x", "init": {"cmd": ["sh", "-c", "echo attempt; exit 78"]},
                       "restart": {"policy": "on-failure", "max_retries": 1}}),
        )
        .await;
    let clean = lab
        .create(json!({"image": "x", "init": {"cmd": ["sh", "-c", "exit 0"]}}))
        .await;
    let always = lab
        .create(
            json!({"image": "x", "init": {"cmd": ["sh", "-c", "sleep 0.2"]},
                       "restart": {"policy": "always"}}),
        )
        .await;

    let machine = lab.state_is(&no, "stopped", BOOT).await;
    let exits = exit_events(&machine);
    assert_eq!(exits.len(), 1, "{machine:#}");
    let exit = &exits[0]["request"]["exit_event"];
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["requested_stop"], false);
    assert_eq!(exit["oom_killed"], false);

    // on-failure: 78 is retried like any failure, once here, then the machine stops.
    let machine = lab
        .until(&retried, "two exits", BOOT, |m| {
            m["state"] == "stopped" && exit_events(m).len() == 2
        })
        .await;
    let exits = exit_events(&machine);
    assert_eq!(exits[0]["request"]["exit_event"]["exit_code"], 78);
    assert_eq!(exits[0]["request"]["exit_event"]["restarting"], false);
    assert_eq!(exits[1]["request"]["exit_event"]["restarting"], true);
    assert_eq!(exits[0]["request"]["restart_count"], 1);
    assert_eq!(lab.log(&retried).matches("attempt").count(), 2);

    // The default policy (on-failure) lets a clean exit stop the machine.
    let machine = lab.state_is(&clean, "stopped", BOOT).await;
    assert_eq!(exit_events(&machine).len(), 1);

    // always: restarted after the backoff, through `restarting`.
    lab.until(&always, "a restart", BOOT, |m| exit_events(m).len() >= 2)
        .await;
    let (status, _) = lab.action(&always, "stop", None).await;
    assert_eq!(status, 200);
    lab.state_is(&always, "stopped", BOOT).await;
}

#[tokio::test]
async fn an_update_restarts_the_process_with_the_new_config_and_secrets() {
    let lab = Lab::sh().await;
    lab.secrets(json!({"OLD": "1"})).await;
    let config = json!({"image": "x", "env": {"V": "1"}, "init": {"cmd": ["sleep", "600"]},
                        "stop_config": {"signal": "SIGTERM"}});
    let id = lab.create(config).await;
    lab.state_is(&id, "started", BOOT).await;
    let first = lab.pid(&id);
    assert_eq!(environ(first).get("V").map(String::as_str), Some("1"));
    let version = lab.secrets(json!({"NEW": "2"})).await;
    let (status, body) = lab
        .call(
            "POST",
            &format!("/v1/apps/{APP}/machines/{id}"),
            Some(json!({"config": {"image": "x", "env": {"V": "2"}, "init": {"cmd": ["sleep", "600"]}},
                        "min_secrets_version": version})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    lab.until(&id, "the new process", BOOT, |m| {
        m["state"] == "started" && m["config"]["env"]["V"] == "2"
    })
    .await;
    let second = lab.pid(&id);
    assert_ne!(first, second);
    all_gone(&[first], Duration::from_secs(10)).await;
    let env = environ(second);
    assert_eq!(env.get("V").map(String::as_str), Some("2"));
    assert_eq!(env.get("NEW").map(String::as_str), Some("2"));
    assert_eq!(env.get("OLD").map(String::as_str), Some("1"));
}

#[tokio::test]
async fn a_stop_sends_the_signal_then_sigkill_after_the_timeout() {
    let lab = Lab::sh().await;
    let id = lab
        .create(json!({
            "image": "x",
            "init": {"cmd": ["sh", "-c", "trap 'echo got TERM' TERM; while :; do sleep 0.1; done"]},
            "stop_config": {"signal": "SIGTERM", "timeout": "1s"}
        }))
        .await;
    lab.state_is(&id, "started", BOOT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pids = tree(lab.pid(&id));
    let started = Instant::now();
    let (status, _) = lab.action(&id, "stop", None).await;
    assert_eq!(status, 200);
    let machine = lab.state_is(&id, "stopped", BOOT).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(lab.log(&id).contains("got TERM"), "{}", lab.log(&id));
    let exit = &exit_events(&machine)[0]["request"]["exit_event"];
    assert_eq!(exit["signal"], 9);
    assert_eq!(exit["requested_stop"], true);
    all_gone(&pids, Duration::from_secs(5)).await;
    assert_eq!(machine["checks"], json!([]));

    // A stop request's own signal wins: SIGINT ends the loop before any SIGKILL.
    lab.action(&id, "start", None).await;
    lab.state_is(&id, "started", BOOT).await;
    lab.action(&id, "stop", Some(json!({"signal": "SIGINT"})))
        .await;
    let machine = lab.state_is(&id, "stopped", BOOT).await;
    assert_eq!(
        exit_events(&machine)[0]["request"]["exit_event"]["signal"],
        2
    );
}

#[tokio::test]
async fn dropping_the_simulator_kills_every_process_it_started() {
    let lab = Lab::sh().await;
    let id = lab
        .create(json!({
            "image": "x",
            "init": {"cmd": ["sh", "-c", "sleep 600 & setsid sleep 601 & sleep 602"]}
        }))
        .await;
    lab.state_is(&id, "started", BOOT).await;
    let root = lab.pid(&id);
    let deadline = Instant::now() + BOOT;
    let mut pids = tree(root);
    while pids.len() < 3 {
        assert!(Instant::now() < deadline, "{pids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        pids = tree(root);
    }
    // The tracker records descendants every half second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let exec = {
        let http = lab.http.clone();
        let url = format!("{}/v1/apps/{APP}/machines/{id}/exec", lab.sim.base_url());
        let token = lab.sim.token().to_owned();
        tokio::spawn(async move {
            let _ = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"command": ["sleep", "603"], "timeout": 600}))
                .send()
                .await;
        })
    };
    let mut exec_pid = None;
    let deadline = Instant::now() + BOOT;
    while exec_pid.is_none() {
        assert!(Instant::now() < deadline, "the exec never started");
        exec_pid = find_process("sleep603");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(lab);
    pids.extend(exec_pid);
    all_gone(&pids, Duration::from_secs(5)).await;
    exec.abort();
}

/// A living process whose command line, joined without spaces, is `joined`.
fn find_process(joined: &str) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text: String = String::from_utf8_lossy(&cmdline).replace('\0', "");
            (text == joined && alive(pid)).then_some(pid)
        })
}

// The real OpenClaw gateway in the emulated container.

fn openclaw() -> (PathBuf, PathBuf) {
    let var =
        |name: &str| {
            std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
            panic!(
                "{name} is not set: set FASTERCLAW_NODE and FASTERCLAW_OPENCLAW (the Node.js \
                 binary and the openclaw package dir), or run ./scripts/test, which sets them"
            )
        })
        };
    (var("FASTERCLAW_NODE"), var("FASTERCLAW_OPENCLAW"))
}

const GATEWAY_TOKEN: &str = "fc-test-gateway-token-0123456789abcdef";

fn gateway_config(openclaw_json: &Value, policy: &str, volume: &str) -> Value {
    json!({
        "image": "ghcr.io/openclaw/openclaw:2026.9.6",
        "guest": {"cpu_kind": "shared", "cpus": 2, "memory_mb": 2048},
        "env": {"OPENCLAW_STATE_DIR": "/data", "OPENCLAW_GATEWAY_PORT": "18789",
                "NODE_OPTIONS": "--max-old-space-size=1536",
                "FASTERCLAW_OPENCLAW_CONFIG": "/etc/fasterclaw/openclaw.json"},
        "mounts": [{"volume": volume, "path": "/data"}],
        "files": [{"guest_path": "/etc/fasterclaw/openclaw.json",
                   "raw_value": b64(&openclaw_json.to_string()), "mode": 292}],
        "init": {"cmd": ["sh", "-c", "set -eu\nnode openclaw.mjs config patch --file \"$FASTERCLAW_OPENCLAW_CONFIG\" || exit 78\nnode openclaw.mjs config validate || exit 78\nexec node openclaw.mjs gateway --bind lan"]},
        "checks": {"gateway": {"type": "http", "port": 18789, "method": "GET", "path": "/healthz",
                               "interval": "15s", "timeout": "5s", "grace_period": "30s"}},
        "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
        "restart": {"policy": policy, "max_retries": 10}
    })
}

async fn gateway_lab() -> Lab {
    let (node, package) = openclaw();
    let lab = Lab::start(node, package, tempfile::tempdir().unwrap()).await;
    lab.secrets(json!({"OPENCLAW_GATEWAY_TOKEN": GATEWAY_TOKEN,
                       "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key"}))
        .await;
    lab
}

#[tokio::test]
async fn the_real_gateway_boots_passes_its_check_answers_exec_and_stops() {
    let lab = gateway_lab().await;
    let openclaw_json = json!({
        "gateway": {"mode": "local", "port": 18789, "bind": "lan", "auth": {"mode": "token"}},
        "agents": {"defaults": {"model": {"primary": "anthropic/claude-sonnet-5"}}},
        "channels": {"telegram": {"enabled": false}}
    });
    let id = lab
        .create(gateway_config(
            &openclaw_json,
            "on-failure",
            &lab.new_volume("gateway").await,
        ))
        .await;
    lab.state_is(&id, "started", BOOT).await;
    let machine = lab.machine(&id).await;
    assert_eq!(machine["checks"][0]["status"], "warning");
    let machine = lab
        .until(
            &id,
            "the gateway's check passing",
            Duration::from_secs(240),
            |m| m["checks"][0]["status"] == "passing",
        )
        .await;
    assert_eq!(machine["state"], "started");
    assert!(exit_events(&machine).is_empty(), "{machine:#}");
    let port = lab.sim.machine_port(APP, &id, 18789).unwrap();
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(health.contains("live"), "{health}");

    let (status, body) = lab
        .exec(
            &id,
            json!({"command": ["node", "/app/openclaw.mjs", "--version"], "timeout": 120}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["stdout"].as_str().unwrap().contains("2026.9.6"),
        "{body}"
    );
    let (_, body) = lab
        .exec(
            &id,
            json!({"cmd": "cat \"$OPENCLAW_STATE_DIR/openclaw.json\"", "timeout": 60}),
        )
        .await;
    assert!(
        body["stdout"].as_str().unwrap().contains("claude-sonnet-5"),
        "{body}"
    );

    // Stop: SIGTERM, and the gateway ends well within the 30 s before SIGKILL.
    let pids = tree(lab.pid(&id));
    let started = Instant::now();
    lab.action(&id, "stop", None).await;
    let machine = lab.state_is(&id, "stopped", Duration::from_secs(60)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(25),
        "the gateway took {took:?} to stop"
    );
    let exit = &exit_events(&machine)[0]["request"]["exit_event"];
    assert_eq!(exit["requested_stop"], true);
    assert_ne!(exit["signal"], 9, "the gateway was killed: {exit}");
    all_gone(&pids, Duration::from_secs(5)).await;

    // Started again, then the simulator dropped: nothing of the gateway is left.
    lab.action(&id, "start", None).await;
    lab.until(
        &id,
        "the check passing again",
        Duration::from_secs(240),
        |m| m["checks"][0]["status"] == "passing",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pids = tree(lab.pid(&id));
    drop(lab);
    all_gone(&pids, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_config_the_gateway_refuses_exits_78_and_the_machine_stops() {
    let lab = gateway_lab().await;
    let refused = json!({"gateway": {"mode": "local", "bind": "lan", "noSuchKey": true}});
    let vol = lab.new_volume("gateway").await;
    let id = lab.create(gateway_config(&refused, "no", &vol)).await;
    let machine = lab.state_is(&id, "stopped", Duration::from_secs(240)).await;
    let exits = exit_events(&machine);
    assert_eq!(exits.len(), 1, "{machine:#}");
    assert_eq!(
        exits[0]["request"]["exit_event"]["exit_code"],
        78,
        "{}",
        lab.log(&id)
    );
    assert_eq!(machine["checks"][0]["status"], "critical");
    assert_eq!(machine["checks"][0]["output"], "the machine is not running");
}

// Images: a package per version, and broken releases.

const PREVIOUS_IMAGE: &str = "ghcr.io/openclaw/openclaw:2026.8.2";
const BROKEN_IMAGE: &str = "ghcr.io/openclaw/openclaw:2026.9.7";

#[tokio::test]
async fn each_image_runs_its_own_package_and_a_broken_one_exits_at_start() {
    let lab = Lab::sh_with(BTreeMap::from([
        (
            PREVIOUS_IMAGE.to_owned(),
            ImageRun::Package(PathBuf::from("openclaw-2026.8.2")),
        ),
        (BROKEN_IMAGE.to_owned(), ImageRun::ExitsAtStart),
    ]))
    .await;
    // The working dir, and `/app` as an argument (a path inside a script is not mapped).
    let shows_its_app = json!({"cmd": ["sh", "-c", "cat openclaw.mjs; cat \"$1\"; sleep 600",
                                       "sh", "/app/openclaw.mjs"]});
    let previous = lab
        .create(json!({"image": PREVIOUS_IMAGE, "init": shows_its_app}))
        .await;
    let default = lab
        .create(json!({"image": "ghcr.io/openclaw/openclaw:2026.9.6", "init": shows_its_app}))
        .await;
    for (id, package) in [
        (&previous, "// package openclaw-2026.8.2"),
        (&default, "// not OpenClaw"),
    ] {
        lab.state_is(id, "started", BOOT).await;
        lab.until(id, "its package in the log", BOOT, |_| {
            lab.log(id).matches(package).count() == 2
        })
        .await;
    }
    assert!(!lab.log(&previous).contains("not OpenClaw"));

    // A broken release: exit 1 at once, restarted as the policy says, then stopped.
    let broken = lab
        .create(json!({"image": BROKEN_IMAGE, "init": shows_its_app,
                       "env": {"OPENCLAW_STATE_DIR": "/data/openclaw"},
                       "restart": {"policy": "on-failure", "max_retries": 1}}))
        .await;
    let machine = lab
        .until(&broken, "two exits", BOOT, |m| {
            m["state"] == "stopped" && exit_events(m).len() == 2
        })
        .await;
    for exit in exit_events(&machine) {
        assert_eq!(exit["request"]["exit_event"]["exit_code"], 1, "{machine:#}");
        assert_eq!(exit["request"]["exit_event"]["requested_stop"], false);
    }
    let log = lab.log(&broken);
    assert_eq!(log.matches("refuses its configuration").count(), 2, "{log}");
    assert!(log.contains(BROKEN_IMAGE), "{log}");
    assert!(log.contains("OpenClaw config is invalid"), "{log}");
    assert!(!log.contains("package"), "its command never ran: {log}");

    // The simulator's fault does the same to any image, at its next start.
    lab.sim.break_image(PREVIOUS_IMAGE);
    let (status, _) = lab.action(&previous, "stop", None).await;
    assert_eq!(status, 200);
    lab.state_is(&previous, "stopped", BOOT).await;
    lab.action(&previous, "start", None).await;
    let machine = lab
        .until(&previous, "exits after the break", BOOT, |m| {
            exit_events(m)
                .iter()
                .filter(|e| e["request"]["exit_event"]["exit_code"] == 1)
                .count()
                >= 2
        })
        .await;
    assert_eq!(
        exit_events(&machine)[0]["request"]["exit_event"]["requested_stop"],
        false
    );
    assert!(lab.log(&previous).contains("refuses its configuration"));
}

#[tokio::test]
async fn the_real_gateway_of_the_previous_version_boots_from_its_image_with_our_config() {
    use fasterclaw::domain::AiModel;
    use fasterclaw::runtime::versions::{self, PREVIOUS_OPENCLAW_VERSION};
    use fasterclaw::runtime::{Endpoints, OwnedConfig};
    use fasterclaw_sim::telegram::TelegramSim;

    let (node, package) = openclaw();
    let previous = crate::support::openclaw::OpenClaw::previous();
    let entry = versions::supported(&PREVIOUS_OPENCLAW_VERSION.parse().unwrap())
        .expect("the previous version is supported");
    let image = entry.image();
    assert_eq!(image, PREVIOUS_IMAGE);
    let lab = Lab::start_with(
        BTreeMap::from([(image.clone(), ImageRun::Package(previous.package))]),
        node,
        package,
        tempfile::tempdir().unwrap(),
    )
    .await;
    let telegram = TelegramSim::start(SocketAddr::from(([127, 0, 0, 1], 0)), false)
        .await
        .expect("the Telegram stand-in starts");
    const BOT_TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    telegram.add_bot(BOT_TOKEN, "claw_previous_bot", "Claw");
    lab.secrets(json!({"OPENCLAW_GATEWAY_TOKEN": GATEWAY_TOKEN,
                       "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
                       "TELEGRAM_BOT_TOKEN": BOT_TOKEN}))
        .await;

    // The document the controller writes for this image.
    let model = AiModel::parse("claude-sonnet-5").unwrap();
    let endpoints = Endpoints {
        telegram_api_root: Some(telegram.base_url().parse().unwrap()),
        ..Endpoints::default()
    };
    let document = OwnedConfig {
        model: &model,
        provider: model.provider(),
        telegram_user_ids: &[424242],
        endpoints: &endpoints,
    }
    .document_for(versions::dialect_for_image(&image));
    let mut config = gateway_config(&document, "on-failure", &lab.new_volume("previous").await);
    config["image"] = json!(image);
    let id = lab.create(config).await;
    let machine = lab
        .until(
            &id,
            "the previous gateway's check passing",
            Duration::from_secs(240),
            |m| m["checks"][0]["status"] == "passing",
        )
        .await;
    assert!(exit_events(&machine).is_empty(), "{machine:#}");
    assert!(
        telegram
            .wait_for_calls(
                "claw_previous_bot",
                "getUpdates",
                1,
                Duration::from_secs(200)
            )
            .await,
        "the gateway did not poll Telegram; it called {:?}\n{}",
        telegram.methods("claw_previous_bot"),
        lab.log(&id)
    );
    let (status, body) = lab
        .exec(
            &id,
            json!({"command": ["node", "/app/openclaw.mjs", "--version"], "timeout": 120}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["stdout"]
            .as_str()
            .unwrap()
            .contains(PREVIOUS_OPENCLAW_VERSION),
        "{body}"
    );
    let (_, body) = lab
        .exec(
            &id,
            json!({"cmd": "cat \"$OPENCLAW_STATE_DIR/openclaw.json\"", "timeout": 60}),
        )
        .await;
    let merged: Value = serde_json::from_str(body["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(
        merged["meta"]["lastTouchedVersion"],
        PREVIOUS_OPENCLAW_VERSION
    );
    assert_eq!(
        merged["channels"]["telegram"]["allowFrom"],
        json!(["424242"])
    );
}
