//! What writes do to objects, with the API server's semantics: metadata the server owns,
//! resourceVersion preconditions, the status subresource, `generation`, validation
//! against the schema and its CEL rules, managed fields and server-side apply,
//! finalizers, and the special behaviour of CustomResourceDefinitions, Namespaces and
//! Secrets.

use std::collections::BTreeSet;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::builtins;
use super::cause::Cause;
use super::fields::{self, FieldSet, Schema, Scope};
use super::resources::{self, ResourceType};
use super::schema;
use super::status::ApiError;
use super::store::Store;

/// `fieldValidation`: what to do with fields a schema does not declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them, with a warning.
    Warn,
    /// Refuse the request.
    Strict,
}

/// Who writes, and how.
#[derive(Clone, Debug)]
pub struct Writer {
    /// The field manager.
    pub manager: String,
    /// `Some("status")` for writes to the status subresource.
    pub subresource: Option<String>,
    /// Unknown-field handling.
    pub field_validation: FieldValidation,
    /// Validate only; store nothing.
    pub dry_run: bool,
    /// The request came through `events.k8s.io/v1`, whose Events are validated by the
    /// newer rules.
    pub v1_events: bool,
}

impl Writer {
    fn scope(&self, resource: &ResourceType) -> Scope {
        if self.subresource.as_deref() == Some("status") {
            Scope::Status
        } else {
            Scope::Main {
                without_status: resource.status_subresource,
            }
        }
    }
}

/// The result of a write: the object and any warnings for the `Warning` header.
#[derive(Clone, Debug)]
pub struct Written {
    /// The object as stored (or, for a dry run, as it would be).
    pub object: Value,
    /// Warnings, such as pruned unknown fields.
    pub warnings: Vec<String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn meta(object: &Value, key: &str) -> Option<String> {
    object["metadata"][key].as_str().map(str::to_owned)
}

fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

fn name_causes(resource: &ResourceType, name: &str) -> Vec<Cause> {
    let (pattern, max, what) = if resource.kind == "Namespace" {
        (
            DNS_LABEL,
            63,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        )
    } else {
        (
            DNS_SUBDOMAIN,
            253,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        )
    };
    let valid = name.len() <= max && regex::Regex::new(pattern).is_ok_and(|re| re.is_match(name));
    if valid {
        Vec::new()
    } else {
        vec![Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: {what}"),
        )]
    }
}

/// The CEL rules of a custom resource's schema, as causes.
fn cel_causes(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let validator = kube_cel::Validator::new();
    match validator.validate(schema, object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| {
                let path = e.field_path.trim_start_matches('.').to_owned();
                let value = path
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .try_fold(object, |node, key| node.get(key));
                let kind = match value {
                    Some(Value::Object(_)) | None => "object",
                    Some(Value::Array(_)) => "array",
                    Some(Value::String(_)) => "string",
                    Some(Value::Bool(_)) => "boolean",
                    Some(Value::Number(_)) => "number",
                    Some(Value::Null) => "null",
                };
                Cause::new(
                    "FieldValueInvalid",
                    path,
                    format!("Invalid value: \"{kind}\": {}", e.message),
                )
            })
            .collect(),
    }
}

/// Whether anything outside `metadata` and `status` differs: a change to the spec.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |o: &Value| -> Map<String, Value> {
        o.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Checks and completes an object about to be stored; `old` is the stored one.
