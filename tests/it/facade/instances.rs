//! Instances through the facade: gated on a subscription and its limit (also under
//! concurrent creates), tokens masked everywhere, another user's instances invisible,
//! the web app's body-less calls, the states each action needs, and the whole life
//! with the controller running: created, RUNNING, stopped, changed, started, deleted.

use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::{
    CreateInstanceRequest, InstanceResponse, UpdateInstanceRequest, ValidateTelegramTokenRequest,
};
use fasterclaw::crd::Phase;
use serde_json::{Value, json};

use super::{sign_up, telegram};
use crate::support::stack::{Stack, TOKEN};

const OTHER_TOKEN: &str = "7987654321:AAFzyXwVuTsRqPoNmLkJiHgFeDcBa987654";

fn create(name: &str, token: &str) -> CreateInstanceRequest {
    serde_json::from_value(json!({ "name": name, "telegramBotToken": token })).unwrap()
}

async fn until_status(client: &ApiClient, id: &str, status: Phase) -> InstanceResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let instance = client.get_instance(id).await.unwrap();
        if instance.status == status {
            return instance;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never reached {status:?}; it is {:?}",
            instance.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_lives_its_life_through_the_facade_and_the_controller() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let _controller = stack.controller(&[]);
    let (owner, user) = sign_up(&facade.client()).await;

    let refused = owner
        .create_instance(&create("Bot", TOKEN))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "403: Active subscription required. Please subscribe to create instances."
    );

    stack.subscribe(user.id, "starter", 2).await;
    let created = owner
        .create_instance(&create("Support bot", TOKEN))
        .await
        .unwrap();
    assert_eq!(
        (
            created.status,
            created.name.as_str(),
            created.region.as_str()
        ),
        (Phase::Creating, "Support bot", "lax")
    );
    assert_eq!(
        created.telegram_bot_token.as_deref(),
        Some("7123456789...bC3e")
    );
    let id = created.id.to_string();
    // The client sees its own write at once.
    assert_eq!(owner.get_instance(&id).await.unwrap().id, created.id);
    assert_eq!(owner.list_instances().await.unwrap().0.len(), 1);

    let running = until_status(&owner, &id, Phase::Running).await;
    assert!(
        running.fly_app_name.is_some()
            && running.fly_machine_id.is_some()
            && running.ip_address.is_some()
    );
    let steps = owner.provisioning_status(&id).await.unwrap();
    assert!(steps.ready && steps.steps.len() == 4, "{steps:?}");

    // Configuration changes need a stopped instance.
    let change: UpdateInstanceRequest =
        serde_json::from_value(json!({ "name": "Renamed", "aiModel": "gpt-5.4-mini" })).unwrap();
    let refused = owner.update_instance(&id, &change).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "400: Instance must be stopped before updating configuration"
    );
    let refused = owner.start_instance(&id).await.unwrap_err();
    assert_eq!(refused.to_string(), "400: Instance is not stopped");
    let refused = owner.retry_instance(&id).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "400: Only failed instances can be retried"
    );

    let stopping = owner.stop_instance(&id).await.unwrap();
    assert_eq!(stopping.status, Phase::Stopping);
    until_status(&owner, &id, Phase::Stopped).await;
    let changed = owner.update_instance(&id, &change).await.unwrap();
    assert_eq!(
        (changed.name.as_str(), changed.ai_model.as_str()),
        ("Renamed", "gpt-5.4-mini")
    );
    let with_new_token: UpdateInstanceRequest =
        serde_json::from_value(json!({ "telegramBotToken": OTHER_TOKEN })).unwrap();
    let retokened = owner.update_instance(&id, &with_new_token).await.unwrap();
    assert_eq!(
        retokened.telegram_bot_token.as_deref(),
        Some("7987654321...7654")
    );
    let moved: UpdateInstanceRequest = serde_json::from_value(json!({ "region": "iad" })).unwrap();
    let refused = owner.update_instance(&id, &moved).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("400: region: The region cannot change"),
        "{refused}"
    );
    // The new token reaches Fly.io's app secrets through the controller.
    let app = running.fly_app_name.clone().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stack
        .fly
        .secret_value(&app, "TELEGRAM_BOT_TOKEN")
        .as_deref()
        != Some(OTHER_TOKEN)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new token did not reach Fly.io"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(
        owner.start_instance(&id).await.unwrap().status,
        Phase::Starting
    );
    until_status(&owner, &id, Phase::Running).await;
    let synced = owner.sync_instance(&id).await.unwrap();
    assert_eq!(synced.id, created.id);

    assert!(owner.delete_instance(&id).await.unwrap().success);
    until_status(&owner, &id, Phase::Deleted).await;
    assert!(
        owner.list_instances().await.unwrap().0.is_empty(),
        "gone from the list"
    );
    assert!(stack.fly.app_names().is_empty(), "and from Fly.io");

    let logs = facade.logs();
    assert!(
        !logs.contains(TOKEN) && !logs.contains(OTHER_TOKEN),
        "a token reached the facade's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_limit_holds_under_concurrent_creates() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "starter", 2).await;
    owner
        .create_instance(&create("First", TOKEN))
        .await
        .unwrap();
    // One place left, eight asking for it at once: exactly one gets it.
    let attempts = (0..8).map(|n| {
        let owner = owner.clone();
        async move {
            owner
                .create_instance(&create(&format!("Racer {n}"), TOKEN))
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for lost in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            lost.to_string(),
            "403: Instance limit reached (2). Please upgrade your plan or delete existing instances."
        );
    }
    assert_eq!(owner.list_instances().await.unwrap().0.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_instance_is_not_found_on_every_route() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, user) = sign_up(&facade.client()).await;
    let (stranger, _) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    let mine = owner
        .create_instance(&create("Mine", TOKEN))
        .await
        .unwrap()
        .id
        .to_string();
    let http = reqwest::Client::new();
    for (method, path) in [
        ("GET", format!("/instances/{mine}")),
        ("PATCH", format!("/instances/{mine}")),
        ("DELETE", format!("/instances/{mine}")),
        ("POST", format!("/instances/{mine}/start")),
        ("POST", format!("/instances/{mine}/stop")),
        ("POST", format!("/instances/{mine}/retry")),
        ("POST", format!("/instances/{mine}/sync")),
        ("GET", format!("/instances/{mine}/provisioning-status")),
        ("GET", format!("/instances/{mine}/snapshots")),
        ("POST", format!("/instances/{mine}/snapshots/vs_1/restore")),
        ("GET", "/instances/clx9y8z7w0000abcd1234efgh".to_owned()),
        ("POST", "/instances/not-a-uuid/start".to_owned()),
    ] {
        let session = match path.contains(&mine) {
            true => stranger.clone(),
            false => owner.clone(),
        };
        let mut request = http.request(method.parse().unwrap(), format!("{}{path}", facade.url));
        request = request.header("authorization", bearer(&session));
        if method == "PATCH" {
            request = request.json(&json!({ "name": "Taken" }));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "error": "Instance not found" }),
            "{method} {path}"
        );
    }
    // The owner's instance is untouched.
    assert_eq!(owner.get_instance(&mine).await.unwrap().name, "Mine");
}

