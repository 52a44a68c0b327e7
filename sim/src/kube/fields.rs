//! Managed fields and server-side apply, as structured-merge-diff defines them for the
//! fields in play here: objects and maps are granular, lists are atomic unless the
//! schema says `x-kubernetes-list-type: map` (merged by their keys) or `set`, and
//! `metadata.finalizers` is a set.
//!
//! Field sets use the `FieldsV1` JSON form: `{"f:spec": {"f:replicas": {}}}`, with
//! `k:{"type":"Ready"}` for list-map entries, `v:"x"` for set members, and `.` marking
//! an entry owned as a whole.

use serde_json::{Map, Value, json};

/// A set of fields in `FieldsV1` form.
pub type FieldSet = Map<String, Value>;

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// The schema around a value, when there is one.
#[derive(Clone, Copy, Debug)]
pub struct Schema<'a>(pub Option<&'a Value>);

impl<'a> Schema<'a> {
    fn field(self, key: &str, path: &[String]) -> Schema<'a> {
        let Some(schema) = self.0 else {
            return Schema(None);
        };
        Schema(
            schema
                .get("properties")
                .and_then(|p| p.get(key))
                .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
                .or_else(|| (path.is_empty() && key == "metadata").then_some(&Value::Null)),
        )
    }

    fn items(self) -> Schema<'a> {
        Schema(self.0.and_then(|s| s.get("items")))
    }

    fn list_type(self, path: &[String]) -> ListType {
        if path == ["f:metadata", "f:finalizers"] {
            return ListType::Set;
        }
        if path == ["f:metadata", "f:ownerReferences"] {
            return ListType::Map(vec!["uid".to_owned()]);
        }
        let Some(schema) = self.0 else {
            return ListType::Atomic;
        };
        match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    fn atomic_map(self) -> bool {
        self.0
            .and_then(|s| s.get("x-kubernetes-map-type"))
            .and_then(Value::as_str)
            == Some("atomic")
    }
}

/// Which top-level parts of an object a write manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The main resource: everything but `status` (when status is a subresource).
    Main {
        /// Whether `status` is left out.
        without_status: bool,
    },
    /// The status subresource: `status` only.
    Status,
}

fn in_scope(scope: Scope, key: &str) -> bool {
    match (scope, key) {
        (_, "apiVersion" | "kind") => false,
        (Scope::Status, key) => key == "status",
        (Scope::Main { without_status }, "status") => !without_status,
        (Scope::Main { .. }, _) => true,
    }
}

/// The metadata fields that are managed.
const MANAGED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

fn key_element(item: &Value, keys: &[String]) -> String {
    let mut key = Map::new();
    for k in keys {
        key.insert(k.clone(), item.get(k).cloned().unwrap_or(Value::Null));
    }
    format!("k:{}", Value::Object(key))
}

/// The fields `value` sets: what an applied configuration claims.
pub fn fields_of(object: &Value, schema: Schema<'_>, scope: Scope) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(map) = object.as_object() else {
        return set;
    };
    for (key, value) in map {
        if !in_scope(scope, key) {
            continue;
        }
        let path = vec![format!("f:{key}")];
        if key == "metadata" {
            let mut meta = FieldSet::new();
            if let Some(fields) = value.as_object() {
                for (mk, mv) in fields
                    .iter()
                    .filter(|(k, _)| MANAGED_METADATA.contains(&k.as_str()))
                {
                    let mpath = vec!["f:metadata".to_owned(), format!("f:{mk}")];
                    meta.insert(
                        format!("f:{mk}"),
                        Value::Object(value_fields(mv, Schema(None), &mpath)),
                    );
                }
            }
            if !meta.is_empty() {
                set.insert("f:metadata".to_owned(), Value::Object(meta));
            }
            continue;
        }
        set.insert(
            path[0].clone(),
            Value::Object(value_fields(value, schema.field(key, &[]), &path)),
        );
    }
    set
}

