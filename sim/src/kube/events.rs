//! Events: one store seen through two versions. Objects are stored in the core `v1`
//! form; `events.k8s.io/v1` reads and writes them with the fields renamed, as the real
//! server converts between the two. Validation follows the version of the request:
//! `events.k8s.io/v1` writes need the newer, stricter fields.

use serde_json::{Map, Value, json};

use super::cause::Cause;

/// `events.k8s.io/v1` field → core `v1` field. Every other field has the same name.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(object: &Value, from_v1: bool) -> Value {
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let renamed = RENAMED
            .iter()
            .find(|(v1, core)| if from_v1 { v1 == key } else { core == key })
            .map(|(v1, core)| if from_v1 { *core } else { *v1 });
        out.insert(renamed.unwrap_or(key).to_owned(), value.clone());
    }
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event (or part of one, as an apply configuration or a merge
/// patch) in the stored core form.
pub fn to_core(object: &Value) -> Value {
    rename(object, true)
}

/// A stored core Event with the `events.k8s.io/v1` field names.
pub fn to_v1(object: &Value) -> Value {
    rename(object, false)
}

/// A stored core Event as `events.k8s.io/v1` shows it, with the fields the real server
/// always writes.
pub fn v1_view(object: &Value) -> Value {
    to_v1(&with_written_fields(object))
}

/// The fields the real server writes on every Event, set or not: the source and the
/// three times.
fn with_written_fields(object: &Value) -> Value {
    let mut event = object.clone();
    if event.get("source").is_none() {
        event["source"] = json!({});
    }
    for key in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        if event.get(key).is_none() {
            event[key] = Value::Null;
        }
    }
    event
}

/// A stored core Event as core `v1` shows it: the fields the real server always writes.
pub fn core_view(object: &Value) -> Value {
    let mut event = with_written_fields(object);
    if event.get("reportingComponent").is_none() {
        event["reportingComponent"] = json!("");
    }
    if event.get("reportingInstance").is_none() {
        event["reportingInstance"] = json!("");
    }
    event
}

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn is_set(event: &Value, key: &str) -> bool {
    event.get(key).is_some_and(|v| !v.is_null())
}

/// Why an Event (in the core form) is invalid, by the real server's rules: the legacy
/// rules for every write (an Event with `eventTime` must name its reporter, action and
/// reason; one without must agree with its object's namespace), and for writes through
/// `events.k8s.io/v1` (`v1_request`) the newer ones.
pub fn validate(event: &Value, old: Option<&Value>, v1_request: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let namespace = event["metadata"]["namespace"].as_str().unwrap_or_default();
    let involved = event["involvedObject"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let mismatch = |involved: &str| {
        Cause::new(
            "FieldValueInvalid",
            "involvedObject.namespace",
            format!("Invalid value: {involved:?}: does not match event.namespace"),
        )
    };
    if !is_set(event, "eventTime") {
        let agrees = if involved.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved
        };
        if !agrees {
            causes.push(mismatch(involved));
        }
    } else {
        if involved.is_empty() && namespace != "default" && namespace != "kube-system" {
            causes.push(mismatch(involved));
        }
        let controller = if v1_request {
            "reportingController"
        } else {
            "reportingComponent"
        };
        for (field, value) in [
            (controller, text(event, "reportingComponent")),
            ("reportingInstance", text(event, "reportingInstance")),
            ("action", text(event, "action")),
            ("reason", text(event, "reason")),
        ] {
            if value.is_empty() {
                causes.push(Cause::new("FieldValueRequired", field, "Required value"));
            }
        }
        if text(event, "message").len() > 1024 {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "note",
                "Invalid value: \"\": can have at most 1024 characters",
            ));
        }
    }
    if !v1_request {
        return causes;
    }
    if !is_set(event, "eventTime") {
        causes.push(Cause::new(
            "FieldValueRequired",
            "eventTime",
            "Required value",
        ));
    }
    let kind = text(event, "type");
    if kind != "Normal" && kind != "Warning" {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "type",
            format!("Invalid value: \"\": has invalid value: {kind}"),
        ));
    }
    for (field, core) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
    ] {
        if is_set(event, core) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                field,
                "Invalid value: \"\": needs to be unset",
            ));
        }
    }
    if event["count"].as_i64().is_some_and(|c| c != 0) {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "deprecatedCount",
            "Invalid value: \"\": needs to be unset",
        ));
    }
    let source = &event["source"];
    if !text(source, "component").is_empty() || !text(source, "host").is_empty() {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "deprecatedSource",
            "Invalid value: \"\": needs to be unset",
        ));
    }
    // Through `events.k8s.io/v1`, only the series and metadata of an Event may change.
    if let Some(old) = old {
        for field in [
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ] {
            if event.get(field) != old.get(field) {
                let value = event.get(field).cloned().unwrap_or(Value::Null);
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    field,
                    format!("Invalid value: {value}: field is immutable"),
                ));
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_forms_convert_both_ways() {
        let v1 = json!({"regarding": {"name": "bot"}, "note": "hi", "reportingController": "c", "reason": "R"});
        let core = to_core(&v1);
        assert_eq!(
            core,
            json!({"involvedObject": {"name": "bot"}, "message": "hi", "reportingComponent": "c", "reason": "R"})
        );
        assert_eq!(to_v1(&core), v1);
        assert_eq!(v1_view(&core)["eventTime"], Value::Null);
        assert_eq!(core_view(&core)["source"], json!({}));
    }

    fn fields(causes: Vec<Cause>) -> Vec<String> {
        causes.into_iter().map(|c| c.field).collect()
    }

    #[test]
    fn v1_writes_need_the_newer_fields() {
        let event = json!({"metadata": {"namespace": "ns"}, "involvedObject": {"namespace": "ns"}, "reason": "R", "type": "Normal"});
        assert!(validate(&event, None, false).is_empty());
        assert_eq!(fields(validate(&event, None, true)), ["eventTime"]);
        let mut timed = event.clone();
        timed["eventTime"] = json!("2026-11-30T21:00:00.000000Z");
        assert_eq!(
            fields(validate(&timed, None, true)),
            ["reportingController", "reportingInstance", "action"]
        );
        assert_eq!(
            fields(validate(&timed, None, false)),
            ["reportingComponent", "reportingInstance", "action"]
        );
        let elsewhere =
            json!({"metadata": {"namespace": "ns"}, "involvedObject": {"namespace": "other"}});
        assert_eq!(
            fields(validate(&elsewhere, None, false)),
            ["involvedObject.namespace"]
        );
        let mut complete = timed.clone();
        complete["reportingComponent"] = json!("c");
        complete["reportingInstance"] = json!("i");
        complete["action"] = json!("A");
        let mut renoted = complete.clone();
        renoted["message"] = json!("changed");
        renoted["series"] = json!({"count": 2});
        assert_eq!(
            fields(validate(&renoted, Some(&complete), true)),
            ["message"]
        );
        assert!(validate(&renoted, Some(&complete), false).is_empty());
    }
}
