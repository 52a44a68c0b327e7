//! The gateway's health with real gateways: RUNNING only once the gateway answers its
//! checks; an OOM kill told with the next size up; a gateway killed again and again
//! ends FAILED `CrashLoop` with its machine stopped (no endless restarts) until it is
//! retried; a failed host moves the assistant with its data; a token revoked in
//! BotFather is `TelegramTokenRejected` with no restart storm until a new token comes
//! through the facade; a second poller on the token is `TelegramConflict`; the web
//! app's views carry each reason in words.

use std::time::Duration;

use fasterclaw::crd::{ConditionType, Instance, Phase};
use serde_json::json;

use super::{Assistants, BOOT, OWNER, owner, tail};

const HEALTH_TOKEN: &str = "7200000011:AAHhealth0tokenValue1234567890abcdefg";
const REVOKED_TOKEN: &str = "7200000012:AAHrevoked0tokenValue234567890abcdef";
const RENEWED_TOKEN: &str = "7200000012:AAHrenewed0tokenValue234567890abcdef";

/// Settings that let the controller look often and judge quickly.
const SETTINGS: &[(&str, &str)] = &[
    ("RESYNC_INTERVAL", "5s"),
    ("HEALTH_RECHECK_INTERVAL", "5s"),
    ("HEALTH_STARTUP_GRACE", "45s"),
    ("HEAL_AFTER", "30m"),
    ("CRASH_LOOP_EXITS", "3"),
    ("CRASH_LOOP_WINDOW", "30m"),
];

