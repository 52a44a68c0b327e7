//! Operator controls and the problems an owner must fix: pause, sync now, a missing
//! platform key, a refused config that is not retried in a loop, a transition that
//! outlasts its deadline and the retry that starts it over; settings checked at start; a
//! pairing approval asked by annotation, as an operator asks it with kubectl.

use std::time::Duration;

use fasterclaw_sim::fly::FlySimConfig;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::cluster::TestCluster;
use crate::support::stack::{Stack, TOKEN, condition, phase, running};

const SOON: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_writes_and_sync_now_is_echoed() {
    let stack = Stack::new().await;
    stack.token_secret("calm-telegram", TOKEN).await;
    let _controller = stack.controller(&[]);
    stack.instance("calm", json!({})).await;
    stack.until("calm", SOON, "RUNNING", running).await;

    stack
        .annotate("calm", "fasterclaw.io/paused", Some("true"))
        .await;
    stack
        .until("calm", SOON, "Synced=False ReconcilePaused", |i| {
            condition(i, "Synced") == Some(("False".into(), "ReconcilePaused".into()))
        })
        .await;
    let writes_before = stack.fly.calls_of("Machines_stop") + stack.fly.calls_of("Machines_update");
    stack
        .instances()
        .patch(
            "calm",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "powerState": "Stopped" } })),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stack.fly.calls_of("Machines_stop") + stack.fly.calls_of("Machines_update"),
        writes_before,
        "paused: no write to Fly.io"
    );
    assert_eq!(
        phase(&stack.instances().get("calm").await.unwrap()),
        "RUNNING"
    );

    stack.annotate("calm", "fasterclaw.io/paused", None).await;
    stack
        .until("calm", SOON, "STOPPED once unpaused", |i| {
            phase(i) == "STOPPED"
        })
        .await;

    stack
        .annotate(
            "calm",
            "fasterclaw.io/reconcile-requested-at",
            Some("2026-11-30T12:00:00Z"),
        )
        .await;
    stack
        .until("calm", SOON, "the sync request echoed", |i| {
            i.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some("2026-11-30T12:00:00Z")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_platform_key_is_reported_and_creates_nothing() {
    let stack = Stack::new().await;
    stack.token_secret("gem-telegram", TOKEN).await;
    let mut controller = stack.controller(&[]);
    stack
        .instance("gem", json!({ "aiModel": "gemini-2.5-flash" }))
        .await;
    let reported = stack
        .until("gem", SOON, "Synced=False PlatformKeyMissing", |i| {
            condition(i, "Synced") == Some(("False".into(), "PlatformKeyMissing".into()))
        })
        .await;
    let message = reported.status.unwrap().message.unwrap();
    assert!(message.contains("GOOGLE_API_KEY"), "{message}");
    assert!(stack.fly.app_names().is_empty(), "no Fly.io app for it");
    assert_eq!(stack.fly.calls_of("Apps_create"), 0);
    let deadline = tokio::time::Instant::now() + SOON;
    while !stack
        .event_reasons("gem")
        .await
        .contains(&"PlatformKeyMissing".to_owned())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no PlatformKeyMissing Event"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(controller.exited().is_none(), "a missing key is no crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_config_fails_once_and_is_not_retried_in_a_loop() {
    let stack = Stack::new().await;
    stack
        .fly
        .mark_image_missing("ghcr.io/openclaw/openclaw:does-not-exist");
    stack.token_secret("bad-telegram", TOKEN).await;
    let _controller = stack.controller(&[]);
    stack
        .instance(
            "bad",
            json!({ "image": "ghcr.io/openclaw/openclaw:does-not-exist" }),
        )
        .await;
    let failed = stack
        .until("bad", SOON, "FAILED", |i| phase(i) == "FAILED")
        .await;
    assert_eq!(
        condition(&failed, "Synced"),
        Some(("False".into(), "FlyRejected".into()))
    );
    let message = failed.status.unwrap().message.unwrap();
    assert!(message.contains("manifest unknown"), "{message}");
    let attempts = stack.fly.calls_of("Machines_create");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        stack.fly.calls_of("Machines_create"),
        attempts,
        "a 422 is not retried"
    );

    // A spec change starts it over.
    stack
        .instances()
        .patch(
            "bad",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "image": "ghcr.io/openclaw/openclaw:v3" } })),
        )
        .await
        .unwrap();
    stack
        .until("bad", SOON, "RUNNING after the fix", running)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_stuck_starting_fails_after_its_deadline_and_a_retry_starts_over() {
    let cluster = TestCluster::new().await;
    let slow = FlySimConfig {
        transition: Duration::from_secs(3600),
        ..FlySimConfig::default()
    };
    let stack = Stack::on(cluster, slow).await;
    stack.token_secret("slow-telegram", TOKEN).await;
    let _controller = stack.controller(&[("TRANSITION_TIMEOUT", "3s"), ("MACHINE_WAIT", "1s")]);
    stack.instance("slow", json!({})).await;
    stack
        .until("slow", SOON, "STARTING", |i| phase(i) == "STARTING")
        .await;
    let failed = stack
        .until("slow", SOON, "FAILED after the deadline", |i| {
            phase(i) == "FAILED"
        })
        .await;
    assert_eq!(
        condition(&failed, "Synced"),
        Some(("False".into(), "Timeout".into()))
    );
    assert!(
        failed
            .status
            .unwrap()
            .message
            .unwrap()
            .contains("STARTING for more than 3s")
    );

    stack.fly.set_transition(Duration::from_millis(100));
    stack
        .annotate(
            "slow",
            "fasterclaw.io/retry-requested-at",
            Some("2026-11-30T12:00:00Z"),
        )
        .await;
    let recovered = stack
        .until("slow", SOON, "RUNNING after the retry", running)
        .await;
    assert_eq!(
        recovered.status.unwrap().last_handled_retry_at.as_deref(),
        Some("2026-11-30T12:00:00Z")
    );
    assert_eq!(
        stack.fly.created(),
        (1, 1),
        "the retry reuses the app and the machine"
    );
}

