//! What the real server checks and completes on every object's metadata and on the
//! built-in types FasterClaw uses (Secrets, Leases, Namespaces, Events): the decoding
//! errors it answers with 400, the validation it answers with 422 Invalid, and the
//! fields it fills in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::cause::Cause;
use super::events;
use super::resources::ResourceType;
use super::status::ApiError;

/// Why `object` cannot be decoded as an object with standard metadata, in the words of
/// the real server's JSON decoder; `None` when it can. Nothing may index into an object
/// before this has passed.
pub fn shape_error(object: &Value) -> Option<String> {
    let Some(map) = object.as_object() else {
        return Some(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_type(object)
        ));
    };
    let metadata = map.get("metadata")?;
    let Some(metadata) = metadata.as_object() else {
        return Some(format!(
            "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
            json_type(metadata)
        ));
    };
    let expect = |field: &str, ok: fn(&Value) -> bool, go_type: &str| {
        metadata
            .get(field)
            .filter(|v| !v.is_null() && !ok(v))
            .map(|v| {
                format!(
                    "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type {go_type}",
                    json_type(v)
                )
            })
    };
    let string_map = |v: &Value| {
        v.as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    };
    let string_list = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let object_list = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_object));
    [
        "name",
        "generateName",
        "namespace",
        "resourceVersion",
        "uid",
    ]
    .iter()
    .find_map(|field| expect(field, Value::is_string, "string"))
    .or_else(|| expect("labels", string_map, "map[string]string"))
    .or_else(|| expect("annotations", string_map, "map[string]string"))
    .or_else(|| expect("finalizers", string_list, "[]string"))
    .or_else(|| expect("ownerReferences", object_list, "[]v1.OwnerReference"))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A decoding error of a built-in type, answered 400 as the real server does: Secret
/// data that is not base64, times that are not `MicroTime`s.
pub fn decode_error(resource: &ResourceType, object: &Value) -> Option<ApiError> {
    let cannot = |why: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}",
            kind = resource.kind,
            version = resource.version
        ))
    };
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Secret") => object["data"].as_object().and_then(|data| {
            data.values().find_map(|value| match value {
                Value::String(text) => STANDARD.decode(text).err().map(|e| match e {
                    base64::DecodeError::InvalidByte(at, _)
                    | base64::DecodeError::InvalidLastSymbol(at, _) => {
                        cannot(format!("illegal base64 data at input byte {at}"))
                    }
                    _ => cannot(format!("illegal base64 data at input byte {}", text.len())),
                }),
                other => Some(cannot(format!(
                    "json: cannot unmarshal {} into Go struct field Secret.data of type []uint8",
                    json_type(other)
                ))),
            })
        }),
        ("coordination.k8s.io", "Lease") => ["acquireTime", "renewTime"]
            .iter()
            .find_map(|field| micro_time_error(&object["spec"][field]))
            .map(cannot),
        (_, "Event") => ["eventTime"]
            .iter()
            .map(|field| &object[field])
            .chain([&object["series"]["lastObservedTime"]])
            .find_map(micro_time_error)
            .map(cannot),
        _ => None,
    }
}

/// A `MicroTime` is RFC 3339 with exactly six fractional digits; the error is worded
/// as Go's time parser words it.
fn micro_time_error(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let layout = "2006-01-02T15:04:05.000000Z07:00";
    let parsed = chrono::DateTime::parse_from_rfc3339(text).is_ok();
    let fraction = text.get(19..).filter(|_| parsed).map(|tail| {
        (
            tail,
            tail.strip_prefix('.')
                .map(|f| f.chars().take_while(char::is_ascii_digit).count()),
        )
    });
    let why = match fraction {
        Some((_, Some(6))) => return None,
        Some((tail, _)) => format!("cannot parse {tail:?} as \".000000\""),
        None => format!("cannot parse {text:?} as \"2006\""),
    };
    Some(format!("parsing time {text:?} as {layout:?}: {why}"))
}

const CONFIG_KEY: &str = "[-._a-zA-Z0-9]+";

fn int(value: &Value) -> Option<i64> {
    value.as_i64()
}

/// Why an object of a built-in type, or any object's metadata, is invalid (422).
/// `old` is the stored object on updates; `v1_events` says the request came through
/// `events.k8s.io/v1`.
pub fn causes(
    resource: &ResourceType,
    object: &Value,
    old: Option<&Value>,
    v1_events: bool,
) -> Vec<Cause> {
    let mut causes = owner_reference_causes(object);
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Secret") => causes.extend(secret_causes(object, old)),
        ("coordination.k8s.io", "Lease") => {
            let spec = &object["spec"];
            if let Some(duration) = int(&spec["leaseDurationSeconds"])
                && duration <= 0
            {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.leaseDurationSeconds",
                    format!("Invalid value: {duration}: must be greater than 0"),
                ));
            }
            if let Some(transitions) = int(&spec["leaseTransitions"])
                && transitions < 0
            {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.leaseTransitions",
                    format!("Invalid value: {transitions}: must be greater than or equal to 0"),
                ));
            }
        }
        (_, "Event") => causes.extend(events::validate(object, old, v1_events)),
        _ => {}
    }
    causes
}