fn value_fields(value: &Value, schema: Schema<'_>, path: &[String]) -> FieldSet {
    let mut set = FieldSet::new();
    match value {
        Value::Object(map) if !schema.atomic_map() => {
            for (key, child) in map {
                let mut child_path = path.to_vec();
                child_path.push(format!("f:{key}"));
                set.insert(
                    format!("f:{key}"),
                    Value::Object(value_fields(child, schema.field(key, path), &child_path)),
                );
            }
        }
        Value::Array(items) => match schema.list_type(path) {
            ListType::Atomic => {}
            ListType::Set => {
                for item in items {
                    set.insert(format!("v:{item}"), json!({}));
                }
            }
            ListType::Map(keys) => {
                for item in items {
                    let element = key_element(item, &keys);
                    let mut child_path = path.to_vec();
                    child_path.push(element.clone());
                    let mut child = value_fields(item, schema.items(), &child_path);
                    child.insert(".".to_owned(), json!({}));
                    set.insert(element, Value::Object(child));
                }
            }
        },
        _ => {}
    }
    set
}

/// The leaves of a set, each as its path of elements.
pub fn leaves(set: &FieldSet) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    collect_leaves(set, &mut Vec::new(), &mut out);
    out
}

fn collect_leaves(set: &FieldSet, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (key, child) in set {
        if key == "." {
            out.push(path.clone());
            continue;
        }
        path.push(key.clone());
        match child.as_object() {
            Some(children) if !children.is_empty() => collect_leaves(children, path, out),
            _ => out.push(path.clone()),
        }
        path.pop();
    }
}

/// Whether `set` holds the leaf `path`.
pub fn contains(set: &FieldSet, path: &[String]) -> bool {
    let mut node = set;
    for (i, element) in path.iter().enumerate() {
        let Some(child) = node.get(element).and_then(Value::as_object) else {
            return false;
        };
        if i + 1 == path.len() {
            return child.is_empty() || child.contains_key(".");
        }
        node = child;
    }
    false
}

/// `a ∪ b`.
pub fn union(a: &FieldSet, b: &FieldSet) -> FieldSet {
    let mut out = a.clone();
    for (key, child) in b {
        match (out.get(key).and_then(Value::as_object), child.as_object()) {
            (Some(existing), Some(incoming)) => {
                let merged = union(existing, incoming);
                out.insert(key.clone(), Value::Object(merged));
            }
            _ => {
                out.insert(key.clone(), child.clone());
            }
        }
    }
    out
}

/// `a` without the leaves of `b`.
pub fn difference(a: &FieldSet, b: &FieldSet) -> FieldSet {
    let mut out = a.clone();
    for leaf in leaves(b) {
        remove_leaf(&mut out, &leaf);
    }
    out
}

fn remove_leaf(set: &mut FieldSet, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        set.remove(".");
        return;
    };
    let Some(child) = set.get_mut(first).and_then(Value::as_object_mut) else {
        return;
    };
    if rest.is_empty() {
        if child.is_empty() {
            set.remove(first);
        } else {
            child.remove(".");
            if child.is_empty() {
                set.remove(first);
            }
        }
        return;
    }
    remove_leaf(child, rest);
    if child.is_empty() {
        set.remove(first);
    }
}

/// The leaves `a` and `b` share.
pub fn shared_leaves(a: &FieldSet, b: &FieldSet) -> Vec<Vec<String>> {
    leaves(a)
        .into_iter()
        .filter(|leaf| contains(b, leaf))
        .collect()
}

/// A leaf written as apply conflicts show it: `.spec.replicas`,
/// `.status.conditions[type="Ready"].status`.
pub fn display(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let pairs: Vec<String> = serde_json::from_str::<Map<String, Value>>(key)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!("[{}]", pairs.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

/// The value at a leaf, if the object has it.
pub fn value_at<'v>(object: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut node = object;
    for element in path {
        node = step(node, element)?;
    }
    Some(node)
}

fn step<'v>(node: &'v Value, element: &str) -> Option<&'v Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return node.get(name);
    }
    let items = node.as_array()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items.iter().find(|item| {
            key.iter()
                .all(|(k, v)| item.get(k).unwrap_or(&Value::Null) == v)
        });
    }
    if let Some(value) = element.strip_prefix("v:") {
        let value: Value = serde_json::from_str(value).ok()?;
        return items.iter().find(|item| **item == value);
    }
    None
}

