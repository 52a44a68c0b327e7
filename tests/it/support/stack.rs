//! The control plane under test, as real processes: `fasterclaw controller` started
//! against a Kubernetes API (a real kube-apiserver, or the simulator for faults), the
//! Fly.io simulator and a Postgres database of the test's own. Each controller's log is
//! captured so tests can check that no secret reached it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fasterclaw::crd::Instance;
use fasterclaw::crypto::{EncryptionKey, Keyring};
use fasterclaw_sim::fly::{FlySim, FlySimConfig};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::cluster::TestCluster;
use super::postgres::TestDatabase;

/// The key sealing stored tokens in these tests.
pub const ENCRYPTION_KEY: &str = "5f1d3a9c0b7e4d2f8a6c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a2c4e6b8d0f";
/// The platform keys the controller is given (no Google key: that case is tested).
pub const ANTHROPIC_KEY: &str = "sk-ant-test-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
/// OpenAI's.
pub const OPENAI_KEY: &str = "sk-openai-test-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// A Telegram bot token of the real form.
pub const TOKEN: &str = "7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e";

/// Everything a controller needs, for one test.
pub struct Stack {
    /// The Kubernetes API, with this test's namespace.
    pub cluster: TestCluster,
    /// The Fly.io simulator.
    pub fly: FlySim,
    /// The database.
    pub db: TestDatabase,
    files: tempfile::TempDir,
}

/// A running `fasterclaw api`.
pub struct FacadeProcess {
    child: Child,
    /// Where its log goes.
    pub log: PathBuf,
    /// Its base URL.
    pub url: String,
    /// The base URL of its metrics listener.
    pub metrics_url: String,
}

impl FacadeProcess {
    /// A client of it.
    pub fn client(&self) -> fasterclaw::api::client::ApiClient {
        fasterclaw::api::client::ApiClient::new(&self.url)
    }

    /// Its log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Its peak resident memory so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.child.id())
    }
}

/// The peak resident memory of process `pid` so far, in KiB (`VmHWM` of
/// `/proc/<pid>/status`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM for process {pid}: {status}"))
}

