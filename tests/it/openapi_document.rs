//! The OpenAPI document lists every route the web app calls, each fully described.

use serde_json::Value;

/// Every route of the original API and the additions.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/docs"),
    ("get", "/docs/json"),
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("get", "/auth/me"),
    ("patch", "/auth/profile"),
    ("patch", "/auth/password"),
    ("delete", "/auth/account"),
    ("post", "/auth/logout-all"),
    ("get", "/auth/google"),
    ("get", "/auth/google/callback"),
    ("post", "/instances/validate-telegram-token"),
    ("post", "/instances"),
    ("get", "/instances"),
    ("get", "/instances/{id}"),
    ("patch", "/instances/{id}"),
    ("delete", "/instances/{id}"),
    ("post", "/instances/{id}/start"),
    ("post", "/instances/{id}/stop"),
    ("post", "/instances/{id}/retry"),
    ("post", "/instances/{id}/sync"),
    ("get", "/instances/{id}/provisioning-status"),
    ("post", "/billing/checkout"),
    ("post", "/billing/portal"),
    ("get", "/billing/invoices"),
    ("get", "/billing/subscription"),
    ("post", "/billing/webhook"),
];

const PUBLIC: &[&str] = &[
    "/health",
    "/ready",
    "/docs",
    "/docs/json",
    "/openapi.json",
    "/auth/register",
    "/auth/login",
    "/auth/google",
    "/auth/google/callback",
    "/billing/webhook",
];

fn document() -> Value {
    fasterclaw::api::openapi::document()
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            doc["components"]["schemas"]
                .get(name)
                .unwrap_or_else(|| panic!("$ref {reference} does not resolve"))
        }
        None => schema,
    }
}

#[test]
fn is_openapi_3_1_with_bearer_auth() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
}

#[test]
fn lists_every_route_of_the_web_app_and_the_additions() {
    let doc = document();
    for (method, path) in EXPECTED {
        assert!(
            doc["paths"][path][method].is_object(),
            "{} {path} is not documented",
            method.to_uppercase()
        );
    }
}

#[test]
fn every_operation_is_fully_described() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let here = format!("{} {path}", method.to_uppercase());
            assert!(op["operationId"].is_string(), "{here}: no operationId");
            let bearer = op["security"] == serde_json::json!([{ "bearerAuth": [] }]);
            assert_eq!(
                bearer,
                !PUBLIC.contains(&path.as_str()),
                "{here}: bearerAuth does not match the route's access"
            );
            if matches!(method.as_str(), "post" | "patch") && path != "/billing/portal" {
                let body_ok = op["requestBody"]["content"]["application/json"]["schema"]
                    .is_object()
                    || !op["requestBody"].is_object();
                assert!(body_ok, "{here}: request body without a schema");
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{here}: no responses");
            for (status, response) in responses {
                if status.starts_with('3') {
                    assert!(
                        response["headers"]["Location"]["schema"].is_object(),
                        "{here} {status}: a redirect without its Location"
                    );
                    continue;
                }
                let schema = response["content"]
                    .as_object()
                    .and_then(|c| c.values().next())
                    .map(|media| &media["schema"]);
                let Some(schema) = schema else {
                    panic!("{here} {status}: no body schema");
                };
                let resolved = resolve(&doc, schema);
                assert!(resolved.is_object(), "{here} {status}: empty schema");
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        schema["$ref"], "#/components/schemas/ApiError",
                        "{here} {status}: not the error schema"
                    );
                }
            }
        }
    }
}

#[test]
fn request_schemas_carry_the_seed_validation_rules() {
    let doc = document();
    let create = &doc["components"]["schemas"]["CreateInstanceRequest"]["properties"];
    assert_eq!(create["name"]["minLength"], 1);
    assert_eq!(create["name"]["maxLength"], 50);
    assert_eq!(create["telegramBotToken"]["minLength"], 40);
    assert_eq!(create["telegramBotToken"]["maxLength"], 100);
    assert_eq!(create["region"]["default"], "lax");
    assert_eq!(create["aiModel"]["default"], "claude-sonnet-5");
    assert!(
        create["aiModel"]["pattern"]
            .as_str()
            .unwrap()
            .contains("gpt|claude|gemini|o1")
    );
}
