//! The `/docs` page: the OpenAPI document rendered as HTML on the server, so it reads
//! without scripts or anything fetched from elsewhere.

use std::fmt::Write;
use std::sync::OnceLock;

use serde_json::Value;

use crate::api::openapi;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "{}[]",
            schema.get("items").map(schema_name).unwrap_or_default()
        ),
        Some(kind) => escape(kind),
        None => "object".to_owned(),
    }
}

fn body(content: Option<&Value>) -> String {
    let Some(content) = content.and_then(Value::as_object) else {
        return String::new();
    };
    content
        .iter()
        .map(|(media, entry)| {
            format!(
                "{} <code>{}</code>",
                schema_name(&entry["schema"]),
                escape(media)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page (rendered once).
pub fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(render)
}

fn render() -> String {
    let document = openapi::document();
    let mut html = String::new();
    let title = escape(document["info"]["title"].as_str().unwrap_or("API"));
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         code{{background:#f3f3f3;padding:0 .25rem}}.op{{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:.75rem 0}}\
         .m{{font-weight:bold;text-transform:uppercase;margin-right:.5rem}}table{{border-collapse:collapse}}td{{padding:.1rem .6rem;vertical-align:top}}\
         pre{{background:#f7f7f7;padding:.5rem;overflow:auto}}</style></head><body><h1>{title} {version}</h1><p>{description}</p>\
         <p>The machine-readable document: <a href=\"/openapi.json\">/openapi.json</a>.</p>",
        version = escape(document["info"]["version"].as_str().unwrap_or("")),
        description = escape(document["info"]["description"].as_str().unwrap_or("")),
    );
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    for tag in document["tags"].as_array().into_iter().flatten() {
        let name = tag["name"].as_str().unwrap_or_default();
        let _ = write!(
            html,
            "<h2>{}</h2><p>{}</p>",
            escape(name),
            escape(tag["description"].as_str().unwrap_or(""))
        );
        for (path, item) in &paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                if !operation["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == name))
                {
                    continue;
                }
                let secured = operation.get("security").is_some();
                let _ = write!(
                    html,
                    "<div class=\"op\" id=\"{id}\"><p><span class=\"m\">{method}</span><code>{path}</code> {lock}<br><b>{summary}</b></p>",
                    id = escape(operation["operationId"].as_str().unwrap_or("")),
                    method = escape(method),
                    path = escape(path),
                    lock = if secured { "🔒 bearer token" } else { "" },
                    summary = escape(operation["summary"].as_str().unwrap_or("")),
                );
                if let Some(text) = operation["description"].as_str() {
                    let _ = write!(html, "<p>{}</p>", escape(text));
                }
                let request = body(operation["requestBody"].get("content"));
                if !request.is_empty() {
                    let _ = write!(html, "<p>Request: {request}</p>");
                }
                html.push_str("<table>");
                for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                    let _ = write!(
                        html,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        escape(status),
                        escape(response["description"].as_str().unwrap_or("")),
                        body(response.get("content")),
                    );
                }
                html.push_str("</table></div>");
            }
        }
    }
    html.push_str("<h2>Schemas</h2>");
    for (name, schema) in document["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
        let _ = write!(
            html,
            "<h3 id=\"schema-{0}\">{0}</h3><pre>{1}</pre>",
            escape(name),
            escape(&pretty)
        );
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_lists_every_operation_and_schema() {
        let page = super::page();
        let document = crate::api::openapi::document();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(
                    page.contains(&format!("id=\"{id}\"")),
                    "{id} missing from /docs"
                );
            }
        }
        assert!(page.contains("id=\"schema-Instance\""));
        assert!(!page.contains("<script"));
    }
}