fn admit(
    store: &Store,
    resource: &ResourceType,
    writer: &Writer,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    if let Some(error) = builtins::decode_error(resource, object) {
        return Err(error);
    }
    builtins::complete(resource, object);
    let name = meta(object, "name").unwrap_or_default();
    let mut causes = name_causes(resource, &name);
    let mut warnings = Vec::new();
    if let Some(schema) = &resource.schema {
        let pruned = schema::normalize(schema, object);
        match writer.field_validation {
            FieldValidation::Strict if !pruned.is_empty() => {
                let listed: Vec<String> = pruned
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    ".{}: strict decoding error: {}",
                    resource.kind,
                    listed.join(", ")
                )));
            }
            FieldValidation::Warn => {
                warnings.extend(pruned.iter().map(|p| format!("unknown field \"{p}\"")))
            }
            _ => {}
        }
        let schema_causes = schema::validate(schema, object);
        if schema_causes.is_empty() {
            causes.extend(cel_causes(schema, object, old));
        } else {
            // CEL rules run only over an object the schema accepts, as on the real
            // server, which says that it skipped them.
            causes.extend(schema_causes);
            if schema.to_string().contains("x-kubernetes-validations") {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "<nil>",
                    "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            }
        }
    }
    causes.extend(builtins::causes(resource, object, old, writer.v1_events));
    if resource.kind == "CustomResourceDefinition" {
        match resources::from_crd(object) {
            Err(crd_causes) => causes.extend(crd_causes),
            Ok(types) => {
                let clash = store.types().iter().any(|t| {
                    !t.custom
                        && types
                            .first()
                            .is_some_and(|n| n.group == t.group && n.plural == t.plural)
                });
                if clash {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        "spec.names.plural",
                        "Invalid value: the name is already served",
                    ));
                }
            }
        }
    }
    if let Some(old) = old
        && old["metadata"].get("deletionTimestamp").is_some()
    {
        let before: BTreeSet<String> = finalizers(old).into_iter().collect();
        let added: Vec<String> = finalizers(object)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            causes.push(Cause::new(
                "FieldValueForbidden",
                "metadata.finalizers",
                format!("Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(resource, &name, causes));
    }
    Ok(warnings)
}

/// What the status of a new CustomResourceDefinition or Namespace starts as.
fn initial_status(resource: &ResourceType, object: &mut Value) {
    match resource.kind.as_str() {
        "CustomResourceDefinition" => {
            let storage: Vec<Value> = object["spec"]["versions"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter(|v| v["storage"] == json!(true))
                        .map(|v| v["name"].clone())
                        .collect()
                })
                .unwrap_or_default();
            let at = now();
            object["status"] = json!({
                "acceptedNames": object["spec"]["names"],
                "storedVersions": storage,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": at},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": at},
                ],
            });
        }
        "Namespace" => {
            object["spec"] = json!({ "finalizers": ["kubernetes"] });
            object["status"] = json!({ "phase": "Active" });
        }
        _ => {}
    }
}

fn set_managed(object: &mut Value, entries: Vec<Value>) {
    if entries.is_empty() {
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
    } else {
        object["metadata"]["managedFields"] = Value::Array(entries);
    }
}

fn managed_entries(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry_matches(entry: &Value, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
    entry["manager"] == manager
        && entry["operation"] == operation
        && entry["subresource"].as_str() == subresource
}

fn entry_fields(entry: &Value) -> FieldSet {
    entry["fieldsV1"].as_object().cloned().unwrap_or_default()
}

fn new_entry(
    resource: &ResourceType,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    set: FieldSet,
) -> Value {
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": resource.api_version(),
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": Value::Object(set),
    });
    if let Some(sub) = subresource {
        entry["subresource"] = json!(sub);
    }
    entry
}

