//! `Table` answers for `kubectl get`: the columns a real server prints, with a custom
//! resource's additionalPrinterColumns.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// Reads a simple JSONPath (`.status.phase`, `.metadata.creationTimestamp`), with the
/// filter printer columns use on lists (`.status.conditions[?(@.type=="Ready")].reason`:
/// the first element whose field has that value).
fn json_path<'v>(object: &'v Value, path: &str) -> Option<&'v Value> {
    let mut node = object;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(filter) = rest.strip_prefix("[?(@.") {
            let end = filter.find(")]")?;
            let (field, wanted) = filter[..end].split_once("==")?;
            let wanted = wanted.trim().trim_matches('"').trim_matches('\'');
            node = node
                .as_array()?
                .iter()
                .find(|item| item.get(field.trim()).and_then(Value::as_str) == Some(wanted))?;
            rest = &filter[end + 2..];
            continue;
        }
        rest = rest.trim_start_matches('.');
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        if end > 0 {
            node = node.get(&rest[..end])?;
        }
        rest = &rest[end..];
    }
    Some(node)
}

/// The printer columns' priorities (0: shown; more: only with `-o wide`), in the order
/// of [`columns`].
fn priorities(resource: &ResourceType) -> Vec<i64> {
    let mut out = vec![0];
    if resource.custom {
        if resource.printer_columns.is_empty() {
            out.push(0);
        }
        out.extend(
            resource
                .printer_columns
                .iter()
                .map(|c| c["priority"].as_i64().unwrap_or(0)),
        );
    }
    out
}

fn columns(resource: &ResourceType) -> Vec<(String, String, String, String)> {
    let name = (
        "Name".to_owned(),
        "string".to_owned(),
        "name".to_owned(),
        String::new(),
    );
    let age = (
        "Age".to_owned(),
        "date".to_owned(),
        String::new(),
        ".metadata.creationTimestamp".to_owned(),
    );
    if resource.custom {
        let mut out = vec![name];
        if resource.printer_columns.is_empty() {
            out.push(age);
        }
        for column in &resource.printer_columns {
            out.push((
                column["name"].as_str().unwrap_or_default().to_owned(),
                column["type"].as_str().unwrap_or("string").to_owned(),
                column["format"].as_str().unwrap_or_default().to_owned(),
                column["jsonPath"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        return out;
    }
    let column =
        |n: &str, t: &str, p: &str| (n.to_owned(), t.to_owned(), String::new(), p.to_owned());
    match resource.kind.as_str() {
        "Secret" => vec![
            name,
            column("Type", "string", ".type"),
            column("Data", "integer", ""),
            age,
        ],
        "ConfigMap" => vec![name, column("Data", "integer", ""), age],
        "Namespace" => vec![name, column("Status", "string", ".status.phase"), age],
        _ => vec![name, age],
    }
}

/// An age as the API server prints it (`45s`, `3m20s`, `5h`, `2d3h`, `1y20d`).
pub fn human_duration(seconds: i64) -> String {
    let (s, m, h, d) = (seconds, seconds / 60, seconds / 3600, seconds / 86_400);
    let y = d / 365;
    match seconds {
        i64::MIN..-1 => "<invalid>".to_owned(),
        -1..=0 => "0s".to_owned(),
        1..=119 => format!("{s}s"),
        _ if m < 10 => two_units(m, "m", s % 60, "s"),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => two_units(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 => two_units(d, "d", h % 24, "h"),
        _ if y < 2 => format!("{d}d"),
        _ if y < 8 => two_units(y, "y", d % 365, "d"),
        _ => format!("{y}y"),
    }
}

/// `3m`, or `3m20s` when the minor unit is not zero.
fn two_units(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

fn age(timestamp: &Value) -> Value {
    let Some(at) = timestamp
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return Value::Null;
    };
    json!(human_duration(
        (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds()
    ))
}

fn cell(object: &Value, kind: &str, column: &(String, String, String, String)) -> Value {
    let (name, column_type, format, path) = column;
    if column_type == "date" {
        return json_path(object, path).map_or(Value::Null, age);
    }
    if format == "name" {
        return object["metadata"]["name"].clone();
    }
    if name == "Data" && path.is_empty() {
        let count = |key: &str| object[key].as_object().map_or(0, |m| m.len());
        return json!(
            count("data")
                + if kind == "ConfigMap" {
                    count("binaryData")
                } else {
                    0
                }
        );
    }
    json_path(object, path).cloned().unwrap_or(Value::Null)
}

/// A `meta.k8s.io/v1` Table of `objects`. Rows carry the full object when
/// `include_object` is `Object`, else its metadata, as the real server does.
pub fn table(
    resource: &ResourceType,
    objects: &[Value],
    revision: u64,
    include_object: &str,
) -> Value {
    let columns = columns(resource);
    let priorities = priorities(resource);
    let definitions: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind, format, _))| {
            let priority = priorities.get(i).copied().unwrap_or(0);
            json!({ "name": name, "type": kind, "format": format, "description": "", "priority": priority })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let cells: Vec<Value> = columns.iter().map(|c| cell(object, &resource.kind, c)).collect();
            let embedded = match include_object {
                "Object" => object.clone(),
                "None" => Value::Null,
                _ => json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] }),
            };
            json!({ "cells": cells, "object": embedded })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": revision.to_string() },
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths_filter_lists() {
        let object = json!({ "status": { "phase": "RUNNING", "conditions": [
            { "type": "Ready", "reason": "Running" },
            { "type": "Healthy", "reason": "CrashLoop" }
        ] } });
        assert_eq!(json_path(&object, ".status.phase"), Some(&json!("RUNNING")));
        assert_eq!(
            json_path(&object, ".status.conditions[?(@.type==\"Healthy\")].reason"),
            Some(&json!("CrashLoop"))
        );
        assert_eq!(
            json_path(&object, ".status.conditions[?(@.type==\"Synced\")].reason"),
            None
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        for (seconds, shown) in [
            (0, "0s"),
            (45, "45s"),
            (200, "3m20s"),
            (600, "10m"),
            (4 * 3600 + 60, "4h1m"),
            (30 * 3600, "30h"),
            (3 * 86_400 + 3600, "3d1h"),
            (100 * 86_400, "100d"),
            (3 * 365 * 86_400 + 86_400, "3y1d"),
        ] {
            assert_eq!(human_duration(seconds), shown, "{seconds}");
        }
    }
}
