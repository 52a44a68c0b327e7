//! `./scripts/dev`, the one command that runs the whole control plane locally, run as
//! the README runs it (from the repository root, building what it runs) and walked end
//! to end as a person would: register, subscribe through the Stripe stand-in's Checkout
//! page, create an instance through the API and another with `kubectl apply -f
//! examples/secret.yaml -f examples/instance.yaml`, both RUNNING; then Ctrl-C stops it
//! all.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{CheckoutRequest, CreateInstanceRequest, RegisterRequest};
use fasterclaw::crd::Phase;
use serde_json::json;

use crate::support::postgres::TestDatabase;
use crate::support::stack::TOKEN;

const HOW_TO_RUN: &str =
    "kubectl is missing: run ./scripts/test (it installs Debian's kubernetes-client)";

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

    // An instance through the API...
    let created = client
        .create_instance(
            &serde_json::from_value::<CreateInstanceRequest>(json!({
                "name": "My assistant", "telegramBotToken": TOKEN
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
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
            "not RUNNING in 60 s: the API's is {api_phase:?}, kubectl's {kubectl_phase:?}; the controller's log:\n{}",
            std::fs::read_to_string(logs.join("controller.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let table = kubectl(&kubeconfig, &["get", "instances"]);
    assert!(
        table.contains("support-bot") && table.contains("RUNNING"),
        "{table}"
    );

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
}