fn owner_reference_causes(object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for reference in object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for (field, what) in [
            ("apiVersion", "version"),
            ("kind", "kind"),
            ("name", "name"),
            ("uid", "uid"),
        ] {
            if reference[field].as_str().is_none_or(str::is_empty) {
                let message = if field == "uid" {
                    "Invalid value: \"\": must not be empty".to_owned()
                } else {
                    format!("Invalid value: \"\": {what} must not be empty")
                };
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    format!("metadata.ownerReferences.{field}"),
                    message,
                ));
            }
        }
    }
    causes
}

fn secret_causes(secret: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let key_pattern = regex::Regex::new(&format!("^{CONFIG_KEY}$")).ok();
    for key in secret["data"].as_object().into_iter().flat_map(Map::keys) {
        let valid = key.len() <= 253 && key_pattern.as_ref().is_some_and(|re| re.is_match(key));
        if !valid {
            causes.push(Cause::new(
                "FieldValueInvalid",
                format!("data[{key}]"),
                format!(
                    "Invalid value: {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '{CONFIG_KEY}')"
                ),
            ));
        }
    }
    let Some(old) = old else {
        return causes;
    };
    if secret["type"] != old["type"] {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "type",
            format!(
                "Invalid value: {}: field is immutable",
                secret["type"]
                    .as_str()
                    .map_or_else(String::new, |t| format!("{t:?}"))
            ),
        ));
    }
    if old["immutable"] == json!(true) {
        if secret["immutable"] != json!(true) {
            causes.push(Cause::new(
                "FieldValueForbidden",
                "immutable",
                "Forbidden: field is immutable when `immutable` is set",
            ));
        }
        if secret["data"] != old["data"] {
            causes.push(Cause::new(
                "FieldValueForbidden",
                "data",
                "Forbidden: field is immutable when `immutable` is set",
            ));
        }
    }
    causes
}

/// Fills in what the server writes on every store of a built-in type, and drops the
/// empty metadata maps and lists the real server does not keep.
pub fn complete(resource: &ResourceType, object: &mut Value) {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let empty = metadata.get(key).is_some_and(|v| {
                v.is_null()
                    || v.as_object().is_some_and(Map::is_empty)
                    || v.as_array().is_some_and(Vec::is_empty)
            });
            if empty {
                metadata.remove(key);
            }
        }
    }
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let names = object
                .get_mut("spec")
                .and_then(|spec| spec.get_mut("names"))
                .and_then(Value::as_object_mut);
            if let Some(names) = names
                && let Some(kind) = names.get("kind").and_then(Value::as_str).map(str::to_owned)
            {
                if names.get("listKind").is_none_or(Value::is_null) {
                    names.insert("listKind".to_owned(), json!(format!("{kind}List")));
                }
                if names.get("singular").is_none_or(Value::is_null) {
                    names.insert("singular".to_owned(), json!(kind.to_lowercase()));
                }
            }
        }
        ("", "Namespace") => {
            let name = object["metadata"]["name"].clone();
            object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        ("", "Secret") => {
            if let Some(string_data) = object.get("stringData").and_then(Value::as_object).cloned()
            {
                let mut data = object["data"].as_object().cloned().unwrap_or_default();
                for (key, value) in string_data {
                    data.insert(
                        key,
                        json!(STANDARD.encode(value.as_str().unwrap_or_default())),
                    );
                }
                object["data"] = Value::Object(data);
                if let Some(map) = object.as_object_mut() {
                    map.remove("stringData");
                }
            }
            if object.get("type").is_none_or(Value::is_null) {
                object["type"] = json!("Opaque");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_the_decoder_refuses() {
        assert!(shape_error(&json!({"metadata": {"name": "a", "labels": {"x": "y"}}})).is_none());
        assert_eq!(
            shape_error(&json!([1, 2])).as_deref(),
            Some("json: cannot unmarshal array into Go value of type map[string]interface {}")
        );
        assert_eq!(
            shape_error(&json!({"metadata": "oops"})).as_deref(),
            Some("json: cannot unmarshal string into Go value of type v1.ObjectMeta")
        );
        assert!(shape_error(&json!({"metadata": {"labels": {"x": 1}}})).is_some());
        assert!(shape_error(&json!({"metadata": {"finalizers": "x"}})).is_some());
    }

    #[test]
    fn micro_times_need_six_fractional_digits() {
        assert!(micro_time_error(&json!("2026-11-30T21:00:00.123456Z")).is_none());
        assert!(micro_time_error(&json!("2026-11-30T21:00:00.123456+01:00")).is_none());
        assert!(micro_time_error(&json!("2026-11-30T21:00:00.123Z")).is_some());
        assert!(micro_time_error(&json!("2026-11-30T21:00:00Z")).is_some());
        assert!(micro_time_error(&json!("garbage")).is_some());
        assert!(micro_time_error(&Value::Null).is_none());
    }
}
