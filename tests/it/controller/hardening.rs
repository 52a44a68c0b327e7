//! What an Instance's author can send the controller and not get: a crashed controller
//! (annotations out of bounds), another customer's stored token, the platform's keys
//! for an image of their own, or an app of the organization that FasterClaw did not
//! hand them (to take over, or to delete).

use std::time::Duration;

use fasterclaw::crd::Instance;
use fasterclaw::db::NewInstance;
use fasterclaw::domain::{DisplayName, EmailAddress, TelegramBotToken};
use fasterclaw::fly::{CreateMachine, FlyClient, FlyConfig, MachineConfig};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Patch, PatchParams};
use secrecy::SecretString;
use serde_json::json;

use crate::support::stack::{ANTHROPIC_KEY, Stack, TOKEN, condition, phase, running};

const SOON: Duration = Duration::from_secs(30);

/// Waits for a Warning Event `reason` about `name` whose note contains `needle`.
async fn until_warning(stack: &Stack, name: &str, reason: &str, needle: &str) -> Event {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let found = stack.events(name).await.into_iter().find(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some(reason)
                && e.note.as_deref().is_some_and(|n| n.contains(needle))
        });
        if let Some(event) = found {
            return event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Warning {reason} about {name} mentioning {needle:?}: {:?}",
            stack
                .events(name)
                .await
                .iter()
                .map(|e| (e.reason.clone(), e.note.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn reason(instance: &Instance) -> String {
    condition(instance, "Synced")
        .map(|(_, r)| r)
        .unwrap_or_default()
}

fn message(instance: &Instance) -> String {
    instance
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_annotations_leave_the_controller_alive_and_are_named() {
    let stack = Stack::new().await;
    for name in ["far", "later"] {
        stack.token_secret(&format!("{name}-telegram"), TOKEN).await;
    }
    let mut controller = stack.controller(&[]);
    stack.instance("far", json!({})).await;
    stack.until("far", SOON, "RUNNING", running).await;

    // About 584 billion years: jittering it once overflowed and panicked the process.
    let hostile = [
        "584000000000y",
        "99999999999999999999s",
        "-5s",
        "1ns",
        "soon",
    ];
    for (n, value) in hostile.into_iter().enumerate() {
        stack
            .annotate("far", "fasterclaw.io/poll-interval", Some(value))
            .await;
        // Each value is named once; the Events recorder folds the repeats of one
        // reason into a series on the first Event.
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let warned =
                until_warning(&stack, "far", "InvalidAnnotation", "\"584000000000y\"").await;
            let count = warned.series.map_or(1, |s| s.count);
            if count > n as i32 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the annotation {value:?} was not warned about ({count} warnings)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            controller.exited().is_none(),
            "the controller died on the annotation {value:?}: {}",
            controller.logs()
        );
    }
    assert!(
        controller
            .logs()
            .contains("\\\"99999999999999999999s\\\" is not a duration from 5s to 1day"),
        "each value is named in the log"
    );
    let far = stack.until("far", SOON, "still RUNNING", running).await;
    assert_eq!(reason(&far), "ReconcileSuccess");

    // Everything else goes on: a new Instance reaches Ready.
    stack.instance("later", json!({})).await;
    stack.until("later", SOON, "RUNNING", running).await;
    assert!(controller.exited().is_none());
    assert!(
        !controller.logs().contains("panicked"),
        "a reconcile panicked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_token_opens_only_for_its_own_instance_and_survives_another() {
    let stack = Stack::new().await;
    let keyring = stack.keyring();
    let owner = stack
        .db
        .db
        .users()
        .create(
            &EmailAddress::parse("victim@example.com").unwrap(),
            None,
            Some("Victim"),
        )
        .await
        .unwrap();
    // The facade stored the victim's token for the Instance `victim` of this namespace.
    let victim_token = "7999999999:AAVictimVictimVictimVictimVictimVict";
    let (_, secret_id) = stack
        .db
        .db
        .instances(&keyring)
        .create(
            NewInstance {
                id: uuid::Uuid::new_v4(),
                owner_id: owner.id,
                namespace: &stack.cluster.namespace,
                name: "victim",
                display_name: &DisplayName::parse("Victim's bot".to_owned()).unwrap(),
            },
            &TelegramBotToken::parse(victim_token).unwrap(),
        )
        .await
        .unwrap();
    let _controller = stack.controller(&[]);

    // Another Instance naming that token gets nothing.
    let stored = json!({ "telegramToken": { "storedSecretId": secret_id, "secretKeyRef": null } });
    stack.instance("thief", stored.clone()).await;
    let thief = stack
        .until("thief", SOON, "Synced=False TokenUnavailable", |i| {
            reason(i) == "TokenUnavailable"
        })
        .await;
    assert!(
        message(&thief).contains("stored for another instance"),
        "{}",
        message(&thief)
    );
    assert!(
        stack.fly.app_names().is_empty(),
        "nothing was made on Fly.io"
    );

    // Deleting it leaves the victim's token where it was.
    stack
        .instances()
        .delete("thief", &Default::default())
        .await
        .unwrap();
    stack.until_gone("thief", SOON).await;
    let kept = stack
        .db
        .db
        .secrets(&keyring)
        .telegram_token(secret_id)
        .await;
    assert!(kept.is_ok(), "the victim's token was deleted: {kept:?}");

    // The Instance it was stored for runs with it.
    stack.instance("victim", stored).await;
    let victim = stack.until("victim", SOON, "RUNNING", running).await;
    let app = victim.status.unwrap().fly_app_name.unwrap();
    assert_eq!(
        stack
            .fly
            .secret_value(&app, "TELEGRAM_BOT_TOKEN")
            .as_deref(),
        Some(victim_token)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_from_elsewhere_gets_no_platform_key() {
    let stack = Stack::new().await;
    stack.token_secret("rogue-telegram", TOKEN).await;
    let _controller = stack.controller(&[("OPENCLAW_IMAGE", "ghcr.io/openclaw/openclaw:2026.9.6")]);
    stack
        .instance("rogue", json!({ "image": "ghcr.io/attacker/openclaw:1" }))
        .await;
    let rogue = stack
        .until("rogue", SOON, "Synced=False ImageNotAllowed", |i| {
            reason(i) == "ImageNotAllowed"
        })
        .await;
    assert_eq!(
        condition(&rogue, "Synced").map(|(s, _)| s).as_deref(),
        Some("False")
    );
    assert!(
        message(&rogue).contains("ghcr.io/openclaw/openclaw"),
        "{}",
        message(&rogue)
    );
    assert!(
        stack.fly.app_names().is_empty(),
        "nothing was made on Fly.io"
    );
    assert_eq!(
        stack.fly.calls_of("Secrets_update"),
        0,
        "no key was written"
    );
    until_warning(
        &stack,
        "rogue",
        "ImageNotAllowed",
        "ghcr.io/attacker/openclaw:1",
    )
    .await;

    // An allowed image runs, with the key.
    stack
        .instances()
        .patch(
            "rogue",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "image": "ghcr.io/openclaw/openclaw:2026.8.1" } })),
        )
        .await
        .unwrap();
    let running = stack.until("rogue", SOON, "RUNNING", running).await;
    let app = running.status.unwrap().fly_app_name.unwrap();
    assert_eq!(
        stack.fly.secret_value(&app, "ANTHROPIC_API_KEY").as_deref(),
        Some(ANTHROPIC_KEY)
    );
}

/// A client of the Fly simulator with the controller's token.
pub(super) fn fly_client(stack: &Stack) -> FlyClient {
    FlyClient::new(FlyConfig {
        api_token: SecretString::from(stack.fly.token().to_owned()),
        api_url: stack.fly.base_url().parse().unwrap(),
        org_slug: "personal".to_owned(),
    })
    .unwrap()
}

/// An app of the original's form with a machine, as the original made them.
async fn original_app(fly: &FlyClient, name: &str) -> String {
    fly.create_app(name).await.unwrap();
    let request = CreateMachine {
        name: Some("bot".to_owned()),
        region: Some("lax".to_owned()),
        config: MachineConfig {
            image: "ghcr.io/openclaw/openclaw:latest".to_owned(),
            ..MachineConfig::default()
        },
        min_secrets_version: None,
        skip_launch: false,
    };
    let machine = fly.create_machine(name, request).await.unwrap();
    machine.id
}

fn markers(stack: &Stack, app: &str) -> Vec<String> {
    let state = stack.fly.state();
    state["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == app)
        .flat_map(|a| a["secrets"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with("FASTERCLAW_INSTANCE_"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_originals_unclaimed_apps_are_adopted_and_no_other_app_is_deleted() {
    let stack = Stack::new().await;
    for name in ["named", "taker", "first", "second", "mallory"] {
        stack.token_secret(&format!("{name}-telegram"), TOKEN).await;
    }
    let fly = fly_client(&stack);

    // An app of any other name is refused by the API server itself.
    let refused = stack
        .try_instance("named", json!({ "adopt": { "appName": "prod-database" } }))
        .await
        .expect_err("the API server refuses it");
    assert!(refused.to_string().contains("appName"), "{refused}");

    let _controller = stack.controller(&[]);
    // An app another Instance holds (its marker) is not taken over, nor written to.
    let held = "openclaw-clother0-1732000000001";
    original_app(&fly, held).await;
    let marker = std::collections::BTreeMap::from([(
        "FASTERCLAW_INSTANCE_0000000000000000000000000000ABCD".to_owned(),
        SecretString::from("someone".to_owned()),
    )]);
    fly.set_secrets(held, &marker).await.unwrap();
    let writes = stack.fly.calls_of("Secrets_update");
    stack
        .instance("taker", json!({ "adopt": { "appName": held } }))
        .await;
    let taker = stack
        .until("taker", SOON, "FAILED", |i| phase(i) == "FAILED")
        .await;
    assert_eq!(reason(&taker), "AppNameConflict");
    assert_eq!(stack.fly.calls_of("Secrets_update"), writes);
    assert_eq!(markers(&stack, held).len(), 1);

    // Two Instances adopting one free app at once: one holds it, the other is refused.
    let free = "openclaw-clfree00-1732000000002";
    original_app(&fly, free).await;
    let (a, b) = tokio::join!(
        stack.instance("first", json!({ "adopt": { "appName": free } })),
        stack.instance("second", json!({ "adopt": { "appName": free } })),
    );
    drop((a, b));
    let settled = |i: &Instance| running(i) || phase(i) == "FAILED";
    let first = stack.until("first", SOON, "settled", settled).await;
    let second = stack.until("second", SOON, "settled", settled).await;
    let holders: Vec<&Instance> = [&first, &second]
        .into_iter()
        .filter(|i| i.status.as_ref().and_then(|s| s.fly_app_name.as_deref()) == Some(free))
        .collect();
    assert_eq!(holders.len(), 1, "not exactly one holds {free}");
    assert_eq!(
        markers(&stack, free).len(),
        1,
        "{:?}",
        markers(&stack, free)
    );
    let holder = holders
        .first()
        .map(|i| i.metadata.name.clone().unwrap_or_default());

    // An Instance whose status is edited to name another app does not delete it.
    stack.instance("mallory", json!({})).await;
    let mallory = stack.until("mallory", SOON, "RUNNING", running).await;
    let own_app = mallory.status.unwrap().fly_app_name.unwrap();
    stack
        .instances()
        .patch_status(
            "mallory",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "flyAppName": held } })),
        )
        .await
        .unwrap();
    stack
        .instances()
        .delete("mallory", &Default::default())
        .await
        .unwrap();
    stack.until_gone("mallory", SOON).await;
    assert!(
        stack.fly.app_names().contains(&held.to_owned()),
        "another Instance's app was deleted"
    );
    let left = stack
        .events("mallory")
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("AppLeft"));
    assert!(
        left.is_some_and(|e| e.note.unwrap_or_default().contains(held)),
        "no AppLeft Event"
    );
    assert!(
        stack.fly.app_names().contains(&own_app),
        "(its own is left too)"
    );

    // The holder of the free app deletes it with itself; the loser leaves it alone.
    if let Some(holder) = holder {
        let loser = if holder == "first" { "second" } else { "first" };
        stack
            .instances()
            .delete(loser, &Default::default())
            .await
            .unwrap();
        stack.until_gone(loser, SOON).await;
        assert!(stack.fly.app_names().contains(&free.to_owned()));
        stack
            .instances()
            .delete(&holder, &Default::default())
            .await
            .unwrap();
        stack.until_gone(&holder, SOON).await;
        assert!(!stack.fly.app_names().contains(&free.to_owned()));
    }
}
