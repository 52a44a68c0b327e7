//! `./scripts/dev`, the one command that runs the whole control plane locally, run as
//! the README runs it (from the repository root, building what it runs) and walked end
//! to end as a person would: register, subscribe through the Stripe stand-in's Checkout
//! page, create an instance through the API (answering its owner's Telegram user id)
//! and another with `kubectl apply -f examples/secret.yaml -f examples/instance.yaml`,
//! both RUNNING as real OpenClaw gateways; the owner writes to the bot through the
//! Telegram stand-in and gets the model stand-in's answer; then Ctrl-C stops it all,
//! the gateways' processes included.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{CheckoutRequest, CreateInstanceRequest, RegisterRequest};
use fasterclaw::crd::Phase;
use fasterclaw_sim::models::answer_text;
use fasterclaw_sim::telegram::ChatMessage;
use serde_json::{Value, json};

use crate::support::postgres::TestDatabase;
use crate::support::stack::TOKEN;

const HOW_TO_RUN: &str =
    "kubectl is missing: run ./scripts/test (it installs Debian's kubernetes-client)";

/// The newcomer's Telegram user id: the chat page's default.
const OWNER: i64 = 424_242;

/// The gateways' start (the merge, the validation, then the gateway itself) takes up to
/// a few minutes on a busy machine; both instances' gateways start at once.
const RUNNING_WITHIN: Duration = Duration::from_secs(300);