/// Removes the field at a leaf from an object.
pub fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = object;
    for element in parents {
        let next = match element.strip_prefix("f:") {
            Some(name) => node.get_mut(name),
            None => {
                let index = node.as_array().and_then(|items| {
                    let target = step(&Value::Array(items.clone()), element)?.clone();
                    items.iter().position(|item| *item == target)
                });
                match index {
                    Some(i) => node.get_mut(i),
                    None => None,
                }
            }
        };
        let Some(next) = next else {
            return;
        };
        node = next;
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(map) = node.as_object_mut() {
            map.remove(name);
        }
    } else if let Some(items) = node.as_array_mut() {
        let snapshot = Value::Array(items.clone());
        if let Some(target) = step(&snapshot, last).cloned() {
            items.retain(|item| *item != target);
        }
    }
}

/// Merges an applied configuration into a live object.
pub fn merge(live: &mut Value, applied: &Value, schema: Schema<'_>, scope: Scope) {
    let (Some(live_map), Some(applied_map)) = (live.as_object_mut(), applied.as_object()) else {
        return;
    };
    for (key, value) in applied_map {
        if !in_scope(scope, key) {
            continue;
        }
        if key == "metadata" {
            let live_meta = live_map.entry("metadata").or_insert_with(|| json!({}));
            if let Some(fields) = value.as_object() {
                for (mk, mv) in fields
                    .iter()
                    .filter(|(k, _)| MANAGED_METADATA.contains(&k.as_str()))
                {
                    let path = vec!["f:metadata".to_owned(), format!("f:{mk}")];
                    let slot = live_meta
                        .as_object_mut()
                        .map(|m| m.entry(mk.clone()).or_insert(Value::Null));
                    if let Some(slot) = slot {
                        merge_value(slot, mv, Schema(None), &path);
                    }
                }
            }
            continue;
        }
        let path = vec![format!("f:{key}")];
        let slot = live_map.entry(key.clone()).or_insert(Value::Null);
        merge_value(slot, value, schema.field(key, &[]), &path);
    }
}

fn merge_value(live: &mut Value, applied: &Value, schema: Schema<'_>, path: &[String]) {
    match applied {
        Value::Object(applied_map) if !schema.atomic_map() => {
            if !live.is_object() {
                *live = json!({});
            }
            if let Some(live_map) = live.as_object_mut() {
                for (key, value) in applied_map {
                    let mut child_path = path.to_vec();
                    child_path.push(format!("f:{key}"));
                    let slot = live_map.entry(key.clone()).or_insert(Value::Null);
                    merge_value(slot, value, schema.field(key, path), &child_path);
                }
            }
        }
        Value::Array(applied_items) => match schema.list_type(path) {
            ListType::Atomic => *live = applied.clone(),
            ListType::Set => {
                let mut items = live.as_array().cloned().unwrap_or_default();
                for item in applied_items {
                    if !items.contains(item) {
                        items.push(item.clone());
                    }
                }
                *live = Value::Array(items);
            }
            ListType::Map(keys) => {
                let mut items = live.as_array().cloned().unwrap_or_default();
                for item in applied_items {
                    let element = key_element(item, &keys);
                    let mut child_path = path.to_vec();
                    child_path.push(element.clone());
                    let position = items
                        .iter()
                        .position(|existing| key_element(existing, &keys) == element);
                    match position {
                        Some(i) => merge_value(&mut items[i], item, schema.items(), &child_path),
                        None => items.push(item.clone()),
                    }
                }
                *live = Value::Array(items);
            }
        },
        _ => *live = applied.clone(),
    }
}

/// The fields that differ between two versions of an object: set or changed in `new`
/// (`changed`), or present in `old` and gone from `new` (`removed`).
pub fn changes(old: &Value, new: &Value, schema: Schema<'_>, scope: Scope) -> (FieldSet, FieldSet) {
    let old_fields = fields_of(old, schema, scope);
    let new_fields = fields_of(new, schema, scope);
    let mut changed = FieldSet::new();
    for leaf in leaves(&new_fields) {
        if value_at(old, &leaf) != value_at(new, &leaf) || !contains(&old_fields, &leaf) {
            add_leaf(&mut changed, &leaf);
        }
    }
    // A map or merged list the write created is owned as a whole too, which FieldsV1
    // writes as `.` (`metadata` itself always exists and never is).
    for node in nodes(&new_fields) {
        let created = node != ["f:metadata"]
            && value_at(old, &node).is_none()
            && value_at(new, &node).is_some_and(|v| v.is_object() || v.is_array());
        if created {
            add_node(&mut changed, &node);
        }
    }
    let removed = difference(&old_fields, &new_fields);
    (changed, removed)
}

