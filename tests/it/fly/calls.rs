//! Every client call against the simulator.

use std::collections::BTreeMap;
use std::time::Duration;

use fasterclaw::fly::{Deleted, FlyErrorCode, MachineFilter, UpdateMachine, WaitState};
use fasterclaw_sim::fly::MachineState;
use secrecy::SecretString;

use super::{client_for, fly, machine, sim_config, sim_with};

fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned())))
        .collect()
}

#[tokio::test]
async fn apps_are_created_idempotently_and_deleted() {
    let fly = fly().await;
    let app = fly.client.create_app("fc-app-one").await.unwrap();
    assert_eq!(app.name, "fc-app-one");
    assert!(!app.id.is_empty());
    let shown = fly.client.get_app("fc-app-one").await.unwrap();
    assert_eq!(
        (shown.id.as_str(), shown.organization.slug.as_str()),
        (app.id.as_str(), "personal")
    );

    // Creating it again (a repeated reconcile) is not an error and makes no second app.
    let again = fly.client.create_app("fc-app-one").await.unwrap();
    assert_eq!(again.id, app.id);
    assert_eq!(fly.sim.created().0, 1);

    assert_eq!(
        fly.client.delete_app("fc-app-one").await.unwrap(),
        Deleted::Yes
    );
    assert_eq!(
        fly.client.delete_app("fc-app-one").await.unwrap(),
        Deleted::AlreadyGone
    );
    let err = fly.client.get_app("fc-app-one").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn a_name_taken_by_another_organization_is_a_terminal_conflict() {
    let fly = fly().await;
    fasterclaw::tls::install_crypto_provider();
    let other = reqwest::Client::new()
        .post(format!("{}/v1/apps", fly.sim.base_url()))
        .bearer_auth(fly.sim.token())
        .json(&serde_json::json!({ "name": "fc-taken", "org_slug": "someone-else" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
    let err = fly.client.create_app("fc-taken").await.unwrap_err();
    assert_eq!(err.code(), Some(&FlyErrorCode::NameTaken));
    assert!(
        err.is_conflict() && err.is_terminal() && !err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn secrets_are_set_listed_as_digests_and_unset_with_versions() {
    let fly = fly().await;
    fly.client.create_app("fc-secrets").await.unwrap();
    let v1 = fly
        .client
        .set_secrets(
            "fc-secrets",
            &secrets(&[
                ("TELEGRAM_BOT_TOKEN", "1:abc"),
                ("ANTHROPIC_API_KEY", "sk-1"),
            ]),
        )
        .await
        .unwrap();
    let v2 = fly
        .client
        .set_secrets("fc-secrets", &secrets(&[("TELEGRAM_BOT_TOKEN", "1:def")]))
        .await
        .unwrap();
    assert!(v2 > v1, "{v1} then {v2}");
    assert_eq!(
        fly.sim
            .secret_value("fc-secrets", "TELEGRAM_BOT_TOKEN")
            .as_deref(),
        Some("1:def")
    );

    let listed = fly.client.list_secrets("fc-secrets").await.unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ANTHROPIC_API_KEY", "TELEGRAM_BOT_TOKEN"]);
    assert!(listed.iter().all(|s| !s.digest.is_empty()));
    assert!(!format!("{listed:?}").contains("1:def"));

    let v3 = fly
        .client
        .unset_secrets("fc-secrets", &["ANTHROPIC_API_KEY", "NEVER_SET"])
        .await
        .unwrap();
    assert!(v3 > v2);
    let names: Vec<String> = fly
        .client
        .list_secrets("fc-secrets")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["TELEGRAM_BOT_TOKEN"]);
}

#[tokio::test]
async fn a_machine_lives_through_create_wait_update_stop_start_and_delete() {
    let fly = fly().await;
    let app = "fc-machine-life";
    fly.client.create_app(app).await.unwrap();
    let version = fly
        .client
        .set_secrets(app, &secrets(&[("TELEGRAM_BOT_TOKEN", "1:abc")]))
        .await
        .unwrap();

    let mut request = machine("bot-one");
    request.min_secrets_version = Some(version);
    let created = fly
        .client
        .create_machine(app, request.clone())
        .await
        .unwrap();
    assert_eq!(created.state.as_str(), "created");
    assert_eq!(created.region, "lax");
    assert!(
        created
            .config
            .metadata
            .contains_key(fasterclaw::fly::CREATE_REQUEST_TAG)
    );

    let waited = fly
        .client
        .wait_machine(
            app,
            &created.id,
            Some(created.current_version()),
            WaitState::Started,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(waited.ok);
    assert_eq!(waited.state, "started");
    let shown = fly.client.get_machine(app, &created.id).await.unwrap();
    assert_eq!(shown.state.as_str(), "started");
    assert!(
        shown.private_ip.starts_with("fdaa:"),
        "{}",
        shown.private_ip
    );

    // Found by metadata, and only by matching metadata.
    let found = fly
        .client
        .list_machines(
            app,
            &MachineFilter::tagged("fasterclaw_instance", "bot-one"),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let none = fly
        .client
        .list_machines(app, &MachineFilter::tagged("fasterclaw_instance", "other"))
        .await
        .unwrap();
    assert!(none.is_empty());

    // An update with the current version gives a new version; a stale one is refused.
    let mut config = shown.config.clone();
    config.env.insert("AI_MODEL".into(), "gpt-5.4-mini".into());
    let update = UpdateMachine {
        config: config.clone(),
        current_version: Some(shown.current_version().to_owned()),
        min_secrets_version: Some(version),
        skip_launch: false,
    };
    let updated = fly
        .client
        .update_machine(app, &created.id, &update)
        .await
        .unwrap();
    assert_ne!(updated.current_version(), shown.current_version());
    assert_eq!(updated.config.env["AI_MODEL"], "gpt-5.4-mini");
    fly.client
        .wait_machine(
            app,
            &created.id,
            Some(updated.current_version()),
            WaitState::Started,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let stale = fly
        .client
        .update_machine(app, &created.id, &update)
        .await
        .unwrap_err();
    assert!(stale.is_conflict(), "{stale}");

    fly.client.stop_machine(app, &created.id).await.unwrap();
    fly.client
        .wait_machine(
            app,
            &created.id,
            Some(updated.current_version()),
            WaitState::Stopped,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    fly.client.stop_machine(app, &created.id).await.unwrap();
    fly.client.start_machine(app, &created.id).await.unwrap();
    // Starting a machine that is already starting counts as started.
    fly.client.start_machine(app, &created.id).await.unwrap();
    fly.client
        .wait_machine(
            app,
            &created.id,
            None,
            WaitState::Started,
            Duration::from_secs(5),
        )
        .await
        .unwrap();

    let refused = fly
        .client
        .delete_machine(app, &created.id, false)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(412), "{refused}");
    assert_eq!(
        fly.client
            .delete_machine(app, &created.id, true)
            .await
            .unwrap(),
        Deleted::Yes
    );
    fly.client
        .wait_machine(
            app,
            &created.id,
            None,
            WaitState::Destroyed,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        fly.sim.machine_state(app, &created.id),
        Some(MachineState::Destroyed)
    );
    assert_eq!(
        fly.client
            .delete_machine(app, &created.id, true)
            .await
            .unwrap(),
        Deleted::AlreadyGone
    );
    assert!(
        fly.client
            .list_machines(app, &MachineFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_an_app_takes_its_machines_and_secrets() {
    let fly = fly().await;
    let app = "fc-cascade";
    fly.client.create_app(app).await.unwrap();
    fly.client
        .set_secrets(app, &secrets(&[("A", "1")]))
        .await
        .unwrap();
    let created = fly
        .client
        .create_machine(app, machine("bot"))
        .await
        .unwrap();
    assert_eq!(fly.client.delete_app(app).await.unwrap(), Deleted::Yes);
    assert!(
        fly.client
            .get_machine(app, &created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        fly.client
            .list_secrets(app)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(fly.sim.app_names().is_empty());
}

#[tokio::test]
async fn a_machine_boots_with_at_least_its_min_secrets_version() {
    let fly = fly().await;
    let app = "fc-min-secrets";
    fly.client.create_app(app).await.unwrap();
    let mut request = machine("bot");
    request.min_secrets_version = Some(3);
    let err = fly
        .client
        .create_machine(app, request.clone())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.is_terminal());
    let mut version = 0;
    for n in 0..3 {
        version = fly
            .client
            .set_secrets(app, &secrets(&[("N", &n.to_string())]))
            .await
            .unwrap();
    }
    request.min_secrets_version = Some(version);
    let created = fly.client.create_machine(app, request).await.unwrap();
    fly.client
        .wait_machine(
            app,
            &created.id,
            None,
            WaitState::Started,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let state = fly.sim.state();
    let booted = &state["apps"][0]["machines"][0]["booted_secrets_version"];
    assert!(booted.as_u64().unwrap() >= version, "{booted}");
}

#[tokio::test]
async fn a_wait_that_times_out_is_a_408_and_is_not_retried() {
    let fly = fly().await;
    fly.sim.set_transition(Duration::from_secs(30));
    let app = "fc-slow";
    fly.client.create_app(app).await.unwrap();
    let created = fly
        .client
        .create_machine(app, machine("slow"))
        .await
        .unwrap();
    fly.sim.reset_calls();
    let started = std::time::Instant::now();
    let err = fly
        .client
        .wait_machine(
            app,
            &created.id,
            None,
            WaitState::Started,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(408), "{err}");
    assert_eq!(fly.sim.calls_of("Machines_wait"), 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_bad_token_is_401_and_not_retried() {
    let sim = sim_with(sim_config()).await;
    let client = client_for(&sim, "not-the-token");
    let err = client.get_app("anything").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.is_terminal());
    assert_eq!(sim.calls_of("Apps_show"), 1);
}

#[tokio::test]
async fn macaroon_tokens_are_sent_as_they_are_and_only_so() {
    let sim = sim_with(fasterclaw_sim::fly::FlySimConfig {
        token: "FlyV1 fm2_macaroon".to_owned(),
        ..sim_config()
    })
    .await;
    let macaroon = client_for(&sim, "FlyV1 fm2_macaroon");
    macaroon.create_app("fc-macaroon").await.unwrap();
    // The same token under the other scheme is not the token Fly.io issued.
    let bearer = client_for(&sim, "fm2_macaroon");
    let err = bearer.get_app("fc-macaroon").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let plain = sim_with(sim_config()).await;
    let as_macaroon = client_for(&plain, &format!("FlyV1 {}", plain.token()));
    assert_eq!(
        as_macaroon
            .get_app("fc-anything")
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
}

#[tokio::test]
async fn secrets_never_reach_machine_config() {
    let fly = fly().await;
    let app = "fc-no-env-secrets";
    fly.client.create_app(app).await.unwrap();
    let token = "7085221466:AAFq3S0m2qAs-kN_4yR8E1vW3Xe9b0pL7Uc";
    let version = fly
        .client
        .set_secrets(app, &secrets(&[("TELEGRAM_BOT_TOKEN", token)]))
        .await
        .unwrap();
    let mut request = machine("bot");
    request.min_secrets_version = Some(version);
    fly.client.create_machine(app, request).await.unwrap();
    let state = fly.sim.state().to_string();
    assert!(
        !state.contains(token),
        "a secret value is in the simulator's state"
    );
    assert!(!state.contains("AAFq3S0m"), "{state}");
}

#[tokio::test]
async fn a_base_url_with_or_without_v1_reaches_the_same_api() {
    let sim = sim_with(sim_config()).await;
    for base in [
        sim.base_url(),
        format!("{}/", sim.base_url()),
        format!("{}/v1", sim.base_url()),
    ] {
        let client = fasterclaw::fly::FlyClient::new(fasterclaw::fly::FlyConfig {
            api_token: SecretString::from(sim.token().to_owned()),
            api_url: base.parse().unwrap(),
            org_slug: "personal".to_owned(),
        })
        .unwrap();
        let err = client.get_app("fc-none").await.unwrap_err();
        assert!(err.is_not_found(), "{base}: {err}");
    }
}
