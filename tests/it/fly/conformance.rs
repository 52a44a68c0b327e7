//! Every answer the simulator gives is checked against the official Machines API
//! document: the schema of its operation and status, or `ErrorResponse` for an error
//! status the document does not list.

use std::sync::LazyLock;
use std::time::Duration;

use fasterclaw_sim::fly::{FaultPlan, FaultRule};
use reqwest::Method;
use serde_json::{Value, json};

use super::{sim_config, sim_with};

static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../sim/specs/fly-machines-openapi.json"))
        .expect("the vendored spec is JSON")
});

/// The response schema the spec gives `operation` for `status`: `Some(None)` when it
/// lists the status without a body, `None` when it does not list the status.
fn documented_schema(operation: &str, status: u16) -> Option<Option<Value>> {
    for item in SPEC["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op["operationId"] != operation {
                continue;
            }
            let response = op["responses"].get(status.to_string())?;
            return Some(
                response["content"]["application/json"]
                    .get("schema")
                    .cloned(),
            );
        }
    }
    panic!("operation {operation} is not in the spec")
}

pub(super) fn validate(operation: &str, status: u16, body: &[u8]) {
    let schema = match documented_schema(operation, status) {
        Some(Some(schema)) => schema,
        Some(None) => return,
        None => {
            assert!(
                status >= 400,
                "{operation} answered {status}, which the spec does not list"
            );
            json!({ "$ref": "#/components/schemas/ErrorResponse" })
        }
    };
    let instance: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{operation} {status}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    let document = json!({ "allOf": [schema], "components": SPEC["components"] });
    let validator = jsonschema::draft4::new(&document).expect("the spec's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{operation} {status} does not match the spec: {errors:?}\n{instance}"
    );
}

struct Checker {
    http: reqwest::Client,
    base: String,
    token: String,
    checked: Vec<(String, u16)>,
}

