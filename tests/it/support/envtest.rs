//! A real Kubernetes API server for the tests, run the way envtest runs one: `etcd` and
//! `kube-apiserver` from the directory named by `KUBEBUILDER_ASSETS`, on free loopback
//! ports, with no nodes and no controller manager.
//!
//! One pair serves a whole test run: nextest runs every test in a process of its own,
//! so the first process of a run (`NEXTEST_RUN_ID`) starts the pair under a file lock
//! and the others find it. A watchdog stops the pair and removes its files when the
//! run ends (the nextest runner, or the `cargo test` process, exits). The Instance CRD
//! is installed once per pair; each test gets a namespace of its own.
//!
//! `./scripts/test` prepares `KUBEBUILDER_ASSETS` from `../shared/envtest` (and
//! `FASTERCLAW_ENVTEST_OLDEST` with Kubernetes 1.25, the oldest version supported).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};

const HOW_TO_RUN: &str = "run the tests with ./scripts/test, which prepares envtest assets \
     (etcd and kube-apiserver) from ../shared/envtest, or set KUBEBUILDER_ASSETS to a \
     directory holding them (`setup-envtest use 1.33 -p path` prints one)";

/// Which Kubernetes the server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The assets in `KUBEBUILDER_ASSETS`: what current clusters run.
    Current,
    /// The assets in `FASTERCLAW_ENVTEST_OLDEST`: the oldest Kubernetes supported (1.25).
    Oldest,
}

impl Version {
    fn variable(self) -> &'static str {
        match self {
            Version::Current => "KUBEBUILDER_ASSETS",
            Version::Oldest => "FASTERCLAW_ENVTEST_OLDEST",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Version::Current => "current",
            Version::Oldest => "oldest",
        }
    }
}

/// A running API server: where it is and how to reach it.
#[derive(Clone, Debug)]
pub struct ApiServer {
    /// A kubeconfig for it (an admin token, TLS verification off).
    pub kubeconfig: PathBuf,
}

impl ApiServer {
    /// A kube-rs client of the server.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("the kubeconfig parses");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("the kubeconfig is usable");
        Client::try_from(config).expect("a kube client")
    }
}

/// Whether assets for `version` are named.
pub fn available(version: Version) -> bool {
    std::env::var_os(version.variable()).is_some()
}

/// The server of this test run for `version`, started when no test of the run has yet.
pub fn server(version: Version) -> &'static ApiServer {
    static CURRENT: OnceLock<ApiServer> = OnceLock::new();
    static OLDEST: OnceLock<ApiServer> = OnceLock::new();
    let cell = match version {
        Version::Current => &CURRENT,
        Version::Oldest => &OLDEST,
    };
    cell.get_or_init(|| {
        // The set-up is async (readiness, the CRD) and must not run on the test's own
        // runtime, which may have one thread: a runtime of its own on a thread of its own.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("a runtime")
                .block_on(start_or_join(version))
        })
        .join()
        .unwrap_or_else(|_| panic!("the {} API server did not start", version.label()))
    })
}

/// The directory holding `kube-apiserver` and `etcd` for `version`.
fn assets(version: Version) -> PathBuf {
    let variable = version.variable();
    let dir = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{variable} is not set: {HOW_TO_RUN}"));
    for binary in ["kube-apiserver", "etcd"] {
        let path = dir.join(binary);
        assert!(
            path.exists(),
            "{variable}={} holds no {binary}: {HOW_TO_RUN}",
            dir.display()
        );
    }
    dir
}

/// The process whose exit ends the run: the nextest runner, or this process.
fn run_owner() -> (String, u32) {
    match std::env::var("NEXTEST_RUN_ID") {
        Ok(id) => (id, std::os::unix::process::parent_id()),
        Err(_) => (format!("pid-{}", std::process::id()), std::process::id()),
    }
}

async fn start_or_join(version: Version) -> ApiServer {
    fasterclaw::tls::install_crypto_provider();
    let assets = assets(version);
    let (run, owner) = run_owner();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("envtest");
    std::fs::create_dir_all(&base).expect("the envtest directory can be made");
    remove_dirs_of_ended_runs(&base);
    let dir = base.join(format!("{}-{run}", version.label()));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(base.join(format!("{}-{run}.lock", version.label())))
        .expect("the lock file opens");
    lock.lock().expect("the lock is taken");
    let kubeconfig = dir.join("kubeconfig");
    let minor = apiserver_minor(&assets.join("kube-apiserver"));
    let server = ApiServer { kubeconfig };
    if !dir.join("ready").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the run directory can be made");
        launch(&assets, &dir, owner, minor);
        wait_ready(&server, &dir).await;
        install_crd(&server).await;
        File::create(dir.join("ready")).expect("the ready marker is written");
    }
    drop(lock);
    server
}

