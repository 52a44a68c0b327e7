//! An Instance's life through the controller on a real API server: create → RUNNING
//! with no secret in the machine, stop and start, spec changes, token rotation, the
//! stored token, deletion and Orphan, and quiet when nothing changes.

use std::time::Duration;

use fasterclaw::domain::{DisplayName, EmailAddress, TelegramBotToken};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::stack::{ANTHROPIC_KEY, OPENAI_KEY, Stack, TOKEN, condition, phase, running};

const SOON: Duration = Duration::from_secs(30);

/// Every place a secret could leak to: the Fly simulator's whole state, the Instance,
/// its Events, and the controller's log.
async fn assert_no_secret_anywhere(stack: &Stack, log: &str, secrets: &[&str]) {
    let fly_state = stack.fly.state().to_string();
    let instances = stack
        .instances()
        .list(&ListParams::default())
        .await
        .unwrap();
    let instances = serde_json::to_string(&instances.items).unwrap();
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(stack.cluster.client.clone(), &stack.cluster.namespace);
    let events =
        serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap();
    for secret in secrets {
        for (place, text) in [
            ("the Fly.io state", &fly_state),
            ("the Instances", &instances),
            ("the Events", &events),
            ("the controller's log", &log.to_owned()),
        ] {
            assert!(!text.contains(secret), "a secret leaked into {place}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_runs_stops_starts_changes_and_goes() {
    let stack = Stack::new().await;
    stack.token_secret("bot-telegram", TOKEN).await;
    let controller = stack.controller(&[("RESYNC_INTERVAL", "1s")]);
    stack.instance("bot", json!({})).await;

    let created = stack.until("bot", SOON, "RUNNING and Ready", running).await;
    let status = created.status.clone().unwrap();
    assert_eq!(
        condition(&created, "Synced"),
        Some(("True".into(), "ReconcileSuccess".into()))
    );
    assert_eq!(status.observed_generation, created.metadata.generation);
    assert!(status.ip_address.is_some() && status.region.as_deref() == Some("lax"));
    assert!(
        status
            .provisioning_steps
            .iter()
            .all(|s| format!("{:?}", s.state) == "Done")
    );
    let app = status.fly_app_name.clone().unwrap();
    assert_eq!(
        app,
        format!(
            "fasterclaw-{}",
            created.metadata.uid.clone().unwrap().replace('-', "")
        )
    );

    // The token and the platform key are app secrets; the machine holds neither.
    assert_eq!(
        stack
            .fly
            .secret_value(&app, "TELEGRAM_BOT_TOKEN")
            .as_deref(),
        Some(TOKEN)
    );
    assert_eq!(
        stack.fly.secret_value(&app, "ANTHROPIC_API_KEY").as_deref(),
        Some(ANTHROPIC_KEY)
    );
    let gateway_token = stack
        .fly
        .secret_value(&app, "OPENCLAW_GATEWAY_TOKEN")
        .expect("a gateway token");
    assert_eq!(gateway_token.len(), 64);
    let machine = stack.machine_of(&created);
    // The machine runs the pinned OpenClaw with its configuration as a file: no secret
    // in its env, its files or anywhere in its config.
    assert_eq!(
        machine["config"]["env"],
        json!({
            "OPENCLAW_STATE_DIR": "/data/openclaw",
            "OPENCLAW_GATEWAY_PORT": "18789",
            "NODE_OPTIONS": "--max-old-space-size=1536",
            "FASTERCLAW_OPENCLAW_CONFIG": "/etc/fasterclaw/openclaw.json",
        })
    );
    assert_eq!(
        machine["config"]["image"],
        fasterclaw::runtime::default_image()
    );
    assert_eq!(machine["config"]["guest"]["memory_mb"], 2048);
    assert_eq!(machine["config"]["checks"]["gateway"]["path"], "/healthz");
    assert_eq!(machine["config"]["stop_config"]["signal"], "SIGTERM");
    assert_eq!(machine["config"]["init"]["cmd"][0], "sh");
    let owned = owned_config(&machine);
    assert_eq!(
        owned["agents"]["defaults"]["model"]["primary"],
        "anthropic/claude-sonnet-5"
    );
    assert_eq!(owned["channels"]["telegram"]["dmPolicy"], "pairing");
    let whole = machine["config"].to_string() + &owned.to_string();
    for secret in [TOKEN, ANTHROPIC_KEY, gateway_token.as_str()] {
        assert!(!whole.contains(secret), "a secret in the machine config");
    }
    assert_eq!(
        condition(&created, "Ready")
            .map(|(_, reason)| reason)
            .as_deref(),
        Some("Running")
    );
    assert_eq!(
        machine["config"]["metadata"]["fasterclaw_instance_uid"],
        created.metadata.uid.clone().unwrap()
    );
    assert_eq!(
        machine["config"]["metadata"]["fasterclaw_instance_name"],
        "bot"
    );
    assert_eq!(stack.fly.created(), (1, 1));

    // Nothing changes: the controller resyncs (a look at the machine) without writing,
    // to Kubernetes or to Fly.io.
    let settled_rv = stack
        .instances()
        .get("bot")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let (looks, writes) = (
        stack.fly.calls_of("Machines_show"),
        stack.fly.calls_of("Secrets_update"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack
            .instances()
            .get("bot")
            .await
            .unwrap()
            .metadata
            .resource_version,
        settled_rv,
        "no write while nothing changes"
    );
    assert!(
        stack.fly.calls_of("Machines_show") >= looks + 2,
        "the resyncs looked"
    );
    assert_eq!(
        stack.fly.calls_of("Secrets_update"),
        writes,
        "secrets are written only when they change"
    );

    // Stop: the machine stops, Ready says it is stopped as asked.
    let api = stack.instances();
    api.patch(
        "bot",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "powerState": "Stopped" } })),
    )
    .await
    .unwrap();
    let stopped = stack
        .until("bot", SOON, "STOPPED", |i| {
            phase(i) == "STOPPED" && condition(i, "Ready").is_some_and(|(s, _)| s == "True")
        })
        .await;
    assert_eq!(condition(&stopped, "Ready").unwrap().1, "Stopped");

    // A spec change while stopped updates the machine without starting it.
    api.patch(
        "bot",
        &PatchParams::default(),
        &Patch::Merge(
            json!({ "spec": { "image": "ghcr.io/openclaw/openclaw:v2", "aiModel": "gpt-5.4-mini" } }),
        ),
    )
    .await
    .unwrap();
    let updated = stack
        .until("bot", SOON, "the new spec applied while stopped", |i| {
            i.status.as_ref().and_then(|s| s.observed_generation) == i.metadata.generation
                && phase(i) == "STOPPED"
        })
        .await;
    let machine = stack.machine_of(&updated);
    assert_eq!(machine["config"]["image"], "ghcr.io/openclaw/openclaw:v2");
    assert_eq!(
        owned_config(&machine)["agents"]["defaults"]["model"]["primary"],
        "openai/gpt-5.4-mini"
    );
    assert_eq!(machine["state"], "stopped");
    // The provider's key follows the model; the other provider's key is gone.
    assert_eq!(
        stack.fly.secret_value(&app, "OPENAI_API_KEY").as_deref(),
        Some(OPENAI_KEY)
    );
    assert_eq!(stack.fly.secret_value(&app, "ANTHROPIC_API_KEY"), None);

    // Start again.
    api.patch(
        "bot",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "powerState": "Running" } })),
    )
    .await
    .unwrap();
    stack.until("bot", SOON, "RUNNING again", running).await;

    // A new token in the Secret reaches the app and the machine restarts onto it.
    let rotated = "7123456789:AAHnew0tokenValue1234567890abcdefghij";
    let secrets: Api<Secret> =
        Api::namespaced(stack.cluster.client.clone(), &stack.cluster.namespace);
    secrets
        .patch(
            "bot-telegram",
            &PatchParams::default(),
            &Patch::Merge(json!({ "stringData": { "token": rotated } })),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + SOON;
    while stack
        .fly
        .secret_value(&app, "TELEGRAM_BOT_TOKEN")
        .as_deref()
        != Some(rotated)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated token did not reach Fly.io"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack
        .until("bot", SOON, "RUNNING on the new token", running)
        .await;
    assert_eq!(stack.fly.created(), (1, 1), "no second app or machine");

    // Delete: the machine and the app go, then the Instance.
    api.delete("bot", &DeleteParams::default()).await.unwrap();
    stack.until_gone("bot", SOON).await;
    assert!(
        stack.fly.app_names().is_empty(),
        "the app is gone: {:?}",
        stack.fly.app_names()
    );

    assert_no_secret_anywhere(
        &stack,
        &controller.logs(),
        &[TOKEN, rotated, ANTHROPIC_KEY, OPENAI_KEY],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_token_runs_and_is_forgotten_when_the_instance_goes() {
    let stack = Stack::new().await;
    let keyring = stack.keyring();
    let user = stack
        .db
        .db
        .users()
        .create(
            &EmailAddress::parse("owner@example.com").unwrap(),
            None,
            Some("Owner"),
        )
        .await
        .unwrap();
    let instance_id = uuid::Uuid::new_v4();
    let (_, secret_id) = stack
        .db
        .db
        .instances(&keyring)
        .create(
            fasterclaw::db::NewInstance {
                id: instance_id,
                owner_id: user.id,
                namespace: &stack.cluster.namespace,
                name: "stored",
                display_name: &DisplayName::parse("Stored").unwrap(),
            },
            &TelegramBotToken::parse(TOKEN).unwrap(),
        )
        .await
        .unwrap();
    let _controller = stack.controller(&[]);
    stack
        .instance(
            "stored",
            json!({ "telegramToken": { "secretKeyRef": null, "storedSecretId": secret_id } }),
        )
        .await;
    let running_instance = stack.until("stored", SOON, "RUNNING", running).await;
    let app = running_instance.status.unwrap().fly_app_name.unwrap();
    assert_eq!(
        stack
            .fly
            .secret_value(&app, "TELEGRAM_BOT_TOKEN")
            .as_deref(),
        Some(TOKEN)
    );

    stack
        .instances()
        .delete("stored", &DeleteParams::default())
        .await
        .unwrap();
    stack.until_gone("stored", SOON).await;
    assert!(stack.fly.app_names().is_empty());
    let token = stack
        .db
        .db
        .secrets(&keyring)
        .telegram_token(secret_id)
        .await;
    assert!(token.is_err(), "the sealed token row is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_instances_leave_fly_alone_and_half_done_ones_clean_up() {
    let stack = Stack::new().await;
    stack.token_secret("keep-telegram", TOKEN).await;
    let _controller = stack.controller(&[]);
    stack
        .instance("keep", json!({ "deletionPolicy": "Orphan" }))
        .await;
    let kept = stack.until("keep", SOON, "RUNNING", running).await;
    let app = kept.status.unwrap().fly_app_name.unwrap();
    stack
        .instances()
        .delete("keep", &DeleteParams::default())
        .await
        .unwrap();
    stack.until_gone("keep", SOON).await;
    assert_eq!(
        stack.fly.app_names(),
        vec![app.clone()],
        "Orphan leaves the app"
    );
    assert_eq!(
        stack.fly.machine_state(&app, &kept_machine(&stack, &app)),
        Some(fasterclaw_sim::fly::MachineState::Started)
    );

    // An Instance stuck before its machine (the image cannot be pulled) still cleans up
    // the app it made.
    stack
        .fly
        .mark_image_missing("ghcr.io/openclaw/openclaw:missing");
    stack.token_secret("half-telegram", TOKEN).await;
    stack
        .instance(
            "half",
            json!({ "image": "ghcr.io/openclaw/openclaw:missing" }),
        )
        .await;
    let failed = stack
        .until("half", SOON, "FAILED", |i| phase(i) == "FAILED")
        .await;
    let half_app = failed.status.unwrap().fly_app_name.unwrap();
    assert!(stack.fly.app_names().contains(&half_app));
    stack
        .instances()
        .delete("half", &DeleteParams::default())
        .await
        .unwrap();
    stack.until_gone("half", SOON).await;
    assert_eq!(
        stack.fly.app_names(),
        vec![app],
        "the half-made app is gone, the orphan stays"
    );
}

fn kept_machine(stack: &Stack, app: &str) -> String {
    stack.fly.state()["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"] == app)
        .and_then(|a| a["machines"][0]["id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The owned part of `openclaw.json`, as the machine's file carries it.
fn owned_config(machine: &Value) -> Value {
    use base64::Engine;
    let file = machine["config"]["files"]
        .as_array()
        .and_then(|files| {
            files
                .iter()
                .find(|f| f["guest_path"] == "/etc/fasterclaw/openclaw.json")
        })
        .expect("the configuration file");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file["raw_value"].as_str().expect("inline"))
        .expect("base64");
    serde_json::from_slice(&bytes).expect("JSON")
}
