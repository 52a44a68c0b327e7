//! Discovery and description: `/version`, `/api`, `/apis`, the resource lists of each
//! group version, and the OpenAPI documents `kubectl explain` reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::resources::ResourceType;

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0+fasterclaw-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-26T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": address }],
    })
}

fn groups(types: &[Arc<ResourceType>]) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        let versions = groups.entry(t.group.clone()).or_default();
        if !versions.contains(&t.version) {
            versions.push(t.version.clone());
        }
    }
    groups
}

/// `/apis`.
pub fn group_list(types: &[Arc<ResourceType>]) -> Value {
    let groups: Vec<Value> = groups(types)
        .into_iter()
        .map(|(group, versions)| {
            let listed: Vec<Value> = versions
                .iter()
                .map(|v| json!({ "groupVersion": format!("{group}/{v}"), "version": v }))
                .collect();
            json!({
                "name": group,
                "versions": listed,
                "preferredVersion": { "groupVersion": format!("{group}/{}", versions[0]), "version": versions[0] },
            })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/<group>` (or `None` when the group is not served).
pub fn group(types: &[Arc<ResourceType>], group: &str) -> Option<Value> {
    let list = group_list(types);
    list["groups"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == group)
        .map(|g| {
            let mut g = g.clone();
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        })
}

/// The types served in one group version, or `None` when there are none.
fn served_in<'t>(
    types: &'t [Arc<ResourceType>],
    group: &str,
    version: &str,
) -> Option<Vec<&'t Arc<ResourceType>>> {
    let served: Vec<&Arc<ResourceType>> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    (!served.is_empty()).then_some(served)
}

/// `/api/v1` or `/apis/<group>/<version>` (or `None` when nothing is served there).
pub fn resource_list(types: &[Arc<ResourceType>], group: &str, version: &str) -> Option<Value> {
    let served = served_in(types, group, version)?;
    let mut resources = Vec::new();
    for t in served {
        resources.push(json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs(),
            "shortNames": t.short_names,
            "categories": t.categories,
        }));
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources }),
    )
}

/// The OpenAPI component name of a kind: the group's domain reversed, the version, the
/// kind (`io.fasterclaw.v1alpha1.Instance`).
fn component_name(t: &ResourceType, kind: &str) -> String {
    let mut labels: Vec<&str> = t.group.split('.').collect();
    labels.reverse();
    format!("{}.{}.{kind}", labels.join("."), t.version)
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn object_meta_schema() -> Value {
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "Name must be unique within a namespace." },
            "namespace": { "type": "string", "description": "Namespace defines the space within which each name must be unique." },
            "labels": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Map of string keys and values that can be used to organize and categorize objects." },
            "annotations": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Annotations is an unstructured key value map stored with a resource." },
            "finalizers": { "type": "array", "items": { "type": "string" }, "description": "Must be empty before the object is deleted from the registry." },
            "uid": { "type": "string", "description": "UID is the unique in time and space value for this object." },
            "resourceVersion": { "type": "string", "description": "An opaque value that represents the internal version of this object." },
            "generation": { "type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state." },
            "creationTimestamp": { "type": "string", "format": "date-time", "description": "The time this object was created." },
            "deletionTimestamp": { "type": "string", "format": "date-time", "description": "The time at which this resource will be deleted." }
        }
    })
}

/// The published schema of a custom resource: its `openAPIV3Schema` with `apiVersion`,
/// `kind` and `metadata` added, tagged with its group, version and kind.
fn published_schema(t: &ResourceType, meta_ref: &str) -> Value {
    let mut schema = t
        .schema
        .clone()
        .unwrap_or_else(|| json!({ "type": "object" }));
    schema["properties"]["apiVersion"] = json!({ "type": "string", "description": "APIVersion defines the versioned schema of this representation of an object." });
    schema["properties"]["kind"] = json!({ "type": "string", "description": "Kind is a string value representing the REST resource this object represents." });
    schema["properties"]["metadata"] =
        json!({ "allOf": [{ "$ref": meta_ref }], "description": "Standard object's metadata." });
    schema["x-kubernetes-group-version-kind"] =
        json!([{ "group": t.group, "version": t.version, "kind": t.kind }]);
    schema
}

/// `/openapi/v3`: where each group version's document is.
pub fn openapi_v3_index(types: &[Arc<ResourceType>]) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".to_owned(),
        json!({ "serverRelativeURL": "/openapi/v3/api/v1" }),
    );
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        let key = format!("apis/{}/{}", t.group, t.version);
        paths.insert(
            key.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{key}") }),
        );
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/apis/<group>/<version>` (or `api/v1`).
pub fn openapi_v3(types: &[Arc<ResourceType>], group: &str, version: &str) -> Option<Value> {
    let served = served_in(types, group, version)?;
    let mut schemas = serde_json::Map::new();
    schemas.insert(OBJECT_META.to_owned(), object_meta_schema());
    let mut paths = serde_json::Map::new();
    for t in &served {
        if t.custom {
            schemas.insert(
                component_name(t, &t.kind),
                published_schema(t, &format!("#/components/schemas/{OBJECT_META}")),
            );
        }
        let prefix = if t.group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{}/{}", t.group, t.version)
        };
        let collection = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{prefix}/{}", t.plural)
        };
        paths.insert(format!("{collection}/{{name}}"), object_operations(t));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0+fasterclaw-sim" },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

/// The operations on one object, with the parameters clients look for (kubectl checks
/// for `fieldValidation` on PATCH to know the server validates fields).
fn object_operations(t: &ResourceType) -> Value {
    let gvk = json!({ "group": t.group, "version": t.version, "kind": t.kind });
    let param = |name: &str| json!({ "name": name, "in": "query", "schema": { "type": "string", "uniqueItems": true } });
    let write_params = json!([
        param("dryRun"),
        param("fieldManager"),
        param("fieldValidation"),
        param("force")
    ]);
    let op = |action: &str, parameters: &Value| {
        json!({
            "parameters": parameters,
            "responses": { "200": { "description": "OK" } },
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        })
    };
    json!({
        "get": op("get", &json!([])),
        "put": op("put", &write_params),
        "patch": op("patch", &write_params),
        "delete": op("delete", &json!([param("dryRun")])),
        "parameters": [
            { "name": "name", "in": "path", "required": true, "schema": { "type": "string" } },
            { "name": "namespace", "in": "path", "required": true, "schema": { "type": "string" } },
        ],
    })
}

/// `/openapi/v2`: the same schemas, as Swagger 2.0.
pub fn openapi_v2(types: &[Arc<ResourceType>]) -> Value {
    let mut definitions = serde_json::Map::new();
    definitions.insert(OBJECT_META.to_owned(), object_meta_schema());
    for t in types.iter().filter(|t| t.custom) {
        definitions.insert(
            component_name(t, &t.kind),
            published_schema(t, &format!("#/definitions/{OBJECT_META}")),
        );
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0+fasterclaw-sim" },
        "paths": {},
        "definitions": definitions,
    })
}