impl Checker {
    async fn call(
        &mut self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        validate(operation, status, &bytes);
        self.checked.push((operation.to_owned(), status));
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn expect(
        &mut self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let (status, value) = self.call(operation, method, path, body).await;
        assert_eq!(status, want, "{operation} {path}: {value}");
        value
    }
}

#[tokio::test]
async fn every_answer_matches_the_machines_api_document() {
    fasterclaw::tls::install_crypto_provider();
    let sim = sim_with(sim_config()).await;
    let mut c = Checker {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.token().to_owned(),
        checked: Vec::new(),
    };
    use Method as M;
    // Rate limits are checked on their own below.
    sim.set_rate_limits(false);

    // Apps.
    c.expect(
        "Apps_create",
        M::POST,
        "/v1/apps",
        Some(json!({"name": "fc-spec", "org_slug": "personal"})),
        201,
    )
    .await;
    c.expect(
        "Apps_create",
        M::POST,
        "/v1/apps",
        Some(json!({"name": "fc-spec", "org_slug": "personal"})),
        422,
    )
    .await;
    c.expect(
        "Apps_create",
        M::POST,
        "/v1/apps",
        Some(json!({"name": "Bad Name!"})),
        422,
    )
    .await;
    c.expect(
        "Apps_create",
        M::POST,
        "/v1/apps",
        Some(json!({"org_slug": "personal"})),
        400,
    )
    .await;
    c.expect("Apps_list", M::GET, "/v1/apps?org_slug=personal", None, 200)
        .await;
    c.expect("Apps_list", M::GET, "/v1/apps", None, 400).await;
    c.expect("Apps_show", M::GET, "/v1/apps/fc-spec", None, 200)
        .await;
    c.expect("Apps_show", M::GET, "/v1/apps/fc-nope", None, 404)
        .await;

    // Secrets.
    let secrets = json!({"values": {"TELEGRAM_BOT_TOKEN": "1:abc", "OLD": null}});
    c.expect(
        "Secrets_update",
        M::POST,
        "/v1/apps/fc-spec/secrets",
        Some(secrets),
        200,
    )
    .await;
    c.expect(
        "Secrets_update",
        M::POST,
        "/v1/apps/fc-spec/secrets",
        Some(json!({"values": {"1BAD": "x"}})),
        400,
    )
    .await;
    c.expect(
        "Secrets_update",
        M::POST,
        "/v1/apps/fc-nope/secrets",
        Some(json!({"values": {}})),
        404,
    )
    .await;
    c.expect(
        "Secrets_list",
        M::GET,
        "/v1/apps/fc-spec/secrets",
        None,
        200,
    )
    .await;
    c.expect(
        "Secrets_list",
        M::GET,
        "/v1/apps/fc-spec/secrets?show_secrets=true",
        None,
        200,
    )
    .await;
    c.expect(
        "Secrets_list",
        M::GET,
        "/v1/apps/fc-spec/secrets?min_version=99",
        None,
        400,
    )
    .await;

    // Machines.
    let create = json!({
        "name": "bot", "region": "lax", "min_secrets_version": 1,
        "config": {"image": "ghcr.io/openclaw/openclaw:latest", "env": {"AI_MODEL": "claude-sonnet-5"},
                   "metadata": {"fasterclaw_instance": "x"}, "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024},
                   "services": [{"protocol": "tcp", "internal_port": 8080, "ports": [{"port": 443, "handlers": ["tls", "http"]}]}],
                   "restart": {"policy": "on-failure", "max_retries": 3}}
    });
    let machine = c
        .expect(
            "Machines_create",
            M::POST,
            "/v1/apps/fc-spec/machines",
            Some(create.clone()),
            200,
        )
        .await;
    let id = machine["id"].as_str().unwrap().to_owned();
    let version = machine["version"].as_str().unwrap().to_owned();
    let m = format!("/v1/apps/fc-spec/machines/{id}");
    c.expect(
        "Machines_create",
        M::POST,
        "/v1/apps/fc-spec/machines",
        Some(create),
        409,
    )
    .await;
    c.expect(
        "Machines_create",
        M::POST,
        "/v1/apps/fc-spec/machines",
        Some(json!({"config": {}})),
        400,
    )
    .await;
    c.expect(
        "Machines_create",
        M::POST,
        "/v1/apps/fc-nope/machines",
        Some(json!({"config": {"image": "x"}})),
        404,
    )
    .await;
    c.expect(
        "Machines_list",
        M::GET,
        "/v1/apps/fc-spec/machines?metadata.fasterclaw_instance=x",
        None,
        200,
    )
    .await;
    c.expect(
        "Machines_list",
        M::GET,
        "/v1/apps/fc-spec/machines?summary=true&limit=1&include_deleted=true",
        None,
        200,
    )
    .await;
    c.expect(
        "Machines_list",
        M::GET,
        "/v1/apps/fc-spec/machines?limit=0",
        None,
        400,
    )
    .await;
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?state=started&timeout=5"),
        None,
        200,
    )
    .await;
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?state=asleep"),
        None,
        400,
    )
    .await;
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?state=stopped&timeout=1"),
        None,
        408,
    )
    .await;
    c.expect("Machines_show", M::GET, &m, None, 200).await;
    c.expect(
        "Machines_show",
        M::GET,
        &format!("{m}?version=01HEPA330HZ37A78TK080NAK1M"),
        None,
        200,
    )
    .await;
    c.expect(
        "Machines_show",
        M::GET,
        "/v1/apps/fc-spec/machines/00000000000000",
        None,
        404,
    )
    .await;

    // The next checks need the machine mid-transition: slow transitions down so a busy
    // test machine cannot let it settle between two requests.
    sim.set_transition(Duration::from_secs(2));
    let update =
        json!({"config": {"image": "ghcr.io/openclaw/openclaw:2"}, "current_version": version});
    c.expect("Machines_update", M::POST, &m, Some(update.clone()), 200)
        .await;
    c.expect("Machines_update", M::POST, &m, Some(update), 409)
        .await;
    c.expect(
        "Machines_update",
        M::POST,
        &m,
        Some(json!({"config": {"image": "x"}, "region": "ams"})),
        400,
    )
    .await;
    c.expect(
        "Machines_update",
        M::POST,
        &m,
        Some(json!({"config": {"image": "x"}})),
        412,
    )
    .await;
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?state=settled&timeout=5"),
        None,
        200,
    )
    .await;
    sim.set_transition(Duration::from_millis(20));
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?instance_id={version}"),
        None,
        400,
    )
    .await;
    c.expect("Machines_start", M::POST, &format!("{m}/start"), None, 412)
        .await;
    c.expect(
        "Machines_stop",
        M::POST,
        &format!("{m}/stop"),
        Some(json!({"signal": "SIGWINCH"})),
        400,
    )
    .await;
    c.expect(
        "Machines_stop",
        M::POST,
        &format!("{m}/stop"),
        Some(json!({"signal": "SIGTERM", "timeout": "5s"})),
        200,
    )
    .await;
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?state=stopped&timeout=5"),
        None,
        200,
    )
    .await;
    c.expect("Machines_start", M::POST, &format!("{m}/start"), None, 200)
        .await;
    c.expect("Machines_delete", M::DELETE, &m, None, 412).await;
    c.expect(
        "Machines_delete",
        M::DELETE,
        &format!("{m}?force=true"),
        None,
        200,
    )
    .await;
    c.expect(
        "Machines_wait",
        M::GET,
        &format!("{m}/wait?state=destroyed&timeout=5"),
        None,
        200,
    )
    .await;
    c.expect("Machines_delete", M::DELETE, &m, None, 404).await;

    // Rate limits, faults and authentication.
    sim.set_rate_limits(true);
    for _ in 0..3 {
        c.expect("Apps_show", M::GET, "/v1/apps/fc-spec", None, 200)
            .await;
    }
    c.expect("Apps_show", M::GET, "/v1/apps/fc-spec", None, 429)
        .await;
    sim.set_rate_limits(false);
    for (rule, status) in [
        (
            FaultRule {
                server_error: 1.0,
                ..FaultRule::default()
            },
            None,
        ),
        (
            FaultRule {
                timeout: 1.0,
                ..FaultRule::default()
            },
            Some(408),
        ),
        (
            FaultRule {
                rate_limited: 1.0,
                ..FaultRule::default()
            },
            Some(429),
        ),
    ] {
        sim.set_faults(FaultPlan::everywhere(rule));
        let (got, _) = c.call("Apps_show", M::GET, "/v1/apps/fc-spec", None).await;
        match status {
            Some(status) => assert_eq!(got, status),
            None => assert!((500..600).contains(&got), "{got}"),
        }
    }
    sim.set_faults(FaultPlan::none());
    c.token = "wrong".to_owned();
    c.expect("Apps_show", M::GET, "/v1/apps/fc-spec", None, 401)
        .await;
    c.token = sim.token().to_owned();
    c.expect("Apps_delete", M::DELETE, "/v1/apps/fc-spec", None, 202)
        .await;
    c.expect("Apps_delete", M::DELETE, "/v1/apps/fc-spec", None, 404)
        .await;
    let missing = c
        .http
        .get(format!("{}/v1/nothing", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let operations: std::collections::BTreeSet<&str> =
        c.checked.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(operations.len(), 14, "{operations:?}");
    let _ = Duration::ZERO;
}
