//! The assistant as a newcomer gets it, on the local stack (`fasterclaw-sim dev`'s
//! stand-ins, the release `fasterclaw controller` and `fasterclaw api`, the Fly.io
//! simulator running machines as real OpenClaw gateways): the time from `POST
//! /instances` to the bot's first answer on Telegram, and the gateway's memory. The
//! floor, measured in the same run: the same gateway with the same configuration and
//! environment started by hand (`node openclaw.mjs gateway --bind lan`), from its
//! process start to its first answer, and its memory. Then the same assistant stopped
//! and started again in place (the baseline), and stopped, its host full, started: the
//! time until it answers again from its fallback region, moved there with its data.
//!
//! Run with `./scripts/bench assistant` (it installs Node.js and the pinned openclaw
//! package once, and exports `FASTERCLAW_NODE` and `FASTERCLAW_OPENCLAW`).

mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{CheckoutRequest, CreateInstanceRequest, RegisterRequest};
use fasterclaw::crd::Phase;
use fasterclaw_sim::dev::{DevOptions, Stack};
use fasterclaw_sim::fly::MachineRuntime;
use fasterclaw_sim::models::answer_text;
use fasterclaw_sim::telegram::{TelegramSim, User};
use serde_json::json;

const TOKEN: &str = "6123456789:AAHbenchAssistantTokenForTheFirstAnswer";
const BOT: &str = "bot6123456789_bot";
const OWNER: i64 = 424_242;
const MODEL: &str = "claude-sonnet-5";
/// How long one message may wait for its answer before it is sent again.
const RESEND_AFTER: Duration = Duration::from_secs(20);
/// How long a start may take before the run gives up.
const START_WITHIN: Duration = Duration::from_secs(600);

fn main() {
    support::main(|runtime| runtime.block_on(run()));
}

fn env_path(name: &str) -> PathBuf {
    std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{name} is not set: run ./scripts/bench assistant (it installs Node.js and OpenClaw)")
    })
}