/// Stops `child` as an orchestrator would: SIGTERM, then SIGKILL after 5 s. (A clean
/// exit also lets a coverage build write its profile.)
pub fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for FacadeProcess {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The session secret of the facades in these tests.
pub const JWT_SECRET: &str = "test-session-secret-0123456789abcdef";

/// A running `fasterclaw controller`.
pub struct ControllerProcess {
    child: Child,
    /// Where its log goes.
    pub log: PathBuf,
    /// Its metrics endpoint.
    pub metrics: SocketAddr,
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

impl Stack {
    /// A stack on the real API server (or the simulator when the test command found
    /// none), with a fast Fly simulator.
    pub async fn new() -> Self {
        Self::on(TestCluster::new().await, FlySimConfig::default()).await
    }

    /// A stack on `cluster`, with a Fly simulator configured as `fly`.
    pub async fn on(cluster: TestCluster, fly: FlySimConfig) -> Self {
        let fly = FlySim::start(fly, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the Fly simulator starts");
        Self {
            cluster,
            fly,
            db: TestDatabase::new().await,
            files: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The keyring the controller uses.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(
            EncryptionKey::from_hex(ENCRYPTION_KEY, "ENCRYPTION_KEY").expect("a valid key"),
        )
    }

    /// Starts `fasterclaw <subcommand>` with only `settings` and `extra` in its
    /// environment (and PATH, KUBECONFIG, DATABASE_URL, ENCRYPTION_KEY and a debug JSON
    /// log); returns the process and its log file.
    fn spawn(
        &self,
        subcommand: &str,
        settings: &[(&str, String)],
        extra: &[(&str, &str)],
    ) -> (Child, PathBuf) {
        let log = self.files.path().join(format!(
            "{subcommand}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = self
            .command(subcommand, settings, extra)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("fasterclaw {subcommand} starts: {e}"));
        (child, log)
    }

    /// `fasterclaw <subcommand>` ready to run with only `settings` and `extra` in its
    /// environment (and PATH, KUBECONFIG, DATABASE_URL, ENCRYPTION_KEY and a debug JSON
    /// log), in a directory of the test's own.
    pub fn command(
        &self,
        subcommand: &str,
        settings: &[(&str, String)],
        extra: &[(&str, &str)],
    ) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fasterclaw"));
        // Not the repository root: a developer's .env there must not change the test.
        command.current_dir(self.files.path());
        command
            .arg(subcommand)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &self.cluster.kubeconfig)
            .env("DATABASE_URL", &self.db.url)
            .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env(
                "LOG_LEVEL",
                "debug,hyper=info,kube=info,tower=info,rustls=info,sqlx=warn,h2=info",
            )
            .env("LOG_FORMAT", "json");
        // A coverage build's profile goes where the coverage run collects it.
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            command.env("LLVM_PROFILE_FILE", profile);
        }
        for (key, value) in settings {
            command.env(key, value);
        }
        for (key, value) in extra {
            command.env(key, value);
        }
        command
    }

    /// Starts a controller with the test settings and `extra` ones.
    pub fn controller(&self, extra: &[(&str, &str)]) -> ControllerProcess {
        let metrics = free_addr();
        let settings = [
            ("WATCH_NAMESPACE", self.cluster.namespace.clone()),
            ("FLY_API_URL", self.fly.base_url()),
            ("FLY_API_TOKEN", self.fly.token().to_owned()),
            ("ANTHROPIC_API_KEY", ANTHROPIC_KEY.to_owned()),
            ("OPENAI_KEY", OPENAI_KEY.to_owned()),
            ("METRICS_ADDR", metrics.to_string()),
            ("TRANSITION_REQUEUE", "300ms".to_owned()),
            ("MACHINE_WAIT", "5s".to_owned()),
            ("ERROR_BACKOFF_BASE", "200ms".to_owned()),
            ("ERROR_BACKOFF_MAX", "3s".to_owned()),
            ("LEASE_DURATION", "4s".to_owned()),
        ];
        let (child, log) = self.spawn("controller", &settings, extra);
        ControllerProcess {
            child,
            log,
            metrics,
        }
    }

    /// Starts a facade with the test settings and `extra` ones, and waits until it
    /// answers `/health`.
    pub async fn api(&self, telegram: &str, extra: &[(&str, &str)]) -> FacadeProcess {
        let addr = free_addr();
        let metrics = free_addr();
        let settings = [
            ("INSTANCE_NAMESPACE", self.cluster.namespace.clone()),
            ("API_JWT_SECRET", JWT_SECRET.to_owned()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", addr.port().to_string()),
            ("METRICS_ADDR", metrics.to_string()),
            ("TELEGRAM_API_URL", telegram.to_owned()),
            ("FRONTEND_URL", "https://app.example.com".to_owned()),
        ];
        let (child, log) = self.spawn("api", &settings, extra);
        let mut facade = FacadeProcess {
            child,
            log,
            url: format!("http://{addr}"),
            metrics_url: format!("http://{metrics}"),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if facade.client().ready().await.is_ok() {
                return facade;
            }
            if let Some(status) = facade.exited() {
                panic!("fasterclaw api exited ({status}): {}", facade.logs());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the facade was not ready in 30 s: {}",
                facade.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Gives `user` an ACTIVE subscription allowing `limit` instances (-1: unlimited).
    pub async fn subscribe(&self, user: uuid::Uuid, plan: &str, limit: i32) {
        let id = format!("sub_{}", uuid::Uuid::new_v4().simple());
        self.db
            .db
            .subscriptions()
            .upsert(
                user,
                &fasterclaw::db::SubscriptionUpdate {
                    stripe_subscription_id: &id,
                    stripe_price_id: None,
                    status: "ACTIVE",
                    plan: Some(plan),
                    instance_limit: limit,
                    current_period_start: None,
                    current_period_end: chrono::Utc::now() + chrono::Duration::days(30),
                    cancel_at_period_end: false,
                },
            )
            .await
            .expect("the subscription is recorded");
    }

    /// Instances in the test's namespace.
    pub fn instances(&self) -> Api<Instance> {
        self.cluster.instances()
    }

    /// Creates the Secret `name` holding `token` under key `token`.
    pub async fn token_secret(&self, name: &str, token: &str) {
        let secrets: Api<Secret> =
            Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": { "name": name },
            "stringData": { "token": token },
        }))
        .expect("a Secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("the Secret is created");
    }

    /// Creates an Instance `name` with `spec` (merged over a minimal valid spec whose
    /// token comes from the Secret `<name>-telegram`).
    pub async fn instance(&self, name: &str, spec: Value) -> Instance {
        self.try_instance(name, spec)
            .await
            .unwrap_or_else(|e| panic!("the Instance {name} is created: {e}"));
        self.instances().get(name).await.expect("it reads back")
    }

    /// [`Stack::instance`], returning the API server's refusal.
    pub async fn try_instance(&self, name: &str, spec: Value) -> Result<(), kube::Error> {
        let mut full = json!({
            "displayName": "Support bot",
            "ownerId": "ops-team",
            "telegramToken": { "secretKeyRef": { "name": format!("{name}-telegram"), "key": "token" } },
        });
        json_patch::merge(&mut full, &spec);
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "fasterclaw.io/v1alpha1",
            "kind": "Instance",
            "metadata": { "name": name },
            "spec": full,
        }))
        .expect("an Instance");
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.cluster.client.clone(),
            &self.cluster.namespace,
            &ApiResource::erase::<Instance>(&()),
        );
        api.create(&PostParams::default(), &object)
            .await
            .map(|_| ())
    }

    /// Sets (or, with `None`, removes) an annotation of the Instance `name`.
    pub async fn annotate(&self, name: &str, key: &str, value: Option<&str>) {
        self.instances()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "annotations": { key: value } } })),
            )
            .await
            .expect("the annotation is set");
    }

    /// The Events about the Instance `name`.
    pub async fn events(&self, name: &str) -> Vec<Event> {
        let events: Api<Event> =
            Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        events
            .list(&ListParams::default().fields(&format!("regarding.name={name}")))
            .await
            .expect("Events list")
            .items
    }

    /// The reasons of the Events about the Instance `name`.
    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        self.events(name)
            .await
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }

    /// Fails unless the Events about the Instance `name` include each of `expected`.
    pub async fn assert_events(&self, name: &str, expected: &[&str]) {
        let reasons = self.event_reasons(name).await;
        for reason in expected {
            assert!(
                reasons.iter().any(|r| r == reason),
                "no {reason} Event in {reasons:?}"
            );
        }
    }

    /// The Fly.io simulator's view of the machine `instance`'s status names.
    pub fn machine_of(&self, instance: &Instance) -> Value {
        let status = instance.status.as_ref().expect("a status");
        let app = status.fly_app_name.as_deref().expect("an app");
        let id = status.fly_machine_id.as_deref().expect("a machine");
        let state = self.fly.state();
        state["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == app)
            .and_then(|a| a["machines"].as_array())
            .and_then(|m| m.iter().find(|m| m["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("machine {id} of {app} in {state}"))
    }

    /// Waits until `check` holds of the Instance `name`, or panics with its last state.
    pub async fn until(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&Instance) -> bool,
    ) -> Instance {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            if let Ok(instance) = self.instances().get(name).await {
                if check(&instance) {
                    return instance;
                }
                last = Some(instance);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out after {timeout:?} waiting until {what}; last seen: {}",
            serde_json::to_string_pretty(&last.map(|i| json!({ "metadata": { "annotations": i.metadata.annotations, "generation": i.metadata.generation }, "status": i.status }))).unwrap_or_default()
        );
    }

    /// Waits until the Instance `name` is gone.
    pub async fn until_gone(&self, name: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if matches!(self.instances().get_opt(name).await, Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let status = self.instances().get(name).await.ok().and_then(|i| i.status);
        panic!("the Instance {name} was not gone after {timeout:?}; status: {status:?}");
    }
}

/// The phase of an Instance, as a string.
pub fn phase(instance: &Instance) -> &'static str {
    instance
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .map(|p| p.as_str())
        .unwrap_or("")
}

/// A condition's (status, reason).
pub fn condition(instance: &Instance, kind: &str) -> Option<(String, String)> {
    instance
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Whether the Instance is RUNNING and Ready.
pub fn running(instance: &Instance) -> bool {
    phase(instance) == "RUNNING" && condition(instance, "Ready").is_some_and(|(s, _)| s == "True")
}

impl ControllerProcess {
    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits up to `timeout` for it.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Its log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its `/metrics` text, once the endpoint answers (up to 20 s).
    pub async fn metrics(&self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = reqwest::get(format!("http://{}/metrics", self.metrics)).await {
                return response.text().await.unwrap_or_default();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the metrics endpoint never answered: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
