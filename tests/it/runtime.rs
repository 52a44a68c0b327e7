//! What every machine runs, checked against the real OpenClaw the tests install: the
//! pinned version, the models on offer, and the owned configuration merged and
//! validated by OpenClaw's own CLI, exactly as the machine's start command does it.

use std::collections::BTreeSet;

use fasterclaw::domain::{AiModel, AiProvider};
use fasterclaw::runtime::config::primary_model;
use fasterclaw::runtime::machine::START_SCRIPT;
use fasterclaw::runtime::{Endpoints, OPENCLAW_VERSION, OwnedConfig, default_image, models};
use serde_json::{Value, json};
use url::Url;

use crate::support::openclaw::OpenClaw;

#[test]
fn the_pinned_version_is_the_installed_package_and_the_default_image() {
    let openclaw = OpenClaw::installed();
    let installed = openclaw.package_json()["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        installed, OPENCLAW_VERSION,
        "src/runtime/openclaw.version pins {OPENCLAW_VERSION} but the tests run openclaw@{installed}"
    );
    assert_eq!(
        default_image(),
        format!("ghcr.io/openclaw/openclaw:{installed}")
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&format!("ghcr.io/openclaw/openclaw:{OPENCLAW_VERSION}")),
        "the README names the default image"
    );
}

#[test]
fn the_models_on_offer_are_the_pinned_catalog() {
    let openclaw = OpenClaw::installed();
    for (provider, id) in [
        (AiProvider::Anthropic, "anthropic"),
        (AiProvider::Openai, "openai"),
        (AiProvider::Google, "google"),
    ] {
        let path = openclaw
            .package
            .join(format!("dist/extensions/{id}/openclaw.plugin.json"));
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the plugin manifest"))
                .expect("JSON");
        let catalog: Vec<&str> = manifest["modelCatalog"]["providers"][id]["models"]
            .as_array()
            .unwrap_or_else(|| panic!("{} lists no {id} models", path.display()))
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        let ours: BTreeSet<&str> = models::of(provider).iter().copied().collect();
        assert_eq!(
            ours,
            catalog.iter().copied().collect::<BTreeSet<_>>(),
            "src/runtime/models.rs disagrees with {id}'s catalog in openclaw@{OPENCLAW_VERSION}"
        );
    }
    assert!(models::offers(&AiModel::default()));
}

/// The start command without its last line (which becomes the gateway).
fn merge_and_validate() -> String {
    let lines: Vec<&str> = START_SCRIPT.lines().collect();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("exec node openclaw.mjs gateway"))
    );
    lines[..lines.len() - 1].join("\n")
}

fn config_path(state: &std::path::Path) -> std::path::PathBuf {
    state.join("openclaw.json")
}

#[test]
fn the_owned_config_merges_into_the_owners_and_passes_openclaws_validation() {
    let openclaw = OpenClaw::installed();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let endpoints = Endpoints {
        telegram_api_root: Some(Url::parse("http://127.0.0.1:9/").unwrap()),
        anthropic: Some(Url::parse("http://127.0.0.1:9/").unwrap()),
        openai: Some(Url::parse("http://127.0.0.1:9/v1").unwrap()),
        google: Some(Url::parse("http://127.0.0.1:9/v1beta").unwrap()),
    };
    let none = Endpoints::default();
    let cases: [(&str, &[i64], &Endpoints); 3] = [
        ("claude-sonnet-5", &[424242], &none),
        ("gpt-5.4-mini", &[], &endpoints),
        ("gemini-2.5-flash", &[7, 8], &endpoints),
    ];
    for (n, (model, users, endpoints)) in cases.into_iter().enumerate() {
        let model = AiModel::parse(model).unwrap();
        let state = scratch.path().join(format!("state-{n}"));
        std::fs::create_dir_all(&state).unwrap();
        let log = scratch.path().join(format!("owner-{n}.log"));
        // What the owner (or an earlier version) left: their own setting survives, a
        // token written into the file goes.
        std::fs::write(
            config_path(&state),
            json!({
                "logging": { "file": log.to_str().unwrap() },
                "gateway": { "mode": "local", "auth": { "token": "an-old-token-in-the-file-0123456789abcdef" } },
                "channels": { "telegram": { "dmPolicy": "open", "allowFrom": ["*"] } },
            })
            .to_string(),
        )
        .unwrap();
        let owned = OwnedConfig {
            model: &model,
            provider: model.provider(),
            telegram_user_ids: users,
            endpoints,
        };
        let file = scratch.path().join(format!("owned-{n}.json"));
        std::fs::write(&file, owned.to_file()).unwrap();
        let output = openclaw.sh(
            scratch.path(),
            &merge_and_validate(),
            &[
                ("OPENCLAW_STATE_DIR", state.to_str().unwrap()),
                ("FASTERCLAW_OPENCLAW_CONFIG", file.to_str().unwrap()),
            ],
        );
        assert!(
            output.status.success(),
            "case {n}: the start command refused the config: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let merged: Value =
            serde_json::from_str(&std::fs::read_to_string(config_path(&state)).unwrap()).unwrap();
        assert_eq!(
            merged["logging"]["file"],
            log.to_str().unwrap(),
            "case {n}: the owner's setting survives"
        );
        assert!(
            merged["gateway"]["auth"].get("token").is_none(),
            "case {n}: no token in the file"
        );
        assert_eq!(merged["gateway"]["bind"], "lan");
        assert_eq!(
            merged["agents"]["defaults"]["model"]["primary"],
            primary_model(&model, model.provider())
        );
        let telegram = &merged["channels"]["telegram"];
        if users.is_empty() {
            assert_eq!(telegram["dmPolicy"], "pairing", "case {n}");
            assert!(telegram.get("allowFrom").is_none(), "case {n}: {telegram}");
        } else {
            assert_eq!(telegram["dmPolicy"], "allowlist", "case {n}");
            let ids: Vec<String> = users.iter().map(i64::to_string).collect();
            assert_eq!(telegram["allowFrom"], json!(ids), "case {n}");
        }
        let text = serde_json::to_string(&merged).unwrap();
        assert!(!text.contains("\"open\""), "case {n}: never open: {text}");
    }
}

#[test]
fn a_config_openclaw_refuses_stops_the_start_with_exit_78_and_leaves_the_file() {
    let openclaw = OpenClaw::installed();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let state = scratch.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let before = json!({ "gateway": { "mode": "local" } }).to_string();
    std::fs::write(config_path(&state), &before).unwrap();
    let file = scratch.path().join("owned.json");
    std::fs::write(
        &file,
        json!({ "gateway": { "bind": "everywhere" } }).to_string(),
    )
    .unwrap();
    let output = openclaw.sh(
        scratch.path(),
        START_SCRIPT,
        &[
            ("OPENCLAW_STATE_DIR", state.to_str().unwrap()),
            ("FASTERCLAW_OPENCLAW_CONFIG", file.to_str().unwrap()),
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(78),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(config_path(&state)).unwrap(),
        before
    );
}