/// Managed fields after a non-apply write by `writer`: it owns what it changed, and
/// no one owns what it removed.
fn track_update(resource: &ResourceType, writer: &Writer, old: Option<&Value>, new: &mut Value) {
    let scope = writer.scope(resource);
    let schema = Schema(resource.schema.as_ref());
    let empty = json!({});
    let (changed, removed) = fields::changes(old.unwrap_or(&empty), new, schema, scope);
    let sub = writer.subresource.as_deref();
    let mut entries: Vec<Value> = managed_entries(old.unwrap_or(&empty))
        .into_iter()
        .map(|mut entry| {
            let set = fields::difference(
                &fields::difference(&entry_fields(&entry), &changed),
                &removed,
            );
            entry["fieldsV1"] = Value::Object(set);
            entry
        })
        .collect();
    let position = entries
        .iter()
        .position(|e| entry_matches(e, &writer.manager, "Update", sub));
    let owned = position
        .map(|i| entry_fields(&entries[i]))
        .unwrap_or_default();
    let set = fields::union(&owned, &changed);
    match position {
        Some(i) => {
            entries[i]["fieldsV1"] = Value::Object(set);
            entries[i]["time"] = json!(now());
        }
        None if !set.is_empty() => {
            entries.push(new_entry(resource, &writer.manager, "Update", sub, set))
        }
        None => {}
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    set_managed(new, entries);
}

/// Creates an object. `object` has its name (generated already) and namespace.
pub fn create(
    store: &mut Store,
    resource: &ResourceType,
    writer: &Writer,
    object: Value,
) -> Result<Written, ApiError> {
    create_owned(store, resource, writer, object, None)
}

/// Creates an object; `applied` is the field set of a server-side apply that creates
/// it, which its manager then owns (otherwise the writer owns every field, as an
/// update).
fn create_owned(
    store: &mut Store,
    resource: &ResourceType,
    writer: &Writer,
    mut object: Value,
    applied: Option<FieldSet>,
) -> Result<Written, ApiError> {
    let namespace = meta(&object, "namespace").unwrap_or_default();
    let name = meta(&object, "name").unwrap_or_default();
    if store.get(resource, &namespace, &name).is_some() {
        return Err(ApiError::already_exists(resource, &name));
    }
    if resource.status_subresource
        && resource.custom
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    let metadata = object["metadata"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut fresh = Map::new();
    for (key, value) in metadata {
        if matches!(
            key.as_str(),
            "name"
                | "generateName"
                | "namespace"
                | "labels"
                | "annotations"
                | "finalizers"
                | "ownerReferences"
        ) {
            fresh.insert(key, value);
        }
    }
    if !resource.namespaced {
        fresh.remove("namespace");
    }
    fresh.insert("uid".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
    fresh.insert("creationTimestamp".to_owned(), json!(now()));
    if resource.tracks_generation() {
        fresh.insert("generation".to_owned(), json!(1));
    }
    object["metadata"] = Value::Object(fresh);
    object["apiVersion"] = json!(resource.api_version());
    object["kind"] = json!(resource.kind);
    let warnings = admit(store, resource, writer, &mut object, None)?;
    initial_status(resource, &mut object);
    match applied {
        Some(set) => set_managed(
            &mut object,
            vec![new_entry(
                resource,
                &writer.manager,
                "Apply",
                writer.subresource.as_deref(),
                set,
            )],
        ),
        None => track_update(resource, writer, None, &mut object),
    }
    if writer.dry_run {
        return Ok(Written { object, warnings });
    }
    if resource.kind == "CustomResourceDefinition"
        && let Ok(types) = resources::from_crd(&object)
    {
        store.register(types);
    }
    let stored = store.put(resource, object, None);
    Ok(Written {
        object: stored,
        warnings,
    })
}

/// Replaces an object with `new` (a PUT, or the result of a merge or JSON patch).
/// `require_version` makes a missing `metadata.resourceVersion` an error, as a PUT of a
/// custom resource does.
pub fn update(
    store: &mut Store,
    resource: &ResourceType,
    writer: &Writer,
    old: &Value,
    mut new: Value,
    require_version: bool,
) -> Result<Written, ApiError> {
    let name = meta(old, "name").unwrap_or_default();
    if let Some(given) = meta(&new, "name")
        && given != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(given) = meta(&new, "uid")
        && Some(&given) != meta(old, "uid").as_ref()
    {
        // The uid is a precondition of the write, as the storage layer words it.
        let namespace = meta(old, "namespace")
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default();
        let group = if resource.group.is_empty() {
            String::new()
        } else {
            format!("{}/", resource.group)
        };
        return Err(ApiError::conflict(
            resource,
            &name,
            &format!(
                "StorageError: invalid object, Code: 4, Key: /registry/{group}{}/{namespace}{name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {given}, UID in object meta: {}",
                resource.plural,
                meta(old, "uid").unwrap_or_default()
            ),
        ));
    }
    match meta(&new, "resourceVersion") {
        Some(given) if Some(&given) != meta(old, "resourceVersion").as_ref() => {
            return Err(ApiError::conflict(
                resource,
                &name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        None if require_version && resource.requires_resource_version_on_update() => {
            return Err(ApiError::invalid(
                resource,
                &name,
                vec![Cause::new(
                    "FieldValueInvalid",
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                )],
            ));
        }
        _ => {}
    }
    if writer.subresource.as_deref() == Some("status") {
        // The status subresource changes the status and nothing else.
        let status = new.get("status").cloned();
        new = old.clone();
        match status {
            Some(status) => new["status"] = status,
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    } else {
        // Metadata the server owns stays as it was; so does the status when it is a
        // subresource.
        for key in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
            "managedFields",
        ] {
            match old["metadata"].get(key) {
                Some(value) => new["metadata"][key] = value.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(key);
                    }
                }
            }
        }
        if resource.status_subresource {
            match old.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(map) = new.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
    }
    new["apiVersion"] = json!(resource.api_version());
    new["kind"] = json!(resource.kind);
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    let warnings = admit(store, resource, writer, &mut new, Some(old))?;
    if resource.tracks_generation() && spec_changed(old, &new) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
    }
    track_update(resource, writer, Some(old), &mut new);
    finish_update(store, resource, writer, old, new, warnings)
}

/// Whether two versions of an object differ only in the times of their managed fields.
fn same_but_times(old: &Value, new: &Value) -> bool {
    fn without_times(object: &Value) -> Value {
        let mut object = object.clone();
        if let Some(entries) = object["metadata"]["managedFields"].as_array_mut() {
            for entry in entries {
                if let Some(entry) = entry.as_object_mut() {
                    entry.remove("time");
                }
            }
        }
        object
    }
    old == new || without_times(old) == without_times(new)
}

fn finish_update(
    store: &mut Store,
    resource: &ResourceType,
    writer: &Writer,
    old: &Value,
    new: Value,
    warnings: Vec<String>,
) -> Result<Written, ApiError> {
    if writer.dry_run {
        return Ok(Written {
            object: new,
            warnings,
        });
    }
    if same_but_times(old, &new) {
        // Nothing changed: nothing is stored, no new revision, no event, and the
        // managed fields keep their times.
        return Ok(Written {
            object: old.clone(),
            warnings,
        });
    }
    let namespace = meta(&new, "namespace").unwrap_or_default();
    let name = meta(&new, "name").unwrap_or_default();
    if new["metadata"].get("deletionTimestamp").is_some() && finalizers(&new).is_empty() {
        // The last finalizer went: the object goes, as the real registry does it, with
        // a single DELETED event that carries the last stored state.
        // The answer is the object as the write left it, without the finalizer.
        if let Some(removed) = store.remove(resource, &namespace, &name) {
            after_removal(store, resource, &removed);
        }
        return Ok(Written {
            object: new,
            warnings,
        });
    }
    if resource.kind == "CustomResourceDefinition"
        && let Ok(types) = resources::from_crd(&new)
    {
        store.register(types);
    }
    let stored = store.put(resource, new, Some(old.clone()));
    Ok(Written {
        object: stored,
        warnings,
    })
}

/// Server-side apply of `config` by `writer`. Creates the object when it does not
/// exist.
pub fn apply(
    store: &mut Store,
    resource: &ResourceType,
    writer: &Writer,
    namespace: &str,
    name: &str,
    config: Value,
    force: bool,
) -> Result<Written, ApiError> {
    if config["apiVersion"].as_str() != Some(&resource.api_version())
        || config["kind"].as_str() != Some(&resource.kind)
    {
        return Err(ApiError::bad_request(format!(
            "apply configuration must have apiVersion {:?} and kind {:?}",
            resource.api_version(),
            resource.kind
        )));
    }
    if let Some(given) = config["metadata"]["name"].as_str()
        && given != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    let scope = writer.scope(resource);
    let schema = Schema(resource.schema.as_ref());
    let sub = writer.subresource.as_deref();
    let existing = store.get(resource, namespace, name).cloned();
    if let Some(given) = meta(&config, "resourceVersion")
        && existing
            .as_ref()
            .and_then(|live| meta(live, "resourceVersion"))
            != Some(given)
    {
        // An apply that names a resourceVersion is a precondition, like an update's.
        if existing.is_none() {
            return Err(ApiError::not_found(resource, name));
        }
        return Err(ApiError::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let Some(live) = existing else {
        if sub == Some("status") {
            return Err(ApiError::not_found(resource, name));
        }
        // Applying to a missing object creates it.
        let mut object = config.clone();
        object["metadata"]["name"] = json!(name);
        if resource.namespaced {
            object["metadata"]["namespace"] = json!(namespace);
        }
        let set = fields::fields_of(&config, schema, scope);
        return create_owned(store, resource, writer, object, Some(set));
    };

    let applied = fields::fields_of(&config, schema, scope);
    let mut entries = managed_entries(&live);
    let mine = entries
        .iter()
        .position(|e| entry_matches(e, &writer.manager, "Apply", sub));
    let mut conflicts = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        for leaf in fields::shared_leaves(&applied, &entry_fields(entry)) {
            if fields::value_at(&live, &leaf) != fields::value_at(&config, &leaf) {
                conflicts.push((i, leaf));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let listed: Vec<(String, String)> = conflicts
            .iter()
            .map(|(i, leaf)| {
                (
                    entries[*i]["manager"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    fields::display(leaf),
                )
            })
            .collect();
        return Err(ApiError::apply_conflict(resource, name, &listed));
    }
    for (i, leaf) in &conflicts {
        let mut taken = FieldSet::new();
        insert_leaf(&mut taken, leaf);
        let remaining = fields::difference(&entry_fields(&entries[*i]), &taken);
        entries[*i]["fieldsV1"] = Value::Object(remaining);
    }

    let mut merged = live.clone();
    fields::merge(&mut merged, &config, schema, scope);
    // Fields this manager applied before and no longer applies go, unless another
    // manager owns them.
    let previous = mine.map(|i| entry_fields(&entries[i])).unwrap_or_default();
    let others: FieldSet = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != mine)
        .fold(FieldSet::new(), |acc, (_, e)| {
            fields::union(&acc, &entry_fields(e))
        });
    for leaf in fields::leaves(&fields::difference(&previous, &applied)) {
        if !fields::contains(&others, &leaf) {
            fields::remove_at(&mut merged, &leaf);
        }
    }
    match mine {
        Some(i) => {
            entries[i]["fieldsV1"] = Value::Object(applied);
            entries[i]["time"] = json!(now());
        }
        None => entries.push(new_entry(resource, &writer.manager, "Apply", sub, applied)),
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    set_managed(&mut merged, entries);

    let warnings = admit(store, resource, writer, &mut merged, Some(&live))?;
    if resource.tracks_generation() && spec_changed(&live, &merged) {
        let generation = live["metadata"]["generation"].as_i64().unwrap_or(0);
        merged["metadata"]["generation"] = json!(generation + 1);
    }
    finish_update(store, resource, writer, &live, merged, warnings)
}

fn insert_leaf(set: &mut FieldSet, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let child = set.entry(first.clone()).or_insert_with(|| json!({}));
    if let Some(child) = child.as_object_mut()
        && !rest.is_empty()
    {
        insert_leaf(child, rest);
    }
}

/// `DeleteOptions.preconditions`.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// The uid the object must have.
    pub uid: Option<String>,
    /// The resourceVersion the object must have.
    pub resource_version: Option<String>,
}

/// `DeleteOptions.propagationPolicy`: what happens to the object's dependents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes now; the garbage collector deletes its dependents after it.
    #[default]
    Background,
    /// The object waits, with the `foregroundDeletion` finalizer, for its dependents.
    Foreground,
    /// The object waits, with the `orphan` finalizer, while its dependents are freed.
    Orphan,
}

impl Propagation {
    /// Parses a policy as the server names them.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Background" => Some(Self::Background),
            "Foreground" => Some(Self::Foreground),
            "Orphan" => Some(Self::Orphan),
            _ => None,
        }
    }

    fn finalizer(self) -> Option<&'static str> {
        match self {
            Self::Background => None,
            Self::Foreground => Some("foregroundDeletion"),
            Self::Orphan => Some("orphan"),
        }
    }
}

/// How to delete.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Conditions the object must meet.
    pub preconditions: Preconditions,
    /// What happens to dependents.
    pub propagation: Propagation,
    /// Check only; change nothing.
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Clone, Debug)]
pub enum Deletion {
    /// The object is gone; here it is as it was.
    Gone(Value),
    /// The object waits for its finalizers; here it is, with `deletionTimestamp`.
    Pending(Value),
}

/// Deletes an object, or marks it for deletion when it has finalizers.
pub fn delete(
    store: &mut Store,
    resource: &ResourceType,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deletion, ApiError> {
    let preconditions = &options.preconditions;
    let Some(live) = store.get(resource, namespace, name).cloned() else {
        return Err(ApiError::not_found(resource, name));
    };
    if let Some(uid) = &preconditions.uid
        && Some(uid) != meta(&live, "uid").as_ref()
    {
        return Err(ApiError::conflict(
            resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta(&live, "uid").unwrap_or_default()
            ),
        ));
    }
    if let Some(version) = &preconditions.resource_version
        && Some(version) != meta(&live, "resourceVersion").as_ref()
    {
        return Err(ApiError::conflict(
            resource,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {version}, ResourceVersion in object meta: {}",
                meta(&live, "resourceVersion").unwrap_or_default()
            ),
        ));
    }
    if options.dry_run {
        return Ok(if finalizers(&live).is_empty() {
            Deletion::Gone(live)
        } else {
            Deletion::Pending(live)
        });
    }
    if resource.kind == "Namespace" {
        return Ok(delete_namespace(store, resource, live));
    }
    let policy_finalizer = options.propagation.finalizer();
    if !finalizers(&live).is_empty() || policy_finalizer.is_some() {
        if live["metadata"].get("deletionTimestamp").is_some() {
            return Ok(Deletion::Pending(live));
        }
        let mut marked = live.clone();
        if let Some(finalizer) = policy_finalizer {
            let mut list = finalizers(&live);
            list.push(finalizer.to_owned());
            marked["metadata"]["finalizers"] = json!(list);
        }
        marked["metadata"]["deletionTimestamp"] = json!(now());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if resource.tracks_generation() {
            let generation = live["metadata"]["generation"].as_i64().unwrap_or(0);
            marked["metadata"]["generation"] = json!(generation + 1);
        }
        let stored = store.put(resource, marked, Some(live));
        return Ok(Deletion::Pending(stored));
    }
    let removed = store.remove(resource, namespace, name).unwrap_or(live);
    after_removal(store, resource, &removed);
    Ok(Deletion::Gone(removed))
}

