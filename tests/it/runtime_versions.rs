//! Each supported OpenClaw version, checked with its own npm package: the owned document
//! written for its dialect passes that package's `openclaw config validate` (merged with
//! `config patch` into a fresh state dir, as the machine's start command does), a key or
//! value the version does not know fails it, and the table's facts (the provider
//! protocols, the keys its dialect writes, the state schemas) are the package's.

use fasterclaw::domain::AiModel;
use fasterclaw::runtime::machine::START_SCRIPT;
use fasterclaw::runtime::versions::{
    self, PREVIOUS_OPENCLAW_VERSION, SupportedVersion, supported_versions,
};
use fasterclaw::runtime::{Endpoints, OPENCLAW_VERSION, OwnedConfig};
use serde_json::{Value, json};
use url::Url;

use crate::support::openclaw::OpenClaw;

/// A supported version with its installed package.
fn package(version: &str) -> (&'static SupportedVersion, OpenClaw) {
    let openclaw = if version == OPENCLAW_VERSION {
        OpenClaw::installed()
    } else {
        OpenClaw::previous()
    };
    let package_version = openclaw.package_json()["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        package_version,
        version,
        "{} holds openclaw@{package_version}, not {version}: run ./scripts/test (it installs both)",
        openclaw.package.display()
    );
    let entry = versions::supported(&version.parse().expect("a version"))
        .unwrap_or_else(|| panic!("{version} is not in the table of supported versions"));
    (entry, openclaw)
}

/// Each supported version with its installed package.
fn packages() -> Vec<(&'static SupportedVersion, OpenClaw)> {
    let found: Vec<_> = [OPENCLAW_VERSION, PREVIOUS_OPENCLAW_VERSION]
        .into_iter()
        .map(package)
        .collect();
    assert_eq!(
        found.len(),
        supported_versions().len(),
        "every supported version has a package the tests install"
    );
    found
}

/// Runs `openclaw <args>` of a package with a fresh home and only the given env.
fn run(
    openclaw: &OpenClaw,
    scratch: &std::path::Path,
    script: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let output = openclaw.sh(scratch, script, env);
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The start command up to the gateway: merge the owned file, then validate.
fn merge_and_validate() -> String {
    let lines: Vec<&str> = START_SCRIPT.lines().collect();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("exec node openclaw.mjs gateway"))
    );
    lines[..lines.len() - 1].join("\n")
}

/// Merges `document` into a fresh state dir with the version's own CLI and validates the
/// result: whether it passed, what it said, and the merged file.
fn validate(openclaw: &OpenClaw, document: &Value) -> (bool, String, Value) {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let state = scratch.path().join("state");
    std::fs::create_dir_all(&state).expect("the state dir");
    merge_into(openclaw, scratch.path(), &state, document)
}

