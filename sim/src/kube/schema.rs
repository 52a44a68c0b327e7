//! Structural schemas as the API server applies them to custom resources: null values
//! of non-nullable fields dropped, unknown fields pruned (or, with
//! `fieldValidation=Strict`, refused), defaults applied, and every constraint of the
//! schema checked, each failure a cause naming its field.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

use super::cause::Cause;
use crate::sync::lock;

/// The fields of `metadata` the server keeps on custom resources.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Drops nulls of non-nullable fields, prunes fields the schema does not declare and
/// applies defaults, in place. Returns the paths of the pruned fields.
pub fn normalize(root_schema: &Value, object: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(map) = object.as_object_mut() {
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            let unknown: Vec<String> = meta
                .keys()
                .filter(|k| !OBJECT_META.contains(&k.as_str()))
                .cloned()
                .collect();
            for key in unknown {
                meta.remove(&key);
                pruned.push(join("metadata", &key));
            }
        }
        normalize_object(root_schema, map, "", &mut pruned, true);
    }
    pruned
}

fn normalize_value(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => normalize_object(schema, map, path, pruned, false),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    normalize_value(item_schema, item, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

fn normalize_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    pruned: &mut Vec<String>,
    root: bool,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let keep_unknown = preserves_unknown(schema) || additional == Some(&Value::Bool(true));
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let field_schema = properties
            .and_then(|p| p.get(&key))
            .or(additional.filter(|a| a.is_object()));
        let Some(field_schema) = field_schema else {
            if !keep_unknown {
                map.remove(&key);
                pruned.push(join(path, &key));
            }
            continue;
        };
        let nullable = field_schema.get("nullable") == Some(&Value::Bool(true));
        if map.get(&key) == Some(&Value::Null) && !nullable {
            map.remove(&key);
            continue;
        }
        if let Some(child) = map.get_mut(&key) {
            normalize_value(field_schema, child, &join(path, &key), pruned);
        }
    }
    if let Some(properties) = properties {
        for (key, field_schema) in properties {
            if !map.contains_key(key)
                && let Some(default) = field_schema.get("default")
            {
                let mut value = default.clone();
                normalize_value(field_schema, &mut value, &join(path, key), pruned);
                map.insert(key.clone(), value);
            }
        }
    }
}

/// Checks `object` against its schema; the causes name each failing field.
pub fn validate(root_schema: &Value, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(map) = object.as_object() {
        validate_object(root_schema, map, "", &mut causes, true);
    }
    causes
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn validate_value(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) && !preserves_unknown(schema) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    schema
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let fits = actual == expected
            || (expected == "number" && actual == "integer")
            || (int_or_string && matches!(actual, "integer" | "string"));
        if !fits {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!("Invalid value: \"{actual}\": {path} in body must be of type {expected}: \"{actual}\""),
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let supported: Vec<String> = options.iter().map(shown).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                shown(value),
                supported.join(", ")
            ),
        ));
    }
    match value {
        Value::Object(map) => validate_object(schema, map, path, causes, false),
        Value::Array(items) => validate_array(schema, items, path, causes),
        Value::String(text) => validate_string(schema, text, path, causes),
        Value::Number(number) => validate_number(schema, number, path, causes),
        _ => {}
    }
}

fn validate_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    causes: &mut Vec<Cause>,
    root: bool,
) {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    join(path, name),
                    "Required value",
                ));
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, value) in map {
        if root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(field_schema) = properties.and_then(|p| p.get(key)).or(additional) {
            validate_value(field_schema, value, &join(path, key), causes);
        }
    }
    let count = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            path,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {count}: {path} in body should have at least {min} properties"),
        ));
    }
}