/// A namespace is marked Terminating, its objects are deleted (each honouring its
/// finalizers), and it goes once empty.
fn delete_namespace(store: &mut Store, resource: &ResourceType, live: Value) -> Deletion {
    let name = meta(&live, "name").unwrap_or_default();
    let mut marked = live.clone();
    if marked["metadata"].get("deletionTimestamp").is_none() {
        marked["metadata"]["deletionTimestamp"] = json!(now());
        marked["status"]["phase"] = json!("Terminating");
        marked = store.put(resource, marked, Some(live));
    }
    let namespaced: Vec<_> = store
        .types()
        .iter()
        .filter(|t| t.namespaced)
        .cloned()
        .collect();
    let mut seen = BTreeSet::new();
    for t in namespaced {
        if !seen.insert(t.storage_key()) {
            continue;
        }
        for object in store.list(&t, Some(&name)) {
            let object_name = meta(&object, "name").unwrap_or_default();
            let _ = delete(store, &t, &name, &object_name, &DeleteOptions::default());
        }
    }
    if store.namespace_is_empty(&name) {
        Deletion::Gone(store.remove(resource, "", &name).unwrap_or(marked))
    } else {
        Deletion::Pending(marked)
    }
}

/// What follows an object's removal: a CRD takes its custom resources with it, the
/// garbage collector deletes dependents left with no owner, and a terminating
/// namespace goes when its last object does.
fn after_removal(store: &mut Store, resource: &ResourceType, removed: &Value) {
    if let Some(uid) = meta(removed, "uid") {
        collect_garbage(store, &uid);
    }
    if resource.kind == "CustomResourceDefinition" {
        let group = removed["spec"]["group"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let plural = removed["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(served) = store
            .types()
            .iter()
            .find(|t| t.custom && t.group == group && t.plural == plural)
            .cloned()
        {
            for object in store.unregister(&group, &plural) {
                let ns = meta(&object, "namespace").unwrap_or_default();
                let name = meta(&object, "name").unwrap_or_default();
                store.remove(&served, &ns, &name);
            }
        }
        return;
    }
    if let Some(ns) = meta(removed, "namespace").filter(|ns| !ns.is_empty()) {
        let namespaces = store
            .types()
            .iter()
            .find(|t| t.kind == "Namespace")
            .cloned();
        if let Some(namespaces) = namespaces
            && let Some(namespace) = store.get(&namespaces, "", &ns).cloned()
            && namespace["metadata"].get("deletionTimestamp").is_some()
            && store.namespace_is_empty(&ns)
        {
            store.remove(&namespaces, "", &ns);
        }
    }
}

/// Deletes, in the background, every object whose owners are all gone now that the
/// object with `uid` is: what the garbage collector of a real cluster does.
fn collect_garbage(store: &mut Store, uid: &str) {
    for (resource, dependent) in store.dependents_of(uid) {
        let owners_left = dependent["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["uid"].as_str())
            .any(|owner| store.has_uid(owner));
        if !owners_left {
            let namespace = meta(&dependent, "namespace").unwrap_or_default();
            let name = meta(&dependent, "name").unwrap_or_default();
            let _ = delete(
                store,
                &resource,
                &namespace,
                &name,
                &DeleteOptions::default(),
            );
        }
    }
}

/// A name from `generateName`: the prefix and five random characters.
pub fn generate_name(prefix: &str, rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}{suffix}")
}
