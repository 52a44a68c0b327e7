//! `fasterclaw import-original`, as an operator runs it: against a database with the
//! original's Prisma schema and rows, the Fly.io simulator holding the apps and machines
//! the original made, a real API server; then the controller and the facade as
//! processes take over without re-provisioning a bot.

mod original;

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fasterclaw::crd::Instance;
use fasterclaw::domain::{LegacyKind, imported_id};
use fasterclaw_sim::fly::MachineState;
use reqwest::Method;
use serde_json::{Value, json};

use self::original::{
    IMAGE, ORIGINAL_ANTHROPIC_KEY, ORIGINAL_OPENAI_KEY, OriginalDatabase, OriginalFly, OriginalRow,
    OriginalSub, bcryptjs_hashes, legacy_tokens,
};
use crate::support::stack::{ANTHROPIC_KEY, OPENAI_KEY, Stack, phase};

const STARTER_PRICE: &str = "price_starter_test";
const PRO_PRICE: &str = "price_pro_test";

const ALICE: &str = "clalice00000000000000001a";
const BOB: &str = "clbob0000000000000000002b";
const GINA: &str = "clgina000000000000000003g";
const DAVE: &str = "cldave000000000000000004d";

const RUNNING: &str = "clrun00000000000000000001";
const STOPPED: &str = "clstop0000000000000000002";
const FAILED: &str = "clfail0000000000000000003";
const HALF: &str = "clhalf0000000000000000004";
const DELETED: &str = "cldel00000000000000000005";

const RUN_APP: &str = "openclaw-clalice0-1732000000001";
const STOP_APP: &str = "openclaw-cldave00-1732000000002";
const FAILED_APP: &str = "openclaw-clalice0-1732000000003";
/// An app of an account the original deleted: no row records it.
const GONE_APP: &str = "openclaw-clgone00-1700000000000";

/// A plaintext token of the real form, as the original stored it without a key.
const PLAIN_TOKEN: &str = "6123456789:AAEk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3";

/// The original, moved: its database, its Fly.io world, and what to check them by.
struct Move {
    stack: Stack,
    source: OriginalDatabase,
    legacy_key: String,
    /// app → (machine, plaintext token) of the bots that were live.
    live: BTreeMap<String, (String, String)>,
    /// The app the half-provisioned instance left, recorded nowhere.
    half_app: String,
}