fn validate_array(schema: &Value, items: &[Value], path: &str, causes: &mut Vec<Cause>) {
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate_value(item_schema, item, &format!("{path}[{i}]"), causes);
        }
    }
    let count = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            path,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {count}: {path} in body should have at least {min} items"),
        ));
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    causes.push(Cause::new(
                        "FieldValueDuplicate",
                        format!("{path}[{i}]"),
                        format!("Duplicate value: {}", shown(item)),
                    ));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key_of = |item: &Value| {
                keys.iter()
                    .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                    .collect::<Vec<_>>()
            };
            for (i, item) in items.iter().enumerate() {
                let key = key_of(item);
                if items[..i].iter().any(|other| key_of(other) == key) {
                    let shown_key: Vec<String> = keys
                        .iter()
                        .zip(&key)
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    causes.push(Cause::new(
                        "FieldValueDuplicate",
                        format!("{path}[{i}]"),
                        format!(
                            "Duplicate value: map[string]interface {{}}{{{}}}",
                            shown_key.join(", ")
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
}

fn cached_regex(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = lock(cache);
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

fn validate_string(schema: &Value, text: &str, path: &str, causes: &mut Vec<Cause>) {
    let chars = text.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && chars > max
    {
        causes.push(Cause::new(
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && chars < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {text:?}: {path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matches = cached_regex(pattern).is_some_and(|re| re.is_match(text));
        if !matches {
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!("Invalid value: {text:?}: {path} in body should match '{pattern}'"),
            ));
        }
    }
    let format_ok = match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok() && text.len() == 36,
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        Some("byte") => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_ok()
        }
        _ => true,
    };
    if !format_ok {
        let format = schema["format"].as_str().unwrap_or_default();
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {text:?}: {path} in body must be of type {format}: {text:?}"),
        ));
    }
}

fn validate_number(
    schema: &Value,
    number: &serde_json::Number,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let Some(value) = number.as_f64() else { return };
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    let exclusive = |key: &str| schema.get(key) == Some(&Value::Bool(true));
    if let Some(min) = bound("minimum") {
        let below = if exclusive("exclusiveMinimum") {
            value <= min
        } else {
            value < min
        };
        if below {
            let relation = if exclusive("exclusiveMinimum") {
                "greater than"
            } else {
                "greater than or equal to"
            };
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!("Invalid value: {number}: {path} in body should be {relation} {min}"),
            ));
        }
    }
    if let Some(max) = bound("maximum") {
        let above = if exclusive("exclusiveMaximum") {
            value >= max
        } else {
            value > max
        };
        if above {
            let relation = if exclusive("exclusiveMaximum") {
                "less than"
            } else {
                "less than or equal to"
            };
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!("Invalid value: {number}: {path} in body should be {relation} {max}"),
            ));
        }
    }
    if let Some(step) = bound("multipleOf")
        && step > 0.0
        && (value / step).fract().abs() > f64::EPSILON
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {number}: {path} in body should be a multiple of {step}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                        "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                        "count": {"type": "integer", "minimum": 1, "maximum": 3},
                        "note": {"type": "string", "nullable": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "items": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                        "nested": {"type": "object", "default": {}, "properties": {"inner": {"type": "integer", "default": 7}}}
                    }
                }
            }
        })
    }

    #[test]
    fn prunes_drops_nulls_and_defaults() {
        let mut object = json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "bogus": 1},
            "spec": {"name": "abc", "count": null, "note": null, "unknown": 1, "free": {"anything": [1]}},
            "extra": true
        });
        let pruned = normalize(&schema(), &mut object);
        assert_eq!(pruned, ["metadata.bogus", "extra", "spec.unknown"]);
        assert_eq!(
            object["spec"],
            json!({"name": "abc", "note": null, "free": {"anything": [1]}, "mode": "A", "nested": {"inner": 7}})
        );
        assert!(validate(&schema(), &object).is_empty());
    }

    #[test]
    fn every_constraint_names_its_field() {
        let object = json!({"spec": {"name": "TOOLONG", "mode": "C", "count": 9, "labels": {"a": 1}, "items": ["x", "x", "y"]}});
        let causes = validate(&schema(), &object);
        let seen: Vec<(&str, &str)> = causes
            .iter()
            .map(|c| (c.reason, c.field.as_str()))
            .collect();
        assert!(
            seen.contains(&("FieldValueTooLong", "spec.name")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("FieldValueInvalid", "spec.name")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("FieldValueNotSupported", "spec.mode")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("FieldValueInvalid", "spec.count")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("FieldValueTypeInvalid", "spec.labels.a")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("FieldValueTooMany", "spec.items")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("FieldValueDuplicate", "spec.items[1]")),
            "{seen:?}"
        );
        let missing = validate(&schema(), &json!({"spec": {}}));
        assert_eq!(missing[0].field, "spec.name");
        assert_eq!(missing[0].message, "Required value");
    }
}