fn healthy(instance: &Instance) -> Option<(String, String, String)> {
    let status = instance.status.as_ref()?;
    let c = status.condition(ConditionType::Healthy)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn health_reason(instance: &Instance) -> String {
    healthy(instance).map(|h| h.1).unwrap_or_default()
}

impl Assistants {
    /// Waits until the one Instance satisfies `check`, failing with its status and
    /// the controller's log when it does not.
    async fn until_instance(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&Instance) -> bool,
    ) -> Instance {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let instance = self.only_instance().await;
            if check(&instance) {
                return instance;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "never {what}; status: {}\ncontroller:\n{}",
                    serde_json::to_string_pretty(&instance.status).unwrap_or_default(),
                    tail(&self.controller.logs(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn app_and_machine(instance: &Instance) -> (String, String) {
        let status = instance.status.as_ref().expect("a status");
        (
            status.fly_app_name.clone().expect("an app"),
            status.fly_machine_id.clone().expect("a machine"),
        )
    }

    /// The gateway's answer to `path` on the machine's gateway port.
    async fn probe(&self, instance: &Instance, path: &str) -> u16 {
        let (app, machine) = Self::app_and_machine(instance);
        let Some(port) = self.stack.fly.machine_port(&app, &machine, 18789) else {
            return 0;
        };
        reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// The machine's events, as the simulator holds them.
    fn machine_events(&self, machine: &str) -> serde_json::Value {
        let state = self.stack.fly.state();
        state["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["machines"].as_array().cloned().unwrap_or_default())
            .find(|m| m["id"] == machine)
            .map(|m| m["events"].clone())
            .unwrap_or_default()
    }

    /// Waits for the machine's process to be another than `before`, and gives it.
    async fn next_pid(&self, app: &str, machine: &str, before: Option<u32>) -> u32 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(pid) = self.stack.fly.machine_pid(app, machine)
                && Some(pid) != before
            {
                return pid;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the machine was not started again: {:?} {:?}\nevents: {}\nmachine log:\n{}\ncontroller:\n{}",
                self.stack.fly.machine_state(app, machine),
                self.stack.fly.machine_pid(app, machine),
                self.machine_events(machine),
                tail(
                    &self.stack.fly.machine_log(app, machine).unwrap_or_default(),
                    30
                ),
                tail(&self.controller.logs(), 30),
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn kill(pid: u32) {
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill -KILL {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn running_means_the_gateway_answers_and_crashes_are_bounded_and_a_failed_host_moves_it() {
    let world = Assistants::start_with(SETTINGS).await;
    world
        .telegram
        .add_bot(HEALTH_TOKEN, "health_claw_bot", "Claw");
    let created = world.create(HEALTH_TOKEN, &[OWNER]).await;
    let id = created.id.to_string();

    // Ready (and RUNNING) only once the gateway passes its checks: at that moment both
    // its liveness and its readiness answer 200.
    let ready = world
        .until_instance("Ready", BOOT, |i| {
            i.status
                .as_ref()
                .and_then(|s| s.condition(ConditionType::Ready))
                .is_some_and(|c| c.status == "True")
        })
        .await;
    assert_eq!(world.probe(&ready, "/healthz").await, 200);
    assert_eq!(world.probe(&ready, "/readyz").await, 200);
    assert_eq!(
        healthy(&ready).map(|h| (h.0, h.1)),
        Some(("True".to_owned(), "Healthy".to_owned()))
    );
    let view = world.owner.get_instance(&id).await.expect("the instance");
    assert_eq!(view.status, Phase::Running);
    let health = view.health.expect("the health in the view");
    assert_eq!((health.reason.as_str(), health.message), ("Healthy", None));

    // The OOM killer: told, with the next size up.
    let (app, machine) = Assistants::app_and_machine(&ready);
    let first_pid = world.stack.fly.machine_pid(&app, &machine);
    assert!(world.stack.fly.oom_kill(&app, &machine), "an OOM kill");
    let oom = world
        .until_instance("OutOfMemory", Duration::from_secs(120), |i| {
            health_reason(i) == "OutOfMemory"
        })
        .await;
    let status = oom.status.as_ref().expect("a status");
    let last_exit = status.last_exit.clone().expect("status.lastExit");
    assert!(
        last_exit.oom_killed && last_exit.code == 137,
        "{last_exit:?}"
    );
    assert_eq!(status.restarts, 1);
    // The next size up from the plan's machine (Pro: 2 CPUs, 4096 MB).
    let message = healthy(&oom).map(|h| h.2).unwrap_or_default();
    assert!(
        message.contains("(4096 MB)") && message.contains("8192 MB"),
        "{message}"
    );
    let view = world.owner.get_instance(&id).await.expect("the instance");
    let words = view.health.and_then(|h| h.message).unwrap_or_default();
    assert!(words.contains("ran out of memory"), "{words}");

    // Killed again and again: after the bound (3 exits), FAILED CrashLoop, the machine
    // stopped, and nothing starts it any more.
    let second = world.next_pid(&app, &machine, first_pid).await;
    kill(second);
    let third = world.next_pid(&app, &machine, Some(second)).await;
    kill(third);
    let looped = world
        .until_instance("FAILED CrashLoop", Duration::from_secs(120), |i| {
            i.status.as_ref().and_then(|s| s.phase) == Some(Phase::Failed)
                && health_reason(i) == "CrashLoop"
        })
        .await;
    let synced = looped
        .status
        .as_ref()
        .and_then(|s| s.condition(ConditionType::Synced))
        .expect("Synced");
    assert_eq!(synced.reason, "CrashLoop");
    assert!(
        synced.message.contains("exited 3 times"),
        "{}",
        synced.message
    );
    assert_eq!(
        looped
            .status
            .as_ref()
            .and_then(|s| s.last_heal.as_ref())
            .map(|h| h.kind),
        Some(fasterclaw::crd::HealKind::Stopped)
    );
    let stopped = world
        .stack
        .fly
        .machine_state(&app, &machine)
        .map(|s| s.as_str().to_owned());
    assert_eq!(stopped.as_deref(), Some("stopped"));
    let starts = world.stack.fly.calls_of("Machines_start");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        world.stack.fly.calls_of("Machines_start"),
        starts,
        "a crash loop is not started again"
    );
    assert_eq!(world.stack.fly.machine_pid(&app, &machine), None);
    let view = world.owner.get_instance(&id).await.expect("the instance");
    assert_eq!(view.status, Phase::Failed);
    assert_eq!(view.health.map(|h| h.reason), Some("CrashLoop".to_owned()));
    world
        .stack
        .assert_events(
            &looped.metadata.name.clone().unwrap_or_default(),
            &["OutOfMemory", "CrashLoop", "Healed"],
        )
        .await;

    // A retry starts it over.
    let name = looped.metadata.name.clone().expect("a name");
    world
        .stack
        .annotate(
            &name,
            "fasterclaw.io/retry-requested-at",
            Some("2026-12-03T10:00:00Z"),
        )
        .await;
    let back = world
        .until_instance("RUNNING again after the retry", BOOT, |i| {
            crate::support::stack::running(i) && health_reason(i) == "Healthy"
        })
        .await;
    assert!(
        back.status
            .as_ref()
            .is_some_and(|s| s.recent_exits.is_empty())
    );

    // The host fails: the assistant moves with its data to a fork of its volume.
    let (volume, _) = world.volume().await;
    let dir = world
        .stack
        .fly
        .volume_dir(&volume.id)
        .expect("a volume dir");
    std::fs::write(dir.join("openclaw/health-marker.txt"), "still here\n").expect("a marker");
    let (app, machine) = Assistants::app_and_machine(&back);
    assert!(world.stack.fly.fail_host(&app, &machine));
    let moved = world
        .until_instance("moved off the failed host and RUNNING", BOOT, |i| {
            i.status.as_ref().is_some_and(|s| {
                s.volume.as_ref().is_some_and(|v| v.id != volume.id)
                    && s.fly_machine_id.as_deref() != Some(machine.as_str())
            }) && crate::support::stack::running(i)
        })
        .await;
    let (fork, _) = world.volume().await;
    let fork_dir = world
        .stack
        .fly
        .volume_dir(&fork.id)
        .expect("the fork's dir");
    assert_eq!(
        std::fs::read_to_string(fork_dir.join("openclaw/health-marker.txt"))
            .ok()
            .as_deref(),
        Some("still here\n"),
        "the data moved with it"
    );
    let status = moved.status.as_ref().expect("a status");
    assert!(
        status
            .retained_volumes
            .iter()
            .any(|r| r.id == volume.id && r.reason == "HostFailed"),
        "{:?}",
        status.retained_volumes
    );
    let reasons = world.stack.event_reasons(&name).await;
    assert!(reasons.iter().any(|r| r == "HostFailed"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "VolumeMoved"), "{reasons:?}");
    let answer = world.ask(HEALTH_TOKEN, &owner(), "still there?").await;
    assert!(answer.is_some(), "no answer after the move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_owners_telegram_problems_are_told_and_not_restarted() {
    let world = Assistants::start_with(SETTINGS).await;
    world
        .telegram
        .add_bot(REVOKED_TOKEN, "revoked_claw_bot", "Claw");
    let created = world.create(REVOKED_TOKEN, &[OWNER]).await;
    let id = created.id.to_string();
    let running = world
        .until_instance("RUNNING and Healthy", BOOT, |i| {
            crate::support::stack::running(i) && health_reason(i) == "Healthy"
        })
        .await;
    let name = running.metadata.name.clone().expect("a name");

    // The owner revokes the token in BotFather: Telegram answers 401.
    world
        .telegram
        .revoke_token("revoked_claw_bot", RENEWED_TOKEN)
        .expect("revoked");
    let rejected = world
        .until_instance("TelegramTokenRejected", Duration::from_secs(240), |i| {
            health_reason(i) == "TelegramTokenRejected"
        })
        .await;
    assert_eq!(
        rejected.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Failed)
    );
    let view = world.owner.get_instance(&id).await.expect("the instance");
    assert_eq!(view.status, Phase::Failed);
    let health = view.health.expect("the health in the view");
    assert!(health.owner_action_needed);
    let words = health.message.unwrap_or_default();
    assert!(words.contains("Telegram token was revoked"), "{words}");
    let provisioning = world.owner.provisioning_status(&id).await.expect("status");
    assert_eq!(
        provisioning.health.map(|h| h.reason),
        Some("TelegramTokenRejected".to_owned())
    );

    // No restart storm: nothing is started, stopped or updated while the owner's token
    // is refused, and the gateway keeps running.
    let before: Vec<u64> = ["Machines_start", "Machines_stop", "Machines_update"]
        .iter()
        .map(|op| world.stack.fly.calls_of(op))
        .collect();
    let (app, machine) = Assistants::app_and_machine(&rejected);
    let pid = world.stack.fly.machine_pid(&app, &machine);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after: Vec<u64> = ["Machines_start", "Machines_stop", "Machines_update"]
        .iter()
        .map(|op| world.stack.fly.calls_of(op))
        .collect();
    assert_eq!(before, after, "start, stop, update calls while rejected");
    assert_eq!(world.stack.fly.machine_pid(&app, &machine), pid);
    let still = world.only_instance().await;
    assert_eq!(health_reason(&still), "TelegramTokenRejected");
    assert_eq!(still.status.as_ref().map(|s| s.restarts), Some(0));

    // The owner gives the new token through the facade: it answers again.
    let change: fasterclaw::api::contract::UpdateInstanceRequest =
        serde_json::from_value(json!({ "telegramBotToken": RENEWED_TOKEN })).expect("a change");
    world
        .owner
        .update_instance(&id, &change)
        .await
        .expect("updated");
    world
        .until_instance("Healthy again with the new token", BOOT, |i| {
            crate::support::stack::running(i) && health_reason(i) == "Healthy"
        })
        .await;
    let answer = world.ask(RENEWED_TOKEN, &owner(), "back?").await;
    assert!(answer.is_some(), "no answer with the new token");
    let reasons = world.stack.event_reasons(&name).await;
    assert!(
        reasons.iter().any(|r| r == "TelegramTokenRejected"),
        "{reasons:?}"
    );
    // (No `Recovered` Event here: that follows a heal, or a reconcile seeing the gateway
    // go straight from unhealthy to healthy; the owner's new token is a new start.)

    // A second program polls with the same token: TelegramConflict.
    let url = format!(
        "{}/bot{RENEWED_TOKEN}/getUpdates",
        world.telegram.base_url()
    );
    let poller = tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            let _ = client
                .post(&url)
                .json(&json!({ "timeout": 2 }))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let conflicted = world
        .until_instance("TelegramConflict", Duration::from_secs(300), |i| {
            health_reason(i) == "TelegramConflict"
        })
        .await;
    poller.abort();
    let message = healthy(&conflicted).map(|h| h.2).unwrap_or_default();
    assert!(message.contains("another program"), "{message}");
    let view = world.owner.get_instance(&id).await.expect("the instance");
    let words = view.health.and_then(|h| h.message).unwrap_or_default();
    assert!(
        words.contains("Another program is using your Telegram bot token"),
        "{words}"
    );
    // Never the token itself.
    let status = serde_json::to_string(&conflicted.status).unwrap_or_default();
    for token in [REVOKED_TOKEN, RENEWED_TOKEN] {
        assert!(!status.contains(token), "a token in the status");
    }
}