#[tokio::test]
async fn the_controller_refuses_to_start_with_one_clear_line() {
    let stack = Stack::new().await;
    for (unset, expected) in [
        ("FLY_API_TOKEN", "FLY_API_TOKEN is not set"),
        ("DATABASE_URL", "DATABASE_URL is not set"),
        ("ENCRYPTION_KEY", "ENCRYPTION_KEY"),
    ] {
        let mut controller = stack.controller(&[(unset, "")]);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = controller.exited() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the controller started without {unset}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(!status.success());
        let logs = controller.logs();
        let last = logs.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("fasterclaw: ") && last.contains(expected),
            "{unset}: {logs}"
        );
    }
    let mut malformed = stack.controller(&[("ENCRYPTION_KEY", "not-hex")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while malformed.exited().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "started with a malformed key"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        malformed.logs().contains("ENCRYPTION_KEY"),
        "{}",
        malformed.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_approval_by_annotation_is_checked_carried_out_and_echoed() {
    let stack = Stack::new().await;
    stack.token_secret("door-telegram", TOKEN).await;
    let _controller = stack.controller(&[]);
    stack.instance("door", json!({})).await;
    stack.until("door", SOON, "RUNNING", running).await;
    let approval = |i: &fasterclaw::crd::Instance| {
        i.status
            .as_ref()
            .and_then(|s| s.pairing.as_ref())
            .and_then(|p| p.approval.clone())
    };

    // Not a code: refused before anything reaches the machine.
    let execs = stack.fly.calls_of("Machines_exec");
    stack
        .annotate(
            "door",
            "fasterclaw.io/approve-pairing-code",
            Some("$(reboot)"),
        )
        .await;
    let refused = stack
        .until("door", SOON, "the invalid code echoed", |i| {
            approval(i).is_some_and(|a| a.code == "$(reboot)")
        })
        .await;
    let refused = approval(&refused).unwrap();
    assert_eq!(refused.result, fasterclaw::crd::ApprovalResult::Invalid);
    assert!(
        refused
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not a pairing code")),
        "{refused:?}"
    );
    assert_eq!(stack.fly.calls_of("Machines_exec"), execs, "nothing ran");

    // A code: the controller runs `openclaw pairing approve telegram <code>` with Fly's
    // exec (this simulator runs no process, so the command is not found) and says so.
    stack
        .annotate(
            "door",
            "fasterclaw.io/approve-pairing-code",
            Some("hjkl2345"),
        )
        .await;
    let tried = stack
        .until("door", SOON, "the approval echoed", |i| {
            approval(i).is_some_and(|a| a.code == "HJKL2345")
        })
        .await;
    let tried = approval(&tried).unwrap();
    assert_eq!(tried.result, fasterclaw::crd::ApprovalResult::Failed);
    assert!(
        tried
            .message
            .as_deref()
            .is_some_and(|m| m.contains("exited 127")),
        "{tried:?}"
    );
    assert_eq!(stack.fly.calls_of("Machines_exec"), execs + 1);
    let events = stack.events("door").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("PairingNotApproved")),
        "{events:?}"
    );
}
