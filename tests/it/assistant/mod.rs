//! The assistant end to end: the controller on the real API server, the facade, the Fly
//! simulator running each machine as the real OpenClaw gateway (the pinned npm
//! package), the Telegram stand-in the gateway polls and the model stand-in it asks.
//! An Instance created through the facade answers its owner with its model's reply,
//! ignores strangers under an allowlist, lets a stranger in once the owner approves the
//! pairing code, follows a model change and a new token, keeps what it knows (the
//! approval, its memory) across a restart, a model change and a move to another region
//! when its host is full, an adopted machine of the original system brings the state
//! it kept on its root file system onto its volume, and no secret is in its machine
//! config, its files or any log.

use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{CreateInstanceRequest, InstanceResponse, UpdateInstanceRequest};
use fasterclaw::crd::Phase;
use fasterclaw_sim::fly::{FlySimConfig, ImageRun, MachineRuntime};
use fasterclaw_sim::models::{ModelSim, answer_text};
use fasterclaw_sim::telegram::{ChatMessage, TelegramSim, User};
use serde_json::{Value, json};

use crate::facade::sign_up;
use crate::support::cluster::TestCluster;
use crate::support::openclaw::OpenClaw;
use crate::support::stack::{ANTHROPIC_KEY, ControllerProcess, FacadeProcess, OPENAI_KEY, Stack};

mod health;
mod upgrade;

const FIRST_TOKEN: &str = "7200000001:AAHfirst0tokenValue1234567890abcdefgh";
const SECOND_TOKEN: &str = "7200000002:AAHsecond0tokenValue234567890abcdefg";
const PAIRING_TOKEN: &str = "7200000003:AAHpairing0tokenValue34567890abcdefg";
const ADOPTED_TOKEN: &str = "7200000004:AAHadopted0tokenValue4567890abcdefgh";
const GOOGLE_KEY: &str = "gemini-test-key-7f6e5d4c3b2a19080716253443";
const OWNER: i64 = 424_242;
const STRANGER: i64 = 777_001;

/// How long a gateway may take to start (merge, validate, boot, poll) on a busy machine.
const BOOT: Duration = Duration::from_secs(300);
/// How long an answer may take once the gateway polls.
const ANSWER: Duration = Duration::from_secs(180);

/// Everything one test needs, running.
struct Assistants {
    stack: Stack,
    telegram: TelegramSim,
    models: ModelSim,
    facade: FacadeProcess,
    controller: ControllerProcess,
    owner: ApiClient,
    _machines: tempfile::TempDir,
}

impl Assistants {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Started with more of the controller's settings.
    async fn start_with(settings: &[(&str, &str)]) -> Self {
        Self::start_on(settings, Vec::new()).await
    }

    /// Started with more of the controller's settings, and images that run another
    /// package (or exit at start) on the Fly simulator.
    async fn start_on(settings: &[(&str, &str)], images: Vec<(String, ImageRun)>) -> Self {
        let openclaw = OpenClaw::installed();
        let machines = tempfile::tempdir().expect("a temporary directory");
        let telegram = TelegramSim::start(([127, 0, 0, 1], 0).into(), false)
            .await
            .expect("the Telegram stand-in starts");
        for (token, username) in [
            (FIRST_TOKEN, "first_claw_bot"),
            (SECOND_TOKEN, "second_claw_bot"),
            (PAIRING_TOKEN, "pairing_claw_bot"),
            (ADOPTED_TOKEN, "adopted_claw_bot"),
        ] {
            telegram.add_bot(token, username, "Claw");
        }
        let models = ModelSim::start(([127, 0, 0, 1], 0).into())
            .await
            .expect("the model stand-in starts");
        let fly = FlySimConfig {
            transition: Duration::from_millis(50),
            rate_limits: false,
            runtime: Some(images.into_iter().fold(
                MachineRuntime::new(
                    openclaw.node.clone(),
                    openclaw.package.clone(),
                    machines.path().join("machines"),
                ),
                |runtime, (image, run)| runtime.with_image(image, run),
            )),
            ..FlySimConfig::default()
        };
        let stack = Stack::on(TestCluster::new().await, fly).await;
        let facade = stack.api(&telegram.base_url(), &[]).await;
        let (anthropic, openai, google) = (
            models.base_url(),
            models.openai_base_url(),
            models.google_base_url(),
        );
        let telegram_root = telegram.base_url();
        let mut env = vec![
            ("TELEGRAM_API_ROOT", telegram_root.as_str()),
            ("MODEL_BASE_URL_ANTHROPIC", anthropic.as_str()),
            ("MODEL_BASE_URL_OPENAI", openai.as_str()),
            ("MODEL_BASE_URL_GOOGLE", google.as_str()),
            ("GOOGLE_API_KEY", GOOGLE_KEY),
            ("TRANSITION_REQUEUE", "1s"),
        ];
        env.extend_from_slice(settings);
        let controller = stack.controller(&env);
        let (owner, user) = sign_up(&facade.client()).await;
        stack.subscribe(user.id, "pro", 5).await;
        Self {
            stack,
            telegram,
            models,
            facade,
            controller,
            owner,
            _machines: machines,
        }
    }