impl Move {
    /// Users (bcryptjs hashes, a Google-only one), subscriptions (ACTIVE, CANCELED, a
    /// stale limit) and instances in RUNNING, STOPPED, FAILED, half-provisioned and
    /// DELETED, with tokens in plaintext and in the original's encrypted format.
    async fn prepare() -> Self {
        let stack = Stack::new().await;
        let source = OriginalDatabase::new().await;
        let fly = OriginalFly::new(&stack.fly.base_url(), stack.fly.token());
        let hashes = bcryptjs_hashes();
        let (legacy_key, encrypted) = legacy_tokens();
        source
            .user(ALICE, "Alice@Example.com", &hashes[0].hash, Some("Alice"))
            .await;
        source
            .user(BOB, "bob@example.com", &hashes[2].hash, None)
            .await;
        source
            .user(GINA, "gina@example.com", "", Some("Gina"))
            .await;
        source
            .user(DAVE, "dave@example.com", &hashes[1].hash, Some("Dave"))
            .await;
        source
            .subscription(&OriginalSub {
                id: "clsubalice00000000000001",
                user: ALICE,
                customer: "cus_alice_original",
                stripe_id: "sub_alice_original",
                price: Some(STARTER_PRICE),
                status: "ACTIVE",
                plan: Some("starter"),
                limit: 2,
                cancel_at_period_end: false,
            })
            .await;
        source
            .subscription(&OriginalSub {
                id: "clsubbob0000000000000002",
                user: BOB,
                customer: "cus_bob_original",
                stripe_id: "sub_bob_original",
                price: Some(STARTER_PRICE),
                status: "CANCELED",
                plan: Some("starter"),
                limit: 2,
                cancel_at_period_end: false,
            })
            .await;
        // Upgraded to Pro, but the original left the Starter plan and limit behind.
        source
            .subscription(&OriginalSub {
                id: "clsubdave000000000000003",
                user: DAVE,
                customer: "cus_dave_original",
                stripe_id: "sub_dave_original",
                price: Some(PRO_PRICE),
                status: "ACTIVE",
                plan: Some("starter"),
                limit: 1,
                cancel_at_period_end: true,
            })
            .await;

        let mut live = BTreeMap::new();
        // RUNNING, plaintext token, Anthropic.
        let run_app = RUN_APP;
        fly.create_app(run_app).await;
        let run_machine = fly
            .create_machine(run_app, "lax", PLAIN_TOKEN, "claude-sonnet-4-0")
            .await;
        fly.wait(run_app, &run_machine, "started").await;
        source
            .instance(&OriginalRow {
                id: RUNNING,
                user: ALICE,
                name: "Alice's helper",
                status: "RUNNING",
                app: Some(run_app),
                machine: Some(&run_machine),
                token: Some(PLAIN_TOKEN),
                model: "claude-sonnet-4-0",
                region: "lax",
            })
            .await;
        live.insert(run_app.to_owned(), (run_machine, PLAIN_TOKEN.to_owned()));
        // STOPPED, encrypted token, OpenAI.
        let (stored, plaintext) = encrypted[1].clone();
        let stop_app = STOP_APP;
        fly.create_app(stop_app).await;
        let stop_machine = fly
            .create_machine(stop_app, "iad", &plaintext, "gpt-4o")
            .await;
        fly.wait(stop_app, &stop_machine, "started").await;
        fly.stop_machine(stop_app, &stop_machine).await;
        source
            .instance(&OriginalRow {
                id: STOPPED,
                user: DAVE,
                name: "Dave's bot",
                status: "STOPPED",
                app: Some(stop_app),
                machine: Some(&stop_machine),
                token: Some(&stored),
                model: "gpt-4o",
                region: "iad",
            })
            .await;
        live.insert(stop_app.to_owned(), (stop_machine, plaintext));
        // FAILED after its app was made (a retry's app the original recorded).
        let failed_app = FAILED_APP;
        fly.create_app(failed_app).await;
        source
            .instance(&OriginalRow {
                id: FAILED,
                user: ALICE,
                name: "Broken one",
                status: "FAILED",
                app: Some(failed_app),
                machine: None,
                token: Some(&encrypted[0].0),
                model: "claude-sonnet-4-0",
                region: "lax",
            })
            .await;
        // Half-provisioned: the app was made, the machine failed, and the original never
        // recorded the app's name. And an app of an account deleted long ago.
        let half_app = format!(
            "openclaw-cldave00-{}",
            (chrono::Utc::now() - chrono::Duration::days(29)).timestamp_millis()
        );
        fly.create_app(&half_app).await;
        fly.create_app(GONE_APP).await;
        source
            .instance(&OriginalRow {
                id: HALF,
                user: DAVE,
                name: "Never finished",
                status: "PROVISIONING",
                app: None,
                machine: None,
                token: Some(PLAIN_TOKEN),
                model: "gpt-4o",
                region: "iad",
            })
            .await;
        source
            .instance(&OriginalRow {
                id: DELETED,
                user: ALICE,
                name: "Gone",
                status: "DELETED",
                app: None,
                machine: None,
                token: Some(PLAIN_TOKEN),
                model: "claude-sonnet-4-0",
                region: "lax",
            })
            .await;
        Self {
            stack,
            source,
            legacy_key,
            live,
            half_app,
        }
    }

