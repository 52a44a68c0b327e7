//! The facade's OpenAPI 3.1 document, generated from the route table and the contract
//! types. `fasterclaw openapi` prints it and `openapi/fasterclaw.json` is that output.

use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::routes::{Auth, Body, ROUTES, Route, Tag};

/// The name of the bearer security scheme in the document.
pub const BEARER_SCHEME: &str = "bearerAuth";

/// The OpenAPI document as a JSON value.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator();

    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                route.method.as_lowercase().to_owned(),
                operation(route, &mut generator),
            );
        }
    }

    let tags: Vec<Value> = Tag::ALL
        .iter()
        .map(|tag| json!({ "name": tag.name(), "description": tag.description() }))
        .collect();

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "FasterClaw API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, assistants (OpenClaw Telegram bots on Fly.io) and billing. \
                            Errors are always `{\"error\": \"<message>\"}`.",
        },
        "servers": [
            { "url": "http://localhost:3001", "description": "Local development" },
            { "url": "https://api.fasterclaw.com", "description": "Production" },
        ],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The `accessToken` from /auth/login or /auth/register",
                },
            },
        },
    })
}

/// The OpenAPI document as pretty-printed JSON ending in a newline, exactly as committed
/// in `openapi/fasterclaw.json`.
pub fn document_json() -> String {
    let mut text = serde_json::to_string_pretty(&document())
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the document: {e}\"}}"));
    text.push('\n');
    text
}

fn operation(route: &Route, generator: &mut SchemaGenerator) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), route.operation_id().into());
    op.insert("summary".into(), route.summary.into());
    if !route.description.is_empty() {
        op.insert("description".into(), route.description.into());
    }
    op.insert("tags".into(), json!([route.tag.name()]));
    if route.auth == Auth::Bearer {
        op.insert("security".into(), json!([{ BEARER_SCHEME: [] }]));
    }

    let mut parameters: Vec<Value> = route
        .path_params()
        .map(|name| {
            let (description, schema) =
                path_parameter(name).unwrap_or(("", json!({ "type": "string" })));
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": description,
                "schema": schema,
            })
        })
        .collect();
    if route.auth == Auth::StripeSignature {
        parameters.push(json!({
            "name": "stripe-signature",
            "in": "header",
            "required": true,
            "description": "Stripe's signature of the raw body: `t=<unix time>,v1=<hex HMAC-SHA256>`",
            "schema": { "type": "string" },
        }));
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), parameters.into());
    }

    if let Some(content) = content(route.request, generator) {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": content }),
        );
    }

    let mut responses = Map::new();
    for response in route.responses {
        let mut entry = Map::new();
        entry.insert("description".into(), response.description.into());
        if let Some(content) = content(response.body, generator) {
            entry.insert("content".into(), content);
        }
        if (300..400).contains(&response.status) {
            entry.insert(
                "headers".into(),
                json!({ "Location": {
                    "description": "Where the browser goes next",
                    "schema": { "type": "string", "format": "uri" },
                } }),
            );
        }
        responses.insert(response.status.to_string(), entry.into());
    }
    op.insert("responses".into(), responses.into());
    op.into()
}

/// The description and schema of the path parameter `name`.
fn path_parameter(name: &str) -> Option<(&'static str, Value)> {
    Some(match name {
        "id" => ("Instance id", json!({ "type": "string", "format": "uuid" })),
        "code" => (
            "Pairing code: 8 letters and digits (A-Z without I and O, 2-9), as the assistant sent it",
            json!({ "type": "string", "pattern": "^[A-HJ-NP-Za-hj-np-z2-9]{8}$" }),
        ),
        "snapshot" => (
            "Snapshot id (`vs_…`), or the id of a kept volume (`vol_…`) to undo a restore",
            json!({ "type": "string", "pattern": "^(vs|vol)_[A-Za-z0-9]+$", "maxLength": 64 }),
        ),
        _ => return None,
    })
}

fn content(body: Body, generator: &mut SchemaGenerator) -> Option<Value> {
    let (media_type, schema): (&str, Schema) = match body {
        Body::Empty => return None,
        Body::Json(schema_fn) => ("application/json", schema_fn(generator)),
        Body::OpenApi => (
            "application/json",
            schemars::json_schema!({
                "type": "object",
                "description": "An OpenAPI 3.1 document",
            }),
        ),
        Body::Html => ("text/html", schemars::json_schema!({ "type": "string" })),
    };
    Some(json!({ media_type: { "schema": schema } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parameter_is_described() {
        for route in ROUTES {
            for name in route.path_params() {
                assert!(
                    path_parameter(name).is_some(),
                    "{}: {{{name}}} has no description",
                    route.path
                );
            }
        }
    }
}