    async fn create(&self, token: &str, users: &[i64]) -> InstanceResponse {
        let body: CreateInstanceRequest = serde_json::from_value(json!({
            "name": "My assistant",
            "telegramBotToken": token,
            "telegramUserIds": users,
        }))
        .expect("a valid request");
        self.owner.create_instance(&body).await.expect("created")
    }

    /// Waits for `status`, failing with what the controller, the facade and the
    /// machine said when it does not come.
    async fn until(&self, id: &str, status: Phase, within: Duration) -> InstanceResponse {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let instance = self.owner.get_instance(id).await.expect("the instance");
            if instance.status == status {
                return instance;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{id} never reached {status:?}; it is {:?}: {:?}\nmachine log:\n{}\ncontroller:\n{}",
                    instance.status,
                    self.owner
                        .provisioning_status(id)
                        .await
                        .ok()
                        .and_then(|p| p.message),
                    self.machine_log(&instance),
                    tail(&self.controller.logs(), 40),
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The one Instance of the test, as the API server has it.
    async fn only_instance(&self) -> fasterclaw::crd::Instance {
        let instances = self
            .stack
            .instances()
            .list(&kube::api::ListParams::default())
            .await
            .expect("Instances list");
        assert_eq!(instances.items.len(), 1, "one Instance");
        instances.items.into_iter().next().expect("an Instance")
    }

    /// The Instance's volume, and where its memory note is on the host.
    async fn volume(&self) -> (fasterclaw::crd::VolumeStatus, std::path::PathBuf) {
        let instance = self.only_instance().await;
        let volume = instance
            .status
            .as_ref()
            .and_then(|s| s.volume.clone())
            .expect("status.volume");
        let dir = self.stack.fly.volume_dir(&volume.id).expect("a volume dir");
        (volume, dir.join("openclaw/workspace/MEMORY.md"))
    }

    fn machine_log(&self, instance: &InstanceResponse) -> String {
        match (&instance.fly_app_name, &instance.fly_machine_id) {
            (Some(app), Some(machine)) => {
                self.stack.fly.machine_log(app, machine).unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// `user` writes `text` to the bot of `token` and gets the bot's next message.
    async fn ask(&self, token: &str, user: &User, text: &str) -> Option<ChatMessage> {
        let posted = self
            .telegram
            .send_user_message(token, user, text)
            .expect("the message is posted");
        self.telegram
            .wait_for_reply(token, posted.chat_id, posted.message_id, ANSWER)
            .await
    }

    /// The owner writes `text` to the bot of `token`, and the answer is the one `model`
    /// gives (else the test fails with the tail of `instance`'s machine log).
    async fn assert_answers(
        &self,
        token: &str,
        model: &str,
        text: &str,
        instance: &InstanceResponse,
    ) {
        let answer = self.ask(token, &owner(), text).await;
        assert_eq!(
            answer.map(|a| a.plain_text()),
            Some(answer_text(model, text)),
            "machine log:\n{}",
            tail(&self.machine_log(instance), 60)
        );
    }

    async fn restart_with(&self, id: &str, change: Value) {
        self.owner.stop_instance(id).await.expect("stopping");
        self.until(id, Phase::Stopped, Duration::from_secs(90))
            .await;
        let change: UpdateInstanceRequest = serde_json::from_value(change).expect("a change");
        self.owner
            .update_instance(id, &change)
            .await
            .expect("changed");
        self.owner.start_instance(id).await.expect("starting");
    }
}

/// A call the facade may answer with 503 "the controller has not answered yet; try
/// again" (a busy machine runs OpenClaw's CLI slowly), tried again as the web app does.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, fasterclaw::api::client::ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, fasterclaw::api::client::ClientError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) if e.to_string().starts_with("503") && tries < 5 => tries += 1,
            other => return other,
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn owner() -> User {
    User::new(OWNER, "Olga").with_username("olga")
}

fn stranger() -> User {
    User::new(STRANGER, "Sam").with_username("sam")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_answers_its_owner_with_the_chosen_model_ignores_strangers_and_follows_changes() {
    let world = Assistants::start().await;
    let created = world.create(FIRST_TOKEN, &[OWNER]).await;
    let id = created.id.to_string();
    let running = world.until(&id, Phase::Running, BOOT).await;
    assert_eq!(running.telegram_user_ids, [OWNER]);

    // The stranger writes first; the owner's answer coming after it shows the gateway
    // has read both, and dropped the stranger's.
    let ignored = world
        .telegram
        .send_user_message(FIRST_TOKEN, &stranger(), "let me in")
        .expect("posted");
    let answer = world
        .ask(FIRST_TOKEN, &owner(), "what are you running on?")
        .await
        .unwrap_or_else(|| {
            panic!(
                "no answer; machine log:\n{}",
                tail(&world.machine_log(&running), 60)
            )
        });
    assert_eq!(
        answer.plain_text(),
        answer_text("claude-sonnet-5", "what are you running on?")
    );
    assert!(
        world
            .telegram
            .sent(FIRST_TOKEN, Some(ignored.chat_id))
            .is_empty(),
        "a stranger got an answer under the allowlist"
    );

    // The delivered configuration passed OpenClaw's own validation before the gateway
    // started, and no secret is in the machine's config, its file, or any log.
    let app = running.fly_app_name.clone().expect("an app");
    let machine_log = world.machine_log(&running);
    assert!(
        machine_log.contains("Config valid"),
        "{}",
        tail(&machine_log, 40)
    );
    let gateway_token = world
        .stack
        .fly
        .secret_value(&app, "OPENCLAW_GATEWAY_TOKEN")
        .expect("a gateway token");
    let state = world.stack.fly.state().to_string();
    let config_file = world
        .stack
        .fly
        .machine_dir(&app, running.fly_machine_id.as_deref().unwrap_or_default())
        .map(|dir| {
            std::fs::read_to_string(dir.join("rootfs/etc/fasterclaw/openclaw.json"))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    assert!(
        config_file.contains("claude-sonnet-5"),
        "the config file: {config_file}"
    );
    let requests = format!("{:?}", world.models.requests());
    for (place, text) in [
        ("the Fly state", &state),
        ("the config file", &config_file),
        ("the machine's log", &machine_log),
        ("the controller's log", &world.controller.logs()),
        ("the facade's log", &world.facade.logs()),
        ("the model requests", &requests),
    ] {
        for secret in [
            FIRST_TOKEN,
            ANTHROPIC_KEY,
            OPENAI_KEY,
            GOOGLE_KEY,
            gateway_token.as_str(),
        ] {
            assert!(!text.contains(secret), "a secret in {place}");
        }
    }

    // A model change (stopped, patched, started) shows in the next answer.
    world
        .restart_with(&id, json!({ "aiModel": "gpt-5.4-mini" }))
        .await;
    let restarted = world.until(&id, Phase::Running, BOOT).await;
    let answer = world
        .ask(FIRST_TOKEN, &owner(), "and now?")
        .await
        .unwrap_or_else(|| {
            panic!(
                "no answer; machine log:\n{}",
                tail(&world.machine_log(&restarted), 60)
            )
        });
    assert_eq!(answer.plain_text(), answer_text("gpt-5.4-mini", "and now?"));

    // A new token: the gateway polls the new bot, and the old one no more.
    world
        .restart_with(&id, json!({ "telegramBotToken": SECOND_TOKEN }))
        .await;
    let rotated = world.until(&id, Phase::Running, BOOT).await;
    let old_polls = world.telegram.methods(FIRST_TOKEN).len();
    let answer = world
        .ask(SECOND_TOKEN, &owner(), "new number?")
        .await
        .unwrap_or_else(|| {
            panic!(
                "no answer; machine log:\n{}\nFly.io:\n{}\ncontroller:\n{}",
                tail(&world.machine_log(&rotated), 60),
                world.stack.fly.state(),
                tail(&world.controller.logs(), 40),
            )
        });
    assert_eq!(
        answer.plain_text(),
        answer_text("gpt-5.4-mini", "new number?")
    );
    assert_eq!(
        world.telegram.methods(FIRST_TOKEN).len(),
        old_polls,
        "the old bot is still polled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_lets_a_stranger_in_once_the_owner_approves_the_pairing_code() {
    let world = Assistants::start().await;
    let created = world.create(PAIRING_TOKEN, &[]).await;
    let id = created.id.to_string();
    let running = world.until(&id, Phase::Running, BOOT).await;

    let reply = world
        .ask(PAIRING_TOKEN, &stranger(), "hello?")
        .await
        .unwrap_or_else(|| {
            panic!(
                "no pairing code; machine log:\n{}",
                tail(&world.machine_log(&running), 60)
            )
        });
    let text = reply.plain_text();
    // "… approve with: openclaw pairing approve telegram <CODE>"
    let code = text
        .split("approve telegram ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|word| fasterclaw::runtime::PairingCode::parse(word).is_ok())
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned();
    assert!(
        text.contains(&format!("Pairing code:\n\n{code}")),
        "{text:?}"
    );

    // The owner sees who waits, and lets them in.
    let pending = patiently(|| world.owner.pairing_requests(&id))
        .await
        .expect("listed");
    let request = pending
        .requests
        .iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("{code} is not listed: {pending:?}"));
    assert_eq!(request.telegram_user_id, STRANGER.to_string());
    assert!(pending.listed_at.is_some());

    let not_a_code = patiently(|| world.owner.approve_pairing(&id, "NOT-A-CODE"))
        .await
        .unwrap_err();
    assert!(not_a_code.to_string().starts_with("400"), "{not_a_code}");
    let nobodys = patiently(|| world.owner.approve_pairing(&id, "ZZZZ2222"))
        .await
        .unwrap_err();
    assert!(nobodys.to_string().starts_with("404"), "{nobodys}");

    let approved = patiently(|| world.owner.approve_pairing(&id, &code))
        .await
        .expect("approved");
    assert_eq!(
        approved.telegram_user_id.as_deref(),
        Some(STRANGER.to_string().as_str())
    );

    let answer = world
        .ask(PAIRING_TOKEN, &stranger(), "am I in?")
        .await
        .expect("the approved stranger is answered");
    assert_eq!(
        answer.plain_text(),
        answer_text("claude-sonnet-5", "am I in?")
    );
    // Nobody waits any more.
    let pending = patiently(|| world.owner.pairing_requests(&id))
        .await
        .expect("listed");
    assert!(
        pending.requests.iter().all(|r| r.code != code),
        "{pending:?}"
    );

    // What it knows is on its volume: a memory note, and the approval.
    let memory = "The owner's cat is called Miso.\n";
    let (first, note) = world.volume().await;
    std::fs::create_dir_all(note.parent().unwrap()).unwrap();
    std::fs::write(&note, memory).unwrap();

    // A model change (stop, change, start): the stranger is still in, the note is there.
    world
        .restart_with(&id, json!({ "aiModel": "gpt-5.4-mini" }))
        .await;
    world.until(&id, Phase::Running, BOOT).await;
    let answer = world
        .ask(PAIRING_TOKEN, &stranger(), "still in?")
        .await
        .expect("the approval survived the restart");
    assert_eq!(
        answer.plain_text(),
        answer_text("gpt-5.4-mini", "still in?")
    );
    let (same, note) = world.volume().await;
    assert_eq!(same.id, first.id);
    assert_eq!(std::fs::read_to_string(&note).unwrap(), memory);

    // Its host fills up while it is stopped: it moves to the fallback region by a fork
    // of its volume, and still knows the stranger and the note.
    world
        .stack
        .instances()
        .patch(
            &world.only_instance().await.metadata.name.clone().unwrap(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "spec": { "fallbackRegions": ["iad"] } })),
        )
        .await
        .expect("fallback regions set");
    world.owner.stop_instance(&id).await.expect("stopping");
    world
        .until(&id, Phase::Stopped, Duration::from_secs(90))
        .await;
    world.stack.fly.set_region(
        "lax",
        fasterclaw_sim::fly::RegionFaults {
            full: true,
            quota: false,
        },
    );
    world.owner.start_instance(&id).await.expect("starting");
    let moved = world.until(&id, Phase::Running, BOOT).await;
    assert_eq!(moved.region, "lax", "the spec keeps its region");
    let (fork, note) = world.volume().await;
    assert_ne!(fork.id, first.id);
    assert_eq!(fork.region, "iad");
    let answer = world
        .ask(PAIRING_TOKEN, &stranger(), "after the move?")
        .await
        .expect("the approval moved with the volume");
    assert_eq!(
        answer.plain_text(),
        answer_text("gpt-5.4-mini", "after the move?")
    );
    assert_eq!(std::fs::read_to_string(&note).unwrap(), memory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_adopted_machine_brings_the_state_it_kept_onto_its_volume() {
    let world = Assistants::start().await;
    // The original system's app and machine, whose state is on its root file system.
    let app = "openclaw-cladopt0-1732000000009";
    let http = reqwest::Client::new();
    let fly = |path: &str| format!("{}/v1{path}", world.stack.fly.base_url());
    let auth = format!("Bearer {}", world.stack.fly.token());
    let created = http
        .post(fly("/apps"))
        .header("Authorization", &auth)
        .json(&json!({ "name": app, "org_slug": "personal" }))
        .send()
        .await
        .expect("the app is created");
    assert!(created.status().is_success(), "{}", created.status());
    let machine: Value = http
        .post(fly(&format!("/apps/{app}/machines")))
        .header("Authorization", &auth)
        .json(&json!({ "region": "lax", "config": {
            "image": "ghcr.io/openclaw/openclaw:latest",
            "init": { "cmd": ["sh", "-c",
                "mkdir -p \"$HOME/.openclaw/workspace\" && printf 'The cat is Miso.' > \"$HOME/.openclaw/workspace/MEMORY.md\" && printf 'TELEGRAM_BOT_TOKEN=old' > \"$HOME/.openclaw/.env\" && exec sleep 100000"] },
        } }))
        .send()
        .await
        .expect("the machine is created")
        .json()
        .await
        .expect("a machine");
    let original = machine["id"].as_str().expect("an id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while world.stack.fly.machine_state(app, &original)
        != Some(fasterclaw_sim::fly::MachineState::Started)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the original never started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    world
        .stack
        .token_secret("adopted-telegram", ADOPTED_TOKEN)
        .await;
    world
        .stack
        .instance(
            "adopted",
            json!({
                "adopt": { "appName": app, "machineId": original },
                "telegramUserIds": [OWNER],
            }),
        )
        .await;
    let adopted = world
        .stack
        .until("adopted", BOOT, "RUNNING on its volume", |i| {
            crate::support::stack::running(i)
                && i.status.as_ref().is_some_and(|s| {
                    s.volume.is_some() && s.fly_machine_id.as_deref() != Some(original.as_str())
                })
        })
        .await;
    let volume = adopted
        .status
        .as_ref()
        .and_then(|s| s.volume.clone())
        .unwrap();
    let state = world
        .stack
        .fly
        .volume_dir(&volume.id)
        .expect("a volume dir");
    assert_eq!(
        std::fs::read_to_string(state.join("openclaw/workspace/MEMORY.md"))
            .ok()
            .as_deref(),
        Some("The cat is Miso."),
        "the memory moved onto the volume"
    );
    assert!(
        !state.join("openclaw/.env").exists(),
        "the original's file of secrets stays behind"
    );
    let reasons: Vec<String> = world
        .stack
        .events("adopted")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "StateCarried"), "{reasons:?}");
    let answer = world
        .ask(ADOPTED_TOKEN, &owner(), "do you remember?")
        .await
        .expect("the adopted assistant answers its owner");
    assert_eq!(
        answer.plain_text(),
        answer_text("claude-sonnet-5", "do you remember?")
    );

    // An image change is preceded by a snapshot; restoring it brings the earlier state
    // back, and going back to the kept volume undoes the restore.
    let memory = |volume: &str| {
        let dir = world.stack.fly.volume_dir(volume).expect("a volume dir");
        std::fs::read_to_string(dir.join("openclaw/workspace/MEMORY.md")).unwrap_or_default()
    };
    let image = format!("{}-next", fasterclaw::runtime::default_image());
    world
        .stack
        .instances()
        .patch(
            "adopted",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "spec": { "image": image } })),
        )
        .await
        .expect("a new image");
    let upgraded = world
        .stack
        .until(
            "adopted",
            BOOT,
            "RUNNING the new image after a snapshot",
            |i| {
                crate::support::stack::running(i)
                    && i.status.as_ref().is_some_and(|s| {
                        !s.snapshots.is_empty()
                            && s.volume
                                .as_ref()
                                .and_then(|v| v.snapshot_before_image.as_deref())
                                == Some(image.as_str())
                    })
            },
        )
        .await;
    let snapshot = upgraded.status.as_ref().unwrap().snapshots[0].id.clone();
    std::fs::write(
        state.join("openclaw/workspace/MEMORY.md"),
        "The cat is Miso. The dog is Rex.",
    )
    .expect("the note changes");
    world
        .stack
        .annotate("adopted", "fasterclaw.io/restore", Some(&snapshot))
        .await;
    let restored = world
        .stack
        .until("adopted", BOOT, "RUNNING on the restored volume", |i| {
            crate::support::stack::running(i)
                && i.status.as_ref().is_some_and(|s| {
                    s.volume.as_ref().is_some_and(|v| v.id != volume.id)
                        && s.fly_machine_id != upgraded.status.as_ref().unwrap().fly_machine_id
                })
        })
        .await;
    let second = restored
        .status
        .as_ref()
        .and_then(|s| s.volume.clone())
        .unwrap();
    assert_eq!(
        memory(&second.id),
        "The cat is Miso.",
        "the snapshot's state"
    );
    world
        .stack
        .annotate("adopted", "fasterclaw.io/restore", Some(&volume.id))
        .await;
    world
        .stack
        .until("adopted", BOOT, "RUNNING on the first volume again", |i| {
            crate::support::stack::running(i)
                && i.status.as_ref().is_some_and(|s| {
                    s.volume.as_ref().is_some_and(|v| v.id == volume.id)
                        && s.fly_machine_id != restored.status.as_ref().unwrap().fly_machine_id
                })
        })
        .await;
    assert_eq!(
        memory(&volume.id),
        "The cat is Miso. The dog is Rex.",
        "undone"
    );
    let answer = world
        .ask(ADOPTED_TOKEN, &owner(), "still there?")
        .await
        .expect("it answers after the restore is undone");
    assert_eq!(
        answer.plain_text(),
        answer_text("claude-sonnet-5", "still there?")
    );
}