    /// `fasterclaw import-original` with the operator's settings and `args`.
    fn command(&self, args: &[&str]) -> Command {
        let settings = [
            ("SOURCE_DATABASE_URL", self.source.db.url.clone()),
            ("LEGACY_ENCRYPTION_KEY", self.legacy_key.clone()),
            ("INSTANCE_NAMESPACE", self.stack.cluster.namespace.clone()),
            ("STRIPE_PRICE_ID_STARTER", STARTER_PRICE.to_owned()),
            ("STRIPE_PRICE_ID_PRO", PRO_PRICE.to_owned()),
            ("FLY_API_URL", self.stack.fly.base_url()),
            ("FLY_API_TOKEN", self.stack.fly.token().to_owned()),
            ("LOG_FORMAT", "text".to_owned()),
        ];
        let mut command = self.stack.command("import-original", &settings, &[]);
        command.args(args);
        command
    }

    fn import(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("fasterclaw import-original runs")
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(self.stack.db.pool())
            .await
            .expect("a count")
    }

    /// Row counts of every table the import writes.
    async fn counts(&self) -> Vec<i64> {
        let mut counts = Vec::new();
        for table in [
            "users",
            "subscriptions",
            "instances",
            "sealed_secrets",
            "audit_log",
        ] {
            counts.push(self.count(table).await);
        }
        counts
    }