/// Memory of a process tree, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    /// The tree's resident set, summed.
    rss_kib: u64,
    /// The main process's high-water mark.
    hwm_kib: u64,
    /// The tree's high-water marks, summed (an upper bound of the tree's peak).
    tree_hwm_kib: u64,
    processes: usize,
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix(field)?
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `root` and its descendants (OpenClaw's spawn broker, in a process group of its own,
/// included: it is still a child).
fn tree(root: u32) -> Vec<u32> {
    let mut found = vec![root];
    loop {
        let before = found.len();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if !found.contains(&pid) && parent_of(pid).is_some_and(|p| found.contains(&p)) {
                found.push(pid);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

fn memory(root: u32) -> Memory {
    let pids = tree(root);
    Memory {
        rss_kib: pids.iter().filter_map(|p| status_kib(*p, "VmRSS")).sum(),
        hwm_kib: status_kib(root, "VmHWM").unwrap_or(0),
        tree_hwm_kib: pids.iter().filter_map(|p| status_kib(*p, "VmHWM")).sum(),
        processes: pids.len(),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// Sends the owner's message, again every [`RESEND_AFTER`] while unanswered, until the
/// bot answers with the model's reply; the time of the answer.
async fn first_answer(telegram: &TelegramSim, text: &str, within: Duration) -> Instant {
    let expected = answer_text(MODEL, text);
    let deadline = Instant::now() + within;
    let owner = User::new(OWNER, "Ada");
    let mut first = None;
    loop {
        let posted = telegram
            .send_user_message(BOT, &owner, text)
            .expect("the bot exists");
        let first = *first.get_or_insert(posted.message_id);
        let resend_at = Instant::now() + RESEND_AFTER;
        while Instant::now() < resend_at {
            if telegram
                .sent(BOT, Some(OWNER))
                .iter()
                .any(|m| m.message_id > first && m.plain_text().contains(&expected))
            {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            Instant::now() < deadline,
            "no answer within {within:?}; the bot sent {:?}",
            telegram.sent(BOT, Some(OWNER))
        );
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// The environment a process started with.
fn environment(pid: u32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("the gateway's environment");
    raw.split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('=')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

struct Measured {
    first_answer: Duration,
    running: Option<Duration>,
    memory: Memory,
}

/// A gateway started by hand, killed with its whole tree when dropped.
struct ByHand(Child);

impl Drop for ByHand {
    fn drop(&mut self) {
        let pid = self.0.id();
        for p in tree(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run() {
    let node = env_path("FASTERCLAW_NODE");
    let package = env_path("FASTERCLAW_OPENCLAW");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (database_url, _pool) = support::database("fasterclaw_bench_assistant", false).await;
    let dir = tempfile::tempdir().expect("a directory");
    let options = DevOptions {
        fasterclaw: PathBuf::from(env!("CARGO_BIN_EXE_fasterclaw")),
        database_url: database_url.clone(),
        port: 0,
        dir: dir.path().join("stack"),
        crd: root.join("crds/instance.yaml"),
        runtime: Some(MachineRuntime::new(
            node.clone(),
            package.clone(),
            dir.path().join("machines"),
        )),
    };
    let stack = Stack::start(&options).await.expect("the local stack");

    // A newcomer: registered, subscribed.
    let anonymous = ApiClient::new(&stack.facade_url);
    let registered = anonymous
        .register(
            &serde_json::from_value::<RegisterRequest>(json!({
                "email": "bench@example.com", "password": "a good password", "name": "Bench"
            }))
            .expect("a request"),
        )
        .await
        .expect("registered");
    let client = anonymous.with_token(registered.access_token);
    let checkout = client
        .checkout(
            &serde_json::from_value::<CheckoutRequest>(json!({ "plan": "starter" }))
                .expect("a request"),
        )
        .await
        .expect("a checkout");
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(&checkout.url)
        .send()
        .await
        .expect("paid");

    // FasterClaw: POST /instances, RUNNING, then the owner's message.
    let request = serde_json::from_value::<CreateInstanceRequest>(json!({
        "name": "Bench assistant", "telegramBotToken": TOKEN, "telegramUserIds": [OWNER]
    }))
    .expect("a request");
    let posted_at = Instant::now();
    let created = client.create_instance(&request).await.expect("created");
    let id = created.id.to_string();
    let instance = loop {
        let instance = client.get_instance(&id).await.expect("the instance");
        if instance.status == Phase::Running {
            break instance;
        }
        assert!(
            posted_at.elapsed() < START_WITHIN,
            "not RUNNING within {START_WITHIN:?} ({:?}); the controller's log: {}",
            instance.status,
            stack.dir.join("controller.log").display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let running = posted_at.elapsed();
    let answered = first_answer(&stack.telegram, "hello from the benchmark", START_WITHIN).await;
    let app = instance.fly_app_name.expect("an app");
    let machine = instance.fly_machine_id.expect("a machine");
    let pid = stack.fly.machine_pid(&app, &machine).expect("a process");
    let product = Measured {
        first_answer: answered - posted_at,
        running: Some(running),
        memory: memory(pid),
    };
    let moves = moved(&stack, &client, &id).await;
    let instance = client.get_instance(&id).await.expect("the instance");
    let app = instance.fly_app_name.expect("an app");
    let machine = instance.fly_machine_id.expect("a machine");
    let pid = stack.fly.machine_pid(&app, &machine).expect("a process");

    // The floor: the same gateway, configuration and environment, by hand. The
    // instance goes first, so that one gateway polls the bot at a time.
    let mut env = environment(pid);
    let state = PathBuf::from(env.get("OPENCLAW_STATE_DIR").expect("a state dir"));
    let config = std::fs::read(state.join("openclaw.json")).expect("the merged configuration");
    client.delete_instance(&id).await.expect("deleted");
    let gone = Instant::now();
    while tree(pid).iter().any(|p| alive(*p)) {
        assert!(
            gone.elapsed() < Duration::from_secs(120),
            "the machine did not stop"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let floor_dir = dir.path().join("by-hand");
    let floor_state = floor_dir.join("state");
    std::fs::create_dir_all(&floor_state).expect("a state dir");
    std::fs::create_dir_all(floor_dir.join("home")).expect("a home");
    std::fs::write(floor_state.join("openclaw.json"), config).expect("the configuration");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    env.insert(
        "OPENCLAW_STATE_DIR".to_owned(),
        floor_state.to_string_lossy().into_owned(),
    );
    env.insert(
        "HOME".to_owned(),
        floor_dir.join("home").to_string_lossy().into_owned(),
    );
    env.insert("OPENCLAW_GATEWAY_PORT".to_owned(), port.to_string());
    let log = std::fs::File::create(floor_dir.join("log")).expect("a log");
    let started_at = Instant::now();
    let by_hand = ByHand(
        Command::new(&node)
            .args(["openclaw.mjs", "gateway", "--bind", "lan"])
            .current_dir(&package)
            .env_clear()
            .envs(&env)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log"))
            .stderr(log)
            .spawn()
            .expect("the gateway starts"),
    );
    // As RUNNING is for the instance: the message goes when /healthz answers.
    let health = format!("http://127.0.0.1:{port}/healthz");
    let http = reqwest::Client::new();
    while !http
        .get(&health)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started_at.elapsed() < START_WITHIN,
            "the gateway started by hand did not answer /healthz; its log: {}",
            floor_dir.join("log").display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healthy = started_at.elapsed();
    let answered = first_answer(&stack.telegram, "hello again, by hand", START_WITHIN).await;
    let floor = Measured {
        first_answer: answered - started_at,
        running: Some(healthy),
        memory: memory(by_hand.0.id()),
    };
    drop(by_hand);
    stack.stop();
    support::drop_database(&database_url).await;

    report(&product, &floor);
    println!(
        "  stopped, then started to the first answer: in place {:.1} s   moved to its fallback region (host full; volume forked) {:.1} s   ratio {:.2}×",
        moves.in_place.as_secs_f64(),
        moves.moved.as_secs_f64(),
        moves.moved.as_secs_f64() / moves.in_place.as_secs_f64()
    );
}

/// How long an assistant takes from a start to its next answer.
struct Moves {
    in_place: Duration,
    moved: Duration,
}

/// Stops and starts the instance twice: in place, then with its region full, so that
/// it moves to its fallback region; each time until it answers.
async fn moved(stack: &Stack, client: &ApiClient, id: &str) -> Moves {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&stack.kubeconfig).expect("a kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("a kube config");
    let instances: kube::Api<fasterclaw::crd::Instance> = kube::Api::namespaced(
        kube::Client::try_from(config).expect("a kube client"),
        "default",
    );
    let name = fasterclaw::crd::record_name(id.parse().expect("a uuid"));
    instances
        .patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "spec": { "fallbackRegions": ["iad"] } })),
        )
        .await
        .expect("fallback regions set");
    let restart = |text: &'static str| async move {
        client.stop_instance(id).await.expect("stopping");
        while client.get_instance(id).await.expect("the instance").status != Phase::Stopped {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        text
    };
    let text = restart("hello after a restart").await;
    let started = Instant::now();
    client.start_instance(id).await.expect("starting");
    let in_place = first_answer(&stack.telegram, text, START_WITHIN).await - started;
    let text = restart("hello from the fallback region").await;
    let region = client.get_instance(id).await.expect("the instance").region;
    stack.fly.set_region(
        &region,
        fasterclaw_sim::fly::RegionFaults {
            full: true,
            quota: false,
        },
    );
    let started = Instant::now();
    client.start_instance(id).await.expect("starting");
    let moved = first_answer(&stack.telegram, text, START_WITHIN).await - started;
    let now_in = instances
        .get(&name)
        .await
        .expect("the Instance")
        .status
        .and_then(|s| s.region);
    assert_eq!(
        now_in.as_deref(),
        Some("iad"),
        "it moved to its fallback region"
    );
    stack
        .fly
        .set_region(&region, fasterclaw_sim::fly::RegionFaults::default());
    Moves { in_place, moved }
}

fn report(product: &Measured, floor: &Measured) {
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let ratio = |a: f64, b: f64| format!("{:.2}×", a / b);
    println!("assistant: one instance, the real OpenClaw gateway, on this machine");
    let (running, healthy) = (
        product.running.unwrap_or_default(),
        floor.running.unwrap_or_default(),
    );
    println!(
        "  POST /instances to RUNNING:            {}   floor (process start to /healthz): {}   ratio {}",
        secs(running),
        secs(healthy),
        ratio(running.as_secs_f64(), healthy.as_secs_f64())
    );
    println!(
        "  POST /instances to the first answer:   {}   floor (process start to first answer): {}   ratio {}",
        secs(product.first_answer),
        secs(floor.first_answer),
        ratio(
            product.first_answer.as_secs_f64(),
            floor.first_answer.as_secs_f64()
        )
    );
    for (label, a, b) in [
        (
            "gateway RSS, its tree, after the answer:",
            product.memory.rss_kib,
            floor.memory.rss_kib,
        ),
        (
            "gateway VmHWM, main process:          ",
            product.memory.hwm_kib,
            floor.memory.hwm_kib,
        ),
        (
            "gateway VmHWM, summed over its tree:  ",
            product.memory.tree_hwm_kib,
            floor.memory.tree_hwm_kib,
        ),
    ] {
        println!(
            "  {label} {}   floor: {}   ratio {}",
            mib(a),
            mib(b),
            ratio(a as f64, b as f64)
        );
    }
    println!(
        "  processes in the tree: {} (floor {})",
        product.memory.processes, floor.memory.processes
    );
}