/// Runs the start command up to the gateway with `document` as the owned file, on the
/// state dir `state` as it is: whether it passed, what it said, and the merged file.
fn merge_into(
    openclaw: &OpenClaw,
    scratch: &std::path::Path,
    state: &std::path::Path,
    document: &Value,
) -> (bool, String, Value) {
    let file = scratch.join("owned.json");
    std::fs::write(&file, document.to_string()).expect("the owned file");
    let (passed, said) = run(
        openclaw,
        scratch,
        &merge_and_validate(),
        &[
            ("OPENCLAW_STATE_DIR", state.to_str().expect("a UTF-8 path")),
            (
                "FASTERCLAW_OPENCLAW_CONFIG",
                file.to_str().expect("a UTF-8 path"),
            ),
        ],
    );
    let merged = std::fs::read_to_string(state.join("openclaw.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (passed, said, merged)
}

fn endpoints() -> Endpoints {
    Endpoints {
        telegram_api_root: Some(Url::parse("http://127.0.0.1:9000/bot-api/").unwrap()),
        anthropic: Some(Url::parse("http://127.0.0.1:9001/").unwrap()),
        openai: Some(Url::parse("http://127.0.0.1:9001/v1").unwrap()),
        google: Some(Url::parse("http://127.0.0.1:9001/v1beta").unwrap()),
    }
}

/// The document written for `version` passes its validation, with an allowlist and
/// every endpoint, and with pairing and none.
fn validates_the_document_written_for(version: &str) {
    let with_endpoints = endpoints();
    let none = Endpoints::default();
    let allowlist: &[i64] = &[424242, 7, 1_000_000_001];
    let cases: [(&str, &[i64], &Endpoints); 2] = [
        ("claude-sonnet-5", allowlist, &with_endpoints),
        ("gpt-5.4-mini", &[], &none),
    ];
    let (entry, openclaw) = package(version);
    for (model, users, endpoints) in cases {
        let model = AiModel::parse(model).unwrap();
        let owned = OwnedConfig {
            model: &model,
            provider: model.provider(),
            telegram_user_ids: users,
            endpoints,
        };
        let document = owned.document_for(&entry.dialect);
        let (passed, said, merged) = validate(&openclaw, &document);
        assert!(
            passed,
            "openclaw@{version} refused the document written for it ({}): {said}\n{document:#}",
            model.as_str()
        );
        assert!(said.contains("Config valid"), "{version}: {said}");
        let telegram = &merged["channels"]["telegram"];
        assert_eq!(telegram["enabled"], true, "{version}: {merged:#}");
        assert_eq!(
            telegram["dmPolicy"],
            document["channels"]["telegram"]["dmPolicy"]
        );
        if users.is_empty() {
            assert!(telegram.get("allowFrom").is_none(), "{version}: {telegram}");
        } else {
            assert_eq!(
                telegram["allowFrom"],
                document["channels"]["telegram"]["allowFrom"]
            );
        }
        if endpoints.telegram_api_root.is_some() {
            assert_eq!(telegram["apiRoot"], "http://127.0.0.1:9000/bot-api");
            assert_eq!(
                merged["models"]["providers"]["openai"],
                json!({"baseUrl": "http://127.0.0.1:9001/v1", "api": "openai-completions"}),
                "{version}"
            );
            assert_eq!(
                merged["models"]["providers"]["anthropic"],
                json!({"baseUrl": "http://127.0.0.1:9001", "api": "anthropic-messages"}),
                "{version}"
            );
            assert_eq!(
                merged["models"]["providers"]["google"]["api"],
                "google-generative-ai"
            );
        }
        assert!(merged["gateway"]["auth"].get("token").is_none());
        assert_eq!(
            merged["meta"]["lastTouchedVersion"], version,
            "the package that merged is the version's own"
        );
    }
}

#[test]
fn the_pinned_version_validates_the_document_written_for_it() {
    validates_the_document_written_for(OPENCLAW_VERSION);
}

#[test]
fn the_previous_version_validates_the_document_written_for_it() {
    validates_the_document_written_for(PREVIOUS_OPENCLAW_VERSION);
}

/// `version` refuses an owned key it does not know, and a provider protocol just as
/// the table says.
fn refuses_what_it_does_not_know(version: &str) {
    let endpoints = endpoints();
    let model = AiModel::parse("claude-sonnet-5").unwrap();
    let (entry, openclaw) = package(version);
    let owned = OwnedConfig {
        model: &model,
        provider: model.provider(),
        telegram_user_ids: &[424242],
        endpoints: &endpoints,
    };
    // A key no version knows: the validator is not a rubber stamp.
    let mut unknown = owned.document_for(&entry.dialect);
    unknown["channels"]["telegram"]["noSuchOwnedKey"] = json!(true);
    let (passed, said, _) = validate(&openclaw, &unknown);
    assert!(!passed, "openclaw@{version} took an unknown key: {said}");
    assert!(said.contains("noSuchOwnedKey"), "{version}: {said}");

    // A protocol only some versions know (2026.9.6 added `pi-messages`): each
    // version's validator agrees with the table.
    let mut protocol = owned.document_for(&entry.dialect);
    protocol["models"]["providers"]["anthropic"]["api"] = json!("pi-messages");
    let accepts = entry.dialect.accepts_provider_api("pi-messages");
    let (passed, said, _) = validate(&openclaw, &protocol);
    assert_eq!(
        passed,
        accepts,
        "the table says openclaw@{version} {} pi-messages: {said}",
        if accepts { "accepts" } else { "refuses" }
    );
    if !accepts {
        assert!(
            said.contains("models.providers.anthropic.api"),
            "{version}: {said}"
        );
    }
}

#[test]
fn the_pinned_version_refuses_what_it_does_not_know() {
    refuses_what_it_does_not_know(OPENCLAW_VERSION);
}

#[test]
fn the_previous_version_refuses_what_it_does_not_know() {
    refuses_what_it_does_not_know(PREVIOUS_OPENCLAW_VERSION);
    assert!(
        supported_versions()
            .iter()
            .any(|s| s.dialect.accepts_provider_api("pi-messages")),
        "what the previous version refuses, a supported one accepts"
    );
}

/// An owner's key the pinned version retired (`gateway.controlUi.toolTitles`, accepted by
/// the previous one) does not keep the upgraded machine from starting: the start command
/// lets the pinned version migrate it away, then merges the owned keys; the owner's other
/// settings stay.
#[test]
fn an_owners_key_the_new_version_retired_is_migrated_not_refused() {
    let (previous, old) = package(PREVIOUS_OPENCLAW_VERSION);
    let (pinned, new) = package(OPENCLAW_VERSION);
    let endpoints = endpoints();
    let model = AiModel::parse("claude-sonnet-5").unwrap();
    let owned = OwnedConfig {
        model: &model,
        provider: model.provider(),
        telegram_user_ids: &[424242],
        endpoints: &endpoints,
    };
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let state = scratch.path().join("state");
    std::fs::create_dir_all(&state).expect("the state dir");
    let log = scratch.path().join("owner.log");
    std::fs::write(
        state.join("openclaw.json"),
        json!({
            "logging": { "file": log.to_str().expect("a UTF-8 path") },
            "gateway": { "controlUi": { "toolTitles": true } },
        })
        .to_string(),
    )
    .expect("the owner's file");
    let (passed, said, merged) = merge_into(
        &old,
        scratch.path(),
        &state,
        &owned.document_for(&previous.dialect),
    );
    assert!(passed, "{PREVIOUS_OPENCLAW_VERSION} starts: {said}");
    assert_eq!(
        merged["gateway"]["controlUi"]["toolTitles"], true,
        "{merged:#}"
    );

    let document = owned.document_for(&pinned.dialect);
    let (passed, said, merged) = merge_into(&new, scratch.path(), &state, &document);
    assert!(
        passed,
        "{OPENCLAW_VERSION} starts on the owner's file: {said}"
    );
    assert!(said.contains("applying OpenClaw's migrations"), "{said}");
    assert!(said.contains("Config valid"), "{said}");
    assert!(
        merged["gateway"]["controlUi"].get("toolTitles").is_none(),
        "{merged:#}"
    );
    assert_eq!(
        merged["logging"]["file"],
        log.to_str().unwrap(),
        "{merged:#}"
    );
    assert_eq!(
        merged["channels"]["telegram"]["allowFrom"],
        document["channels"]["telegram"]["allowFrom"]
    );
    assert_eq!(merged["meta"]["lastTouchedVersion"], OPENCLAW_VERSION);
}

/// The node of a JSON Schema at `path` (object properties only, `*` for a map's values).
fn schema_at<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(schema, |node, key| match key {
        "*" => node.get("additionalProperties"),
        key => node.get("properties")?.get(key),
    })
}

#[test]
fn the_table_is_what_each_package_says() {
    for (entry, openclaw) in packages() {
        let version = entry.version;
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let state = scratch.path().join("state");
        let (passed, text) = run(
            &openclaw,
            scratch.path(),
            "node openclaw.mjs config schema",
            &[("OPENCLAW_STATE_DIR", state.to_str().unwrap())],
        );
        assert!(passed, "openclaw@{version} config schema failed: {text}");
        let schema: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("openclaw@{version} config schema is not JSON ({e})"));

        let apis: Vec<&str> = schema_at(&schema, "models.providers.*.api")
            .and_then(|api| api["enum"].as_array())
            .unwrap_or_else(|| panic!("openclaw@{version} has no models.providers.*.api enum"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            apis, entry.dialect.provider_apis,
            "openclaw@{version}'s provider protocols"
        );
        for (key, written) in [
            (
                "agents.defaults.heartbeat.every",
                entry.dialect.heartbeat_every,
            ),
            (
                "channels.telegram.groupPolicy",
                entry.dialect.telegram_group_policy,
            ),
            ("channels.telegram.apiRoot", entry.dialect.telegram_api_root),
        ] {
            assert_eq!(
                schema_at(&schema, key).is_some(),
                written,
                "the table says openclaw@{version} {} {key}",
                if written { "has" } else { "lacks" }
            );
        }
        let declared = &openclaw.package_json()["openclaw"]["schemaVersions"];
        assert_eq!(
            (declared["state"].as_u64(), declared["agent"].as_u64()),
            (
                Some(u64::from(entry.schemas.state)),
                Some(u64::from(entry.schemas.agent))
            ),
            "openclaw@{version}'s database schemas"
        );
    }
}