/// The paths of a set's inner nodes (those with children), outermost first.
fn nodes(set: &FieldSet) -> Vec<Vec<String>> {
    fn walk(set: &FieldSet, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (key, child) in set {
            if let Some(children) = child.as_object().filter(|c| !c.is_empty())
                && key != "."
            {
                path.push(key.clone());
                out.push(path.clone());
                walk(children, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(set, &mut Vec::new(), &mut out);
    out
}

fn add_node(set: &mut FieldSet, path: &[String]) {
    let mut node = set;
    for element in path {
        let child = node.entry(element.clone()).or_insert_with(|| json!({}));
        let Some(child) = child.as_object_mut() else {
            return;
        };
        node = child;
    }
    node.insert(".".to_owned(), json!({}));
}

fn add_leaf(set: &mut FieldSet, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let child = set.entry(first.clone()).or_insert_with(|| json!({}));
    if let Some(child) = child.as_object_mut() {
        if rest.is_empty() {
            if first.starts_with("k:") {
                child.insert(".".to_owned(), json!({}));
            }
        } else {
            add_leaf(child, rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "list": {"type": "array", "items": {"type": "string"}}}},
            "status": {"type": "object", "properties": {"conditions": {
                "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}}}}})
    }

    #[test]
    fn field_sets_follow_list_types() {
        let schema = status_schema();
        let object = json!({"apiVersion": "x", "kind": "X", "metadata": {"name": "n", "labels": {"a": "1"}, "finalizers": ["f"]},
                            "spec": {"a": "1", "list": ["x", "y"]},
                            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let set = fields_of(
            &object,
            Schema(Some(&schema)),
            Scope::Main {
                without_status: false,
            },
        );
        assert_eq!(
            Value::Object(set),
            json!({
                "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"f\"": {}}},
                "f:spec": {"f:a": {}, "f:list": {}},
                "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}
            })
        );
        let status_only = fields_of(&object, Schema(Some(&schema)), Scope::Status);
        assert_eq!(status_only.keys().collect::<Vec<_>>(), ["f:status"]);
    }

    #[test]
    fn list_maps_merge_by_key_and_atomic_lists_replace() {
        let schema = status_schema();
        let mut live = json!({"spec": {"a": "1", "list": ["x"]}, "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}]}});
        let applied = json!({"spec": {"list": ["z"]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        merge(
            &mut live,
            &applied,
            Schema(Some(&schema)),
            Scope::Main {
                without_status: false,
            },
        );
        assert_eq!(
            live,
            json!({"spec": {"a": "1", "list": ["z"]}, "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}]}})
        );
    }

    #[test]
    fn sets_remove_and_display_leaves() {
        let a = json!({"f:spec": {"f:a": {}, "f:b": {}}})
            .as_object()
            .cloned()
            .unwrap();
        let b = json!({"f:spec": {"f:b": {}}}).as_object().cloned().unwrap();
        assert_eq!(
            Value::Object(difference(&a, &b)),
            json!({"f:spec": {"f:a": {}}})
        );
        assert_eq!(
            shared_leaves(&a, &b),
            vec![vec!["f:spec".to_owned(), "f:b".to_owned()]]
        );
        let key = vec![
            "f:status".to_owned(),
            "f:conditions".to_owned(),
            "k:{\"type\":\"Ready\"}".to_owned(),
            "f:status".to_owned(),
        ];
        assert_eq!(display(&key), ".status.conditions[type=\"Ready\"].status");
        let mut object = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(value_at(&object, &key), Some(&json!("True")));
        remove_at(&mut object, &key[..3]);
        assert_eq!(object, json!({"status": {"conditions": []}}));
    }

    #[test]
    fn changes_name_what_an_update_touched() {
        let schema = status_schema();
        let old = json!({"spec": {"a": "1", "b": "2"}});
        let new = json!({"spec": {"a": "9", "list": ["x"]}});
        let (changed, removed) = changes(
            &old,
            &new,
            Schema(Some(&schema)),
            Scope::Main {
                without_status: true,
            },
        );
        assert_eq!(
            Value::Object(changed),
            json!({"f:spec": {"f:a": {}, "f:list": {}}})
        );
        assert_eq!(Value::Object(removed), json!({"f:spec": {"f:b": {}}}));
    }
}