/// The bearer header of a signed-in client.
fn bearer(client: &ApiClient) -> String {
    format!("Bearer {}", client.token().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_apps_own_calls_work_and_bad_input_is_a_readable_400() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    telegram.add_bot(TOKEN, "support_helper_bot", "Support Helper");
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    let id = owner
        .create_instance(&create("Bot", TOKEN))
        .await
        .unwrap()
        .id;
    let http = reqwest::Client::new();
    let auth = bearer(&owner);
    let send = |method: &str, path: &str, content_type: Option<&str>, body: Option<&str>| {
        let mut request = http
            .request(method.parse().unwrap(), format!("{}{path}", facade.url))
            .header("authorization", auth.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        request.send()
    };
    // Body-less POSTs with no Content-Type, as hey-api's client sends them.
    let sync = send("POST", &format!("/instances/{id}/sync"), None, None)
        .await
        .unwrap();
    assert_eq!(sync.status(), 200);
    // And with a Content-Type but no body.
    let sync = send(
        "POST",
        &format!("/instances/{id}/sync"),
        Some("application/json"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(sync.status(), 200);

    for (content_type, body, expected) in [
        (
            Some("application/json"),
            "{not json",
            "key must be a string",
        ),
        (
            Some("text/plain"),
            r#"{"name":"x","telegramBotToken":"y"}"#,
            "The body must be JSON",
        ),
        (None, r#"{"name":"x"}"#, "The body must be JSON"),
        (Some("application/json"), "", "A JSON body is required"),
        (
            Some("application/json"),
            r#"{"telegramBotToken":"7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e"}"#,
            "name: Required",
        ),
        (
            Some("application/json"),
            &format!(
                r#"{{"name":"{}","telegramBotToken":"7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e"}}"#,
                "x".repeat(51)
            ),
            "name: Name must be 50 characters or less",
        ),
        (
            Some("application/json"),
            r#"{"name":"Bot","telegramBotToken":"123:short"}"#,
            "telegramBotToken:",
        ),
        (
            Some("application/json"),
            r#"{"name":"Bot","telegramBotToken":"7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e","aiModel":"llama-3"}"#,
            "aiModel:",
        ),
        (Some("application/json"), "[1,2]", "invalid type"),
    ] {
        let response = send("POST", "/instances", content_type, Some(body))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {answer}");
        assert!(
            !message.contains("Bad Request") && !message.contains("sqlx"),
            "{answer}"
        );
    }

    // Token validation always answers 200 and never echoes the token.
    let check = |token: &str| {
        serde_json::from_value::<ValidateTelegramTokenRequest>(json!({ "token": token })).unwrap()
    };
    let valid = owner.validate_telegram_token(&check(TOKEN)).await.unwrap();
    assert_eq!(
        (
            valid.valid,
            valid.bot_username.as_deref(),
            valid.bot_name.as_deref()
        ),
        (true, Some("support_helper_bot"), Some("Support Helper"))
    );
    let unknown = owner
        .validate_telegram_token(&check(OTHER_TOKEN))
        .await
        .unwrap();
    assert_eq!(
        (unknown.valid, unknown.error.as_deref()),
        (false, Some("Unauthorized"))
    );
    let malformed = owner
        .validate_telegram_token(&check("no-colon-here"))
        .await
        .unwrap();
    assert!(!malformed.valid);
    let raw = send(
        "POST",
        "/instances/validate-telegram-token",
        Some("application/json"),
        Some(&json!({ "token": TOKEN }).to_string()),
    )
    .await
    .unwrap();
    let text = raw.text().await.unwrap();
    assert!(
        !text.contains(TOKEN) && !text.contains("botUsername\":null"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_kubernetes_refuses_the_instance_nothing_is_left_behind() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    // A namespace that does not exist: the API server refuses every Instance.
    let facade = stack
        .api(
            &telegram.base_url(),
            &[("INSTANCE_NAMESPACE", "no-such-namespace")],
        )
        .await;
    let (owner, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    let refused = owner
        .create_instance(&create("Bot", TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(refused.status(), Some(500 | 503)), "{refused}");
    let records: i64 = sqlx::query_scalar("select count(*) from instances")
        .fetch_one(stack.db.pool())
        .await
        .unwrap();
    let sealed: i64 = sqlx::query_scalar("select count(*) from sealed_secrets")
        .fetch_one(stack.db.pool())
        .await
        .unwrap();
    assert_eq!(
        (records, sealed),
        (0, 0),
        "no record and no sealed token left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_shows_masked_in_every_response_and_stop_needs_a_running_instance() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (owner, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    let http = reqwest::Client::new();
    let auth = bearer(&owner);
    let created = http
        .post(format!("{}/instances", facade.url))
        .header("authorization", auth.clone())
        .json(&json!({ "name": "Bot", "telegramBotToken": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/instances/{id}"),
        "/instances".to_owned(),
        format!("/instances/{id}/provisioning-status"),
    ] {
        let text = http
            .get(format!("{}{path}", facade.url))
            .header("authorization", auth.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(TOKEN) && !text.contains(&TOKEN[10..]),
            "{path}: {text}"
        );
    }
    assert_eq!(created["telegramBotToken"], "7123456789...bC3e");
    // Not running yet: it cannot be stopped.
    let refused = owner.stop_instance(&id).await.unwrap_err();
    assert_eq!(refused.to_string(), "400: Instance is not running");
}