/// The pids of every machine's process tree the Fly.io stand-in shows.
async fn gateway_processes(fly: &str) -> Vec<u32> {
    let state: Value = reqwest::get(format!("{fly}/_sim/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let roots: Vec<u32> = state["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|app| app["machines"].as_array().into_iter().flatten())
        .filter_map(|m| m["pid"].as_u64())
        .filter_map(|p| u32::try_from(p).ok())
        .collect();
    let mut tree = roots.clone();
    // Children by their parent, until no new one turns up.
    loop {
        let before = tree.len();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|s| {
                    let after = s[s.rfind(')')? + 1..].to_owned();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                });
            if parent.is_some_and(|p| tree.contains(&p)) && !tree.contains(&pid) {
                tree.push(pid);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

fn kubectl(kubeconfig: &str, args: &[&str]) -> String {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `scripts/dev`, interrupted (as by Ctrl-C) when the test ends however it ends.
struct Dev(Child);

impl Dev {
    fn interrupt(&self) {
        let _ = Command::new("kill")
            .args(["-s", "INT", &self.0.id().to_string()])
            .status();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.interrupt();
            std::thread::sleep(Duration::from_secs(5));
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_runs_the_stack_a_person_can_use() {
    fasterclaw::tls::install_crypto_provider();
    assert!(
        Command::new("kubectl")
            .arg("version")
            .arg("--client")
            .output()
            .is_ok(),
        "{HOW_TO_RUN}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = TestDatabase::new().await;
    let state = tempfile::tempdir().unwrap();
    let errors = std::fs::File::create(state.path().join("dev.stderr")).unwrap();
    // Only settings the README names: its database and any free port for the facade.
    // The logs and the kubeconfig go where the README says, target/dev.
    let mut dev = Dev(Command::new("./scripts/dev")
        .current_dir(root)
        .env("DATABASE_URL", &db.url)
        .env("FASTERCLAW_DEV_PORT", "0")
        .env_remove("FASTERCLAW_DEV_DIR")
        .stdout(Stdio::piped())
        .stderr(errors)
        .spawn()
        .expect("scripts/dev runs"));
    let logs = root.join("target/dev");
    let stdout = dev.0.stdout.take().unwrap();
    // A thread of its own: a read that never ends must not hold the test's runtime.
    let (sender, printed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            let last = line.starts_with("Ctrl-C stops everything");
            lines.push(line);
            if last {
                break;
            }
        }
        let _ = sender.send(lines);
    });
    // The script builds first: quick when the binaries are built already (the test
    // command builds them before the tests), a few minutes when they are not.
    let lines = match tokio::time::timeout(Duration::from_secs(240), printed).await {
        Ok(Ok(lines)) => lines,
        _ => panic!(
            "the stack did not print its addresses within 240 s (its build included): {}",
            std::fs::read_to_string(state.path().join("dev.stderr")).unwrap_or_default()
        ),
    };
    let value = |label: &str| {
        lines
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(label)
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
            })
            .unwrap_or_else(|| panic!("no {label} line in {lines:#?}"))
    };
    let facade = value("facade:");
    let telegram = value("Telegram:");
    let fly = value("Fly.io:");
    assert_eq!(value("chat:"), format!("{telegram}/chat"));
    let models = value("models:");
    assert!(models.starts_with("http://127.0.0.1:"), "{models}");
    let kubeconfig = root
        .join(value("kubeconfig:"))
        .to_string_lossy()
        .into_owned();
    assert_eq!(value("docs:"), format!("{facade}/docs"));
    let docs = reqwest::get(format!("{facade}/docs")).await.unwrap();
    assert_eq!(docs.status(), 200);

    // A person registers and subscribes on the Stripe stand-in's Checkout page.
    let anonymous = ApiClient::new(&facade);
    let registered = anonymous
        .register(
            &serde_json::from_value::<RegisterRequest>(json!({
                "email": "ada@example.com", "password": "a good password", "name": "Ada"
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let client = anonymous.with_token(registered.access_token);
    let checkout = client
        .checkout(&serde_json::from_value::<CheckoutRequest>(json!({ "plan": "starter" })).unwrap())
        .await
        .unwrap();
    let page = reqwest::get(&checkout.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Pay"), "{page}");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paid = no_redirects.post(&checkout.url).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        "http://localhost:3000/dashboard/billing?success=true"
    );
    let subscription = client
        .subscription()
        .await
        .unwrap()
        .subscription
        .expect("subscribed");
    assert_eq!(subscription.status, "ACTIVE");

    // An instance through the API, answering its owner only...
    let created = client
        .create_instance(
            &serde_json::from_value::<CreateInstanceRequest>(json!({
                "name": "My assistant", "telegramBotToken": TOKEN, "telegramUserIds": [OWNER]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // ...and one with kubectl.
    let applied = kubectl(
        &kubeconfig,
        &[
            "apply",
            "-f",
            &root.join("examples/secret.yaml").to_string_lossy(),
            "-f",
            &root.join("examples/instance.yaml").to_string_lossy(),
        ],
    );
    assert!(
        applied.contains("secret/support-bot-telegram created")
            && applied.contains("instance.fasterclaw.io/support-bot created"),
        "{applied}"
    );
    let deadline = tokio::time::Instant::now() + RUNNING_WITHIN;
    loop {
        let api_phase = client
            .get_instance(&created.id.to_string())
            .await
            .unwrap()
            .status;
        let kubectl_phase = kubectl(
            &kubeconfig,
            &[
                "get",
                "instance",
                "support-bot",
                "-o",
                "jsonpath={.status.phase}",
            ],
        );
        if api_phase == Phase::Running && kubectl_phase == "RUNNING" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not RUNNING in {RUNNING_WITHIN:?}: the API's is {api_phase:?}, kubectl's {kubectl_phase:?}; the controller's log:\n{}",
            std::fs::read_to_string(logs.join("controller.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let table = kubectl(&kubeconfig, &["get", "instances"]);
    assert!(
        table.contains("support-bot") && table.contains("RUNNING"),
        "{table}"
    );

    // The owner writes to the bot (the first use of a token makes it a bot of the
    // Telegram stand-in, named after the token's id) and the gateway answers with the
    // model stand-in's reply.
    let bot = format!("bot{}_bot", TOKEN.split(':').next().unwrap_or_default());
    let text = "what is the capital of France?";
    let http = reqwest::Client::new();
    // The bot exists once its gateway has first called Telegram, which may come a little
    // after RUNNING: the message is posted once the stand-in knows the bot.
    let posting_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let after = loop {
        let posted: Value = http
            .post(format!("{telegram}/_sim/bots/{bot}/messages"))
            .json(&json!({ "from": { "id": OWNER, "first_name": "Ada" }, "text": text }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = posted["message_id"].as_i64() {
            break id;
        }
        assert!(
            tokio::time::Instant::now() < posting_deadline,
            "the Telegram stand-in never knew {bot}: {posted}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let expected = answer_text("claude-sonnet-5", text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let reply = loop {
        let sent: Vec<ChatMessage> = http
            .get(format!(
                "{telegram}/_sim/bots/{bot}/sent?chat_id={OWNER}&after={after}&wait=20"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(reply) = sent
            .iter()
            .find(|m| m.plain_text().contains("claude-sonnet-5"))
        {
            break reply.plain_text();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer in 180 s; the bot sent {sent:?}; the controller's log:\n{}",
            std::fs::read_to_string(logs.join("controller.log")).unwrap_or_default()
        );
    };
    assert!(reply.contains(&expected), "{reply:?} lacks {expected:?}");
    let gateways = gateway_processes(&fly).await;
    assert!(gateways.len() >= 2, "two machines run: {gateways:?}");

    // Ctrl-C stops everything.
    dev.interrupt();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = dev.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stack did not stop within 30 s of Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
    assert!(
        reqwest::get(format!("{facade}/health")).await.is_err(),
        "the facade still answers"
    );
    // Killed as the stack stopped: gone once the kernel has torn them down.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<u32> = gateways.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gateway processes outlived the stack by 10 s: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