/// Removes the directories of runs whose owner has exited without its watchdog
/// cleaning up (a watchdog killed with the machine, say).
fn remove_dirs_of_ended_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let owner = std::fs::read_to_string(entry.path().join("owner"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn apiserver_minor(binary: &Path) -> u32 {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run ({e}): {HOW_TO_RUN}", binary.display()));
    let text = String::from_utf8_lossy(&output.stdout);
    // "Kubernetes v1.35.0-snapshot+fea8a54f480a"
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.trim_start_matches('v').split('.').nth(1))
        .and_then(|minor| minor.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the version of {}: {text}", binary.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn write(path: &Path, contents: &str) {
    let mut file = File::create(path).expect("a file in the run directory");
    file.write_all(contents.as_bytes())
        .expect("the file is written");
}

/// Writes the keys and files kube-apiserver needs and starts etcd and kube-apiserver
/// under a watchdog that stops them when `owner` exits.
fn launch(assets: &Path, dir: &Path, owner: u32, minor: u32) {
    let service_accounts = rcgen::KeyPair::generate().expect("a service account key");
    write(&dir.join("sa.key"), &service_accounts.serialize_pem());
    write(&dir.join("sa.pub"), &service_accounts.public_key_pem());
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("a self-signed CA");
    write(&dir.join("client-ca.crt"), &ca.pem());
    let token = uuid::Uuid::new_v4().simple().to_string();
    write(
        &dir.join("tokens.csv"),
        &format!("{token},admin,1,\"system:masters\"\n"),
    );
    write(&dir.join("owner"), &owner.to_string());

    let (etcd_port, peer_port, api_port) = (free_port(), free_port(), free_port());
    let mut apiserver_flags = vec![
        "--bind-address=127.0.0.1".to_owned(),
        format!("--secure-port={api_port}"),
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--cert-dir=certs".to_owned(),
        "--token-auth-file=tokens.csv".to_owned(),
        "--client-ca-file=client-ca.crt".to_owned(),
        // RBAC as on a real cluster: the admin is in system:masters, and the chart's
        // ServiceAccounts get exactly the rights its roles give.
        "--authorization-mode=RBAC".to_owned(),
        "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
        "--service-account-key-file=sa.pub".to_owned(),
        "--service-account-signing-key-file=sa.key".to_owned(),
        "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
        "--disable-admission-plugins=ServiceAccount".to_owned(),
        "--endpoint-reconciler-type=none".to_owned(),
        "--profiling=false".to_owned(),
    ];
    if minor < 29 {
        // CEL validation rules are behind this gate before 1.29; later servers refuse it.
        apiserver_flags.push("--feature-gates=CustomResourceValidationExpressions=true".to_owned());
    }
    let etcd_flags = [
        "--name=t".to_owned(),
        "--data-dir=etcd".to_owned(),
        format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
        format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
        format!("--initial-cluster=t=http://127.0.0.1:{peer_port}"),
        "--unsafe-no-fsync".to_owned(),
    ];
    // The watchdog runs in a session of its own so that nothing done to the test's
    // process group reaches it; it outlives this process and ends with the run.
    let watchdog = r#"
        owner=$1 etcd=$2 apiserver=$3 etcd_flags=$4 apiserver_flags=$5
        "$etcd" $etcd_flags >etcd.log 2>&1 &
        etcd_pid=$!
        "$apiserver" $apiserver_flags >apiserver.log 2>&1 &
        apiserver_pid=$!
        while kill -0 "$owner" 2>/dev/null && kill -0 "$apiserver_pid" 2>/dev/null; do sleep 1; done
        kill "$apiserver_pid" "$etcd_pid" 2>/dev/null
        wait
        if ! kill -0 "$owner" 2>/dev/null; then rm -rf "$PWD" "$PWD.lock"; fi
    "#;
    use std::os::unix::process::CommandExt;
    #[allow(
        clippy::zombie_processes,
        reason = "the watchdog outlives this process on purpose and is reaped by init"
    )]
    Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .arg("envtest-watchdog")
        .arg(owner.to_string())
        .arg(assets.join("etcd"))
        .arg(assets.join("kube-apiserver"))
        .arg(etcd_flags.join(" "))
        .arg(apiserver_flags.join(" "))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("the envtest watchdog starts");
    write(
        &dir.join("kubeconfig"),
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: https://127.0.0.1:{api_port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: envtest\ncurrent-context: envtest\nusers:\n- name: envtest\n  user:\n    token: {token}\n"
        ),
    );
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

async fn wait_ready(server: &ApiServer, dir: &Path) {
    let client = server.client().await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("a request");
        if client.request_text(request).await.is_ok_and(|t| t == "ok") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kube-apiserver did not become ready in 90 s; its log ends:\n{}\netcd's:\n{}",
            log_tail(&dir.join("apiserver.log")),
            log_tail(&dir.join("etcd.log"))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn install_crd(server: &ApiServer) {
    for file in ["crds/instance.yaml", "crds/fleetrelease.yaml"] {
        install_crd_file(server, file).await;
    }
}

async fn install_crd_file(server: &ApiServer, file: &str) {
    let client = server.client().await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file} is readable: {e}"));
    let crd: CustomResourceDefinition =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{file} is a CRD: {e}"));
    let name = crd.metadata.name.clone().expect("the CRD has a name");
    let api: Api<CustomResourceDefinition> = Api::all(client);
    api.patch(
        &name,
        &PatchParams::apply("fasterclaw-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("the API server refuses {file}: {e}"));
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(api, &name, conditions::is_crd_established()),
    )
    .await
    .expect("the CRD is established within 30 s")
    .expect("the CRD can be watched");
}