    /// Every Instance's name and resourceVersion.
    async fn versions(&self) -> BTreeMap<String, String> {
        self.stack
            .instances()
            .list(&Default::default())
            .await
            .expect("Instances list")
            .items
            .into_iter()
            .map(|i| {
                (
                    i.metadata.name.clone().unwrap_or_default(),
                    i.metadata.resource_version.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// What must never appear in a log: tokens, keys, password hashes.
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self.live.values().map(|(_, t)| t.clone()).collect();
        secrets.extend(bcryptjs_hashes().into_iter().map(|h| h.hash));
        secrets.extend([
            PLAIN_TOKEN.to_owned(),
            self.legacy_key.clone(),
            ORIGINAL_ANTHROPIC_KEY.to_owned(),
            ORIGINAL_OPENAI_KEY.to_owned(),
            ORIGINAL_JWT_SECRET.to_owned(),
        ]);
        secrets
    }

    /// What must never appear in the report: the secrets, and the people's details.
    fn private(&self) -> Vec<String> {
        let mut private = self.secrets();
        private.extend([
            "cus_alice_original".to_owned(),
            "Alice@Example.com".to_owned(),
            "gina@example.com".to_owned(),
        ]);
        private
    }
}

fn name_of(legacy: &str) -> String {
    format!("fc-{}", imported_id(LegacyKind::Instance, legacy))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn reason(instance: &Instance) -> String {
    crate::support::stack::condition(instance, "Synced")
        .map(|(_, reason)| reason)
        .unwrap_or_default()
}

/// The original's `API_JWT_SECRET`: shorter than the facade accepts as its own, so it is
/// given as `LEGACY_API_JWT_SECRET`.
const ORIGINAL_JWT_SECRET: &str = "fasterclaw-old-secret";

/// A token the original issued: HS256 with its secret, `sub` the user's cuid, no `tv`.
fn original_session(cuid: &str, email: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": cuid, "email": email, "name": null, "iat": now - 3600, "exp": now + 6 * 24 * 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(ORIGINAL_JWT_SECRET.as_bytes()),
    )
    .expect("a token")
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the facade answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_original_moves_over_without_reprovisioning_a_bot() {
    let moving = Move::prepare().await;
    let stack = &moving.stack;
    stack.fly.reset_calls();

    // A dry run says what would happen and writes nothing.
    let dry = moving.import(&["--dry-run"]);
    let report = text(&dry);
    assert!(dry.status.success(), "{report}");
    assert!(
        report.contains(&format!("instance {RUNNING}: would be imported, adopting Fly.io app openclaw-clalice0-1732000000001")),
        "{report}"
    );
    assert!(report.contains("dry run, nothing written"), "{report}");
    assert_eq!(moving.count("users").await, 0);
    assert!(moving.versions().await.is_empty());

    // The import.
    let first = moving.import(&[]);
    let report = text(&first);
    assert!(first.status.success(), "{report}");
    for expected in [
        format!("user {ALICE}: imported"),
        format!("user {GINA}: imported (signs in with Google only)"),
        "subscription clsubdave000000000000003: imported (ACTIVE, pro, limit 10 — limit recomputed from the plan; the original had 1)".to_owned(),
        format!("instance {STOPPED}: imported, adopting Fly.io app openclaw-cldave00-1732000000002"),
        format!("instance {FAILED}: imported as FAILED (the original system had marked this instance FAILED), holding its Fly.io app {FAILED_APP}"),
        format!("instance {HALF}: imported as FAILED (provisioning never finished in the original system (it was PROVISIONING)), holding its Fly.io app {}, found by its name (the original never recorded it)", moving.half_app),
        format!("app {GONE_APP}: skipped: no row of the original records it"),
        "; unrecorded apps 0 deleted, 1 left in place".to_owned(),
        format!("instance {DELETED}: skipped: deleted in the original"),
        "users 4 imported, 0 already imported, 0 skipped, 0 not imported; subscriptions 3 imported".to_owned(),
        // Moved onto the pinned OpenClaw, with a model it offers.
        "the controller moves the machine onto OpenClaw 2026.9.6 with its configuration (one restart)".to_owned(),
        "its model gpt-4o is not offered by OpenClaw 2026.9.6, so it answers with gpt-5.4-mini".to_owned(),
    ] {
        assert!(report.contains(&expected), "missing {expected:?} in:\n{report}");
    }
    for private in moving.private() {
        assert!(
            !report.contains(&private),
            "the report shows {private:?}:\n{report}"
        );
    }
    assert_eq!(moving.versions().await.len(), 4, "{report}");

    // The controller takes over, and the facade serves the imported accounts.
    let controller = stack.controller(&[]);
    let facade = stack
        .api(
            "http://127.0.0.1:9",
            &[
                ("STRIPE_PRICE_ID_STARTER", STARTER_PRICE),
                ("STRIPE_PRICE_ID_PRO", PRO_PRICE),
                ("LEGACY_API_JWT_SECRET", ORIGINAL_JWT_SECRET),
            ],
        )
        .await;
    let wait = Duration::from_secs(60);
    // Each live machine is made again on a volume of its own (one restart): Fly.io
    // cannot mount a volume on a machine that has none.
    let on_volume = |i: &fasterclaw::crd::Instance, app: &str| {
        i.status.as_ref().is_some_and(|s| {
            s.volume.is_some()
                && s.fly_machine_id.is_some()
                && s.fly_machine_id.as_deref() != Some(moving.live[app].0.as_str())
        })
    };
    let running = stack
        .until(
            &name_of(RUNNING),
            wait,
            "the adopted bot runs on its volume",
            |i| phase(i) == "RUNNING" && crate::support::stack::running(i) && on_volume(i, RUN_APP),
        )
        .await;
    let stopped = stack
        .until(
            &name_of(STOPPED),
            wait,
            "the adopted bot is stopped on its volume",
            |i| phase(i) == "STOPPED" && reason(i) == "ReconcileSuccess" && on_volume(i, STOP_APP),
        )
        .await;
    let failed = stack
        .until(&name_of(FAILED), wait, "the failed one is FAILED", |i| {
            phase(i) == "FAILED"
        })
        .await;
    let half = stack
        .until(&name_of(HALF), wait, "the half-made one is FAILED", |i| {
            phase(i) == "FAILED"
        })
        .await;
    assert_eq!(reason(&failed), "ImportedFailed");
    assert_eq!(reason(&half), "ImportedFailed");
    let status = half.status.clone().unwrap_or_default();
    assert_eq!(
        status.fly_app_name.as_deref(),
        Some(moving.half_app.as_str())
    );
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!(status.fly_app_name.as_deref(), Some(FAILED_APP));

    // Same apps; each live machine made again once, on a new volume, and nothing
    // else: no app, no update, no start, no snapshot of an empty volume.
    assert_eq!(stack.fly.calls_of("Apps_create"), 0);
    for (operation, count) in [
        ("Volumes_create", 2),
        ("Machines_create", 2),
        ("Machines_delete", 2),
        ("Machines_update", 0),
        ("Machines_start", 0),
        ("createVolumeSnapshot", 0),
    ] {
        assert_eq!(
            stack.fly.calls_of(operation),
            count,
            "{operation}: {:?}",
            stack.fly.calls()
        );
    }
    let mut live = moving.live.clone();
    for (instance, app) in [(&running, RUN_APP), (&stopped, STOP_APP)] {
        let status = instance.status.clone().unwrap_or_default();
        assert_eq!(status.fly_app_name.as_deref(), Some(app));
        let machine = status.fly_machine_id.clone().expect("a machine");
        assert_ne!(machine, moving.live[app].0);
        let volume = status.volume.clone().expect("a volume");
        assert_eq!(
            stack.fly.volumes(app)[0]["attached_machine_id"],
            machine.as_str()
        );
        assert_eq!(
            Some(volume.region),
            status.region,
            "the machine is where its volume is"
        );
        if let Some(entry) = live.get_mut(app) {
            entry.0 = machine;
        }
    }
    // The running original's state could not be taken (the simulator runs no process
    // here): the replacement says so and goes on.
    let events = stack.events(&name_of(RUNNING)).await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("StateNotCarried")),
        "{:?}",
        events.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
    assert!(matches!(
        stack.fly.machine_state(STOP_APP, &live[STOP_APP].0),
        Some(MachineState::Created | MachineState::Stopped)
    ));
    let created_before = stack.fly.created();
    // The secrets left the machines' env for the apps' secrets.
    let world = stack.fly.state();
    for (app, (machine, token)) in &live {
        let app_state = world["apps"]
            .as_array()
            .and_then(|apps| apps.iter().find(|a| a["name"] == app.as_str()))
            .expect("the app is there");
        let machine_state = app_state["machines"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == machine.as_str()))
            .expect("the machine is there");
        let env = &machine_state["config"]["env"];
        for name in ["TELEGRAM_BOT_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"] {
            assert!(
                env.get(name).is_none(),
                "{name} still in {app}'s env: {env}"
            );
        }
        let config = machine_state["config"].to_string();
        for secret in [token.as_str(), ORIGINAL_ANTHROPIC_KEY, ORIGINAL_OPENAI_KEY] {
            assert!(
                !config.contains(secret),
                "a secret in {app}'s machine config"
            );
        }
        // Moved onto the pinned OpenClaw with its configuration.
        assert_ne!(IMAGE, fasterclaw::runtime::default_image());
        assert_eq!(
            machine_state["config"]["image"],
            fasterclaw::runtime::default_image(),
            "the machine runs the pinned OpenClaw"
        );
        assert_eq!(
            machine_state["config"]["files"][0]["guest_path"],
            "/etc/fasterclaw/openclaw.json"
        );
        assert_eq!(
            stack.fly.secret_value(app, "TELEGRAM_BOT_TOKEN").as_deref(),
            Some(token.as_str()),
            "{app}'s token is an app secret"
        );
        let (key_name, key) = if app == RUN_APP {
            ("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        } else {
            ("OPENAI_API_KEY", OPENAI_KEY)
        };
        assert_eq!(
            stack.fly.secret_value(app, key_name).as_deref(),
            Some(key),
            "{app}'s provider key is the platform's, as an app secret"
        );
        assert_eq!(
            machine_state["min_secrets_version"], app_state["secrets_version"],
            "{app}'s machine waits for its secrets: {machine_state}"
        );
    }

    // Every user signs in with the old password; Google-only accounts have none. A
    // session the original issued is accepted, old links still lead somewhere, and
    // gating follows the imported plans.
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", facade.url);
    let hashes = bcryptjs_hashes();
    let login = |email: &str, password: &str| json!({ "email": email, "password": password });
    let alice = original_session(ALICE, "Alice@Example.com");
    let bob = original_session(BOB, "bob@example.com");
    let dave = original_session(DAVE, "dave@example.com");
    let new_instance = json!({
        "name": "One more",
        "telegramBotToken": PLAIN_TOKEN,
        "aiModel": "claude-sonnet-5",
        "region": "lax",
    });
    // What is asked, of which route, with which session and body; the status it gets,
    // and what else its answer must show.
    type Case<'a> = (
        &'a str,
        Method,
        String,
        Option<&'a str>,
        Option<Value>,
        u16,
        fn(&Value),
    );
    let cases: Vec<Case> = vec![
        (
            "Alice@Example.com signs in",
            Method::POST,
            url("/auth/login"),
            None,
            Some(login("Alice@Example.com", &hashes[0].password)),
            200,
            |_| {},
        ),
        (
            "bob@example.com signs in",
            Method::POST,
            url("/auth/login"),
            None,
            Some(login("bob@example.com", &hashes[2].password)),
            200,
            |_| {},
        ),
        (
            "dave@example.com signs in",
            Method::POST,
            url("/auth/login"),
            None,
            Some(login("dave@example.com", &hashes[1].password)),
            200,
            |_| {},
        ),
        (
            "a Google-only account has no password",
            Method::POST,
            url("/auth/login"),
            None,
            Some(login("gina@example.com", "anything-at-all")),
            401,
            |_| {},
        ),
        (
            "Alice's session from the original",
            Method::GET,
            url("/auth/me"),
            Some(&alice),
            None,
            200,
            |me| assert_eq!(me["id"], imported_id(LegacyKind::User, ALICE).to_string()),
        ),
        (
            "Alice's instances",
            Method::GET,
            url("/instances"),
            Some(&alice),
            None,
            200,
            |list| assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}"),
        ),
        (
            "an old link to Alice's running instance",
            Method::GET,
            url(&format!("/instances/{RUNNING}")),
            Some(&alice),
            None,
            200,
            |one| {
                assert_eq!(one["status"], "RUNNING", "{one}");
                assert_eq!(one["telegramBotToken"], "6123456789...5bC3", "{one}");
            },
        ),
        (
            "Alice, at her plan's limit, creates one more",
            Method::POST,
            url("/instances"),
            Some(&alice),
            Some(new_instance.clone()),
            403,
            |refused| {
                assert_eq!(
                    refused["error"].as_str(),
                    Some(
                        "Instance limit reached (2). Please upgrade your plan or delete existing instances."
                    )
                )
            },
        ),
        (
            "Bob, whose subscription is not active, creates one",
            Method::POST,
            url("/instances"),
            Some(&bob),
            Some(new_instance),
            403,
            |refused| {
                assert!(
                    refused["error"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("Active subscription required")
                )
            },
        ),
        (
            "Dave's imported subscription",
            Method::GET,
            url("/billing/subscription"),
            Some(&dave),
            None,
            200,
            |subscription| {
                let terms = &subscription["subscription"];
                assert_eq!(terms["plan"], "pro", "{subscription}");
                assert_eq!(terms["instanceLimit"], 10, "{subscription}");
                assert_eq!(terms["cancelAtPeriodEnd"], true, "{subscription}");
                assert_eq!(
                    terms["stripeCustomerId"], "cus_dave_original",
                    "{subscription}"
                );
            },
        ),
    ];
    for (what, method, url, token, body, expected, check) in cases {
        let (status, answer) = call(&http, method, url, token, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        check(&answer);
    }

    // A second run changes nothing.
    let counts = moving.counts().await;
    let versions = moving.versions().await;
    let second = moving.import(&[]);
    let report = text(&second);
    assert!(second.status.success(), "{report}");
    assert!(
        report.contains("users 0 imported, 4 already imported, 0 skipped, 0 not imported; subscriptions 0 imported, 3 already imported, 0 skipped, 0 not imported; instances 0 imported, 4 already imported, 1 skipped, 0 not imported"),
        "{report}"
    );
    assert_eq!(moving.counts().await, counts);
    assert_eq!(moving.versions().await, versions);
    assert_eq!(stack.fly.created(), created_before);

    // No Instance adopts an app another one holds; deleting it leaves that app alone.
    stack
        .token_secret("thief-telegram", crate::support::stack::TOKEN)
        .await;
    let secret_writes = stack.fly.calls_of("Secrets_update");
    stack
        .instance("thief", json!({ "adopt": { "appName": RUN_APP } }))
        .await;
    let thief = stack
        .until("thief", wait, "the second adopter is refused", |i| {
            phase(i) == "FAILED"
        })
        .await;
    assert_eq!(reason(&thief), "AppNameConflict");
    assert_eq!(thief.status.clone().unwrap_or_default().fly_app_name, None);
    assert_eq!(stack.fly.calls_of("Secrets_update"), secret_writes);
    stack
        .instances()
        .delete("thief", &Default::default())
        .await
        .expect("the delete is accepted");
    stack.until_gone("thief", wait).await;
    assert!(stack.fly.app_names().contains(&RUN_APP.to_owned()));
    assert_eq!(
        stack
            .fly
            .secret_value(RUN_APP, "TELEGRAM_BOT_TOKEN")
            .as_deref(),
        Some(PLAIN_TOKEN)
    );

    // A retry provisions the FAILED one inside the app it held (a new machine, no new
    // app); deleting it then removes that app: nothing leaks.
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        url(&format!("/instances/{FAILED}/retry")),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let retried = stack
        .until(
            &name_of(FAILED),
            wait,
            "the retried one runs",
            crate::support::stack::running,
        )
        .await;
    let status = retried.status.clone().unwrap_or_default();
    assert_eq!(status.fly_app_name.as_deref(), Some(FAILED_APP));
    assert_eq!(
        stack.fly.created(),
        (created_before.0, created_before.1 + 1)
    );
    let (status, body) = call(
        &http,
        reqwest::Method::DELETE,
        url(&format!("/instances/{FAILED}")),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    stack.until_gone(&name_of(FAILED), wait).await;
    assert!(!stack.fly.app_names().contains(&FAILED_APP.to_owned()));
    // And the half-made one's app, found by its name, goes with it.
    let (status, body) = call(
        &http,
        reqwest::Method::DELETE,
        url(&format!("/instances/{HALF}")),
        Some(&original_session(DAVE, "dave@example.com")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    stack.until_gone(&name_of(HALF), wait).await;
    assert!(!stack.fly.app_names().contains(&moving.half_app));
    assert!(stack.fly.app_names().contains(&GONE_APP.to_owned()));

    // An imported account, or instance, deleted here stays deleted when the import runs
    // again.
    let (status, body) = call(
        &http,
        reqwest::Method::DELETE,
        url("/auth/account"),
        Some(&bob),
        Some(json!({ "password": hashes[2].password })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let third = moving.import(&[]);
    let report = text(&third);
    assert!(third.status.success(), "{report}");
    assert!(
        report.contains(&format!(
            "user {BOB}: skipped: it was imported before and its account has been deleted here since; it stays deleted"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "instance {FAILED}: skipped: it was imported before and has been deleted here since; it stays deleted"
        )),
        "{report}"
    );
    let bob_id = imported_id(LegacyKind::User, BOB);
    assert!(
        stack.db.db.users().find(bob_id).await.unwrap().is_none(),
        "the deleted account came back"
    );

    let logs = format!("{}{}", controller.logs(), facade.logs());
    for secret in moving.secrets() {
        assert!(!logs.contains(&secret), "a secret reached a log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_half_way_completes_on_the_next_run() {
    let moving = Move::prepare().await;
    // Another transaction holds the id the first instance will get, so the run stops
    // inside the instances, after the users and subscriptions are written.
    let holder = moving
        .stack
        .db
        .db
        .users()
        .create(
            &fasterclaw::domain::EmailAddress::parse("holder@example.com").expect("an email"),
            None,
            None,
        )
        .await
        .expect("an account");
    let mut blocker = moving.stack.db.pool().begin().await.expect("a transaction");
    sqlx::query(
        "insert into instances (id, owner_id, namespace, name, display_name)
         values ($1, $2, 'elsewhere', 'holder', 'holder')",
    )
    .bind(imported_id(LegacyKind::Instance, FAILED))
    .bind(holder.id)
    .execute(&mut *blocker)
    .await
    .expect("the id is held");
    let out = tempfile::NamedTempFile::new().expect("a file for the report");
    let file = out.reopen().expect("the report file");
    let mut run = moving
        .command(&[])
        .stdout(file.try_clone().expect("the report file"))
        .stderr(file)
        .spawn()
        .expect("the import starts");
    let report = || std::fs::read_to_string(out.path()).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(moving.stack.db.pool())
        .await
        .expect("a count");
        if waiting > 0 {
            break;
        }
        assert!(
            run.try_wait().expect("the import's state").is_none(),
            "the import ended before it was killed: {}",
            report()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the import did not get to the instances: {}",
            report()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.kill().expect("the import is killed");
    let _ = run.wait();
    blocker.rollback().await.expect("the id is free again");
    assert!(
        report().contains("subscription clsubdave000000000000003: imported"),
        "{}",
        report()
    );
    assert_eq!(moving.count("users").await, 5);
    assert_eq!(moving.count("subscriptions").await, 3);
    // The original's instances go oldest first: RUNNING and STOPPED were done.
    assert_eq!(moving.count("instances").await, 2);
    assert_eq!(moving.versions().await.len(), 2);

    let rerun = moving.import(&[]);
    let report = text(&rerun);
    assert!(rerun.status.success(), "{report}");
    assert!(
        report.contains("users 0 imported, 4 already imported, 0 skipped, 0 not imported; subscriptions 0 imported, 3 already imported, 0 skipped, 0 not imported; instances 2 imported, 2 already imported, 1 skipped, 0 not imported"),
        "{report}"
    );
    assert_eq!(moving.count("instances").await, 4);
    assert_eq!(moving.versions().await.len(), 4);
    assert_eq!(moving.count("users").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_cannot_be_imported_are_named_and_fail_the_run() {
    let moving = Move::prepare().await;
    // A native account already holds Bob's email, in another letter case.
    moving
        .stack
        .db
        .db
        .users()
        .create(
            &fasterclaw::domain::EmailAddress::parse("BOB@example.com").expect("an email"),
            None,
            None,
        )
        .await
        .expect("the account is made");
    let output = moving
        .command(&["--delete-orphans"])
        .env("LEGACY_ENCRYPTION_KEY", "not-the-original-key")
        .stdin(Stdio::null())
        .output()
        .expect("the import runs");
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    for expected in [
        format!("user {BOB}: NOT imported: another account here has its email"),
        "subscription clsubbob0000000000000002: skipped: its account was not imported".to_owned(),
        format!(
            "instance {STOPPED}: NOT imported: its token does not open with LEGACY_ENCRYPTION_KEY"
        ),
        format!("instance {RUNNING}: imported, adopting"),
        format!("app {GONE_APP}: deleted"),
        format!("instance {FAILED}: NOT imported: its token does not open"),
        "3 row(s) were not imported".to_owned(),
    ] {
        assert!(
            report.contains(&expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    let apps = moving.stack.fly.app_names();
    assert!(!apps.contains(&GONE_APP.to_owned()), "{apps:?}");
    assert!(
        apps.contains(&moving.half_app),
        "a claimed app stays: {apps:?}"
    );
    // A missing setting is one line.
    let output = moving
        .command(&[])
        .env_remove("SOURCE_DATABASE_URL")
        .output()
        .expect("the import runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("SOURCE_DATABASE_URL is not set"),
        "{stderr}"
    );
}
