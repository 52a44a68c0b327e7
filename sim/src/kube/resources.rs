//! The resource types the server serves: the built-in ones FasterClaw uses, and custom
//! resources defined by CustomResourceDefinitions.

use serde_json::{Value, json};

use super::cause::Cause;
use super::events;

/// A resource type, as discovery describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Version served.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Kind of its lists.
    pub list_kind: String,
    /// Plural name, as in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`fci`).
    pub short_names: Vec<String>,
    /// Categories (`fasterclaw`).
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource.
    pub status_subresource: bool,
    /// The `openAPIV3Schema` of a custom resource.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of a custom resource.
    pub printer_columns: Vec<Value>,
    /// Whether it is served from a CustomResourceDefinition.
    pub custom: bool,
    /// Where its objects are stored when another type's storage holds them, as the
    /// core `v1` storage holds `events.k8s.io/v1` Events: (group, plural).
    pub stored_as: Option<(String, String)>,
}

impl ResourceType {
    /// `v1` or `<group>/<version>`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `instances.fasterclaw.io`, or `secrets` in the core group.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The key objects are stored under, the same for every version.
    pub fn storage_key(&self) -> (String, String) {
        self.stored_as
            .clone()
            .unwrap_or_else(|| (self.group.clone(), self.plural.clone()))
    }

    /// A stored object as a client of this type sees it: its `apiVersion`, and Events
    /// in this version's form.
    pub fn present(&self, object: Value) -> Value {
        let mut object = match (self.group.as_str(), self.kind.as_str()) {
            ("events.k8s.io", "Event") => events::v1_view(&object),
            ("", "Event") => events::core_view(&object),
            _ => object,
        };
        if object.is_object() {
            object["apiVersion"] = Value::String(self.api_version());
            object["kind"] = Value::String(self.kind.clone());
        }
        object
    }

    /// Whether this is the `events.k8s.io` view of Events stored in the core form.
    pub fn is_events_v1(&self) -> bool {
        self.kind == "Event" && self.group == "events.k8s.io"
    }

    /// The field selector labels the server supports for this type, each with the path
    /// of the field it selects in the stored form. Every type supports `metadata.name`
    /// and `metadata.namespace`.
    pub fn field_labels(&self) -> Vec<(String, String)> {
        let mut labels = vec![
            ("metadata.name".to_owned(), "metadata.name".to_owned()),
            (
                "metadata.namespace".to_owned(),
                "metadata.namespace".to_owned(),
            ),
        ];
        let same = |label: &str| (label.to_owned(), label.to_owned());
        match (self.group.as_str(), self.kind.as_str()) {
            ("", "Secret") => labels.push(same("type")),
            ("", "Event") => {
                for field in OBJECT_REFERENCE_FIELDS {
                    labels.push(same(&format!("involvedObject.{field}")));
                }
                labels.extend([same("reason"), same("reportingComponent"), same("type")]);
                labels.push(("source".to_owned(), "source.component".to_owned()));
            }
            ("events.k8s.io", "Event") => {
                for field in OBJECT_REFERENCE_FIELDS {
                    labels.push((
                        format!("regarding.{field}"),
                        format!("involvedObject.{field}"),
                    ));
                }
                labels.extend([same("reason"), same("type")]);
                labels.push((
                    "reportingController".to_owned(),
                    "reportingComponent".to_owned(),
                ));
                labels.push(("deprecatedSource".to_owned(), "source.component".to_owned()));
            }
            _ => {}
        }
        labels
    }

    /// Whether writes must carry a resourceVersion (custom resources refuse
    /// unconditional updates).
    pub fn requires_resource_version_on_update(&self) -> bool {
        self.custom
    }

    /// Whether objects carry `metadata.generation`.
    pub fn tracks_generation(&self) -> bool {
        self.custom || self.kind == "CustomResourceDefinition"
    }

    /// The verbs discovery lists.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// The fields of an `ObjectReference` that Event field selectors reach.
const OBJECT_REFERENCE_FIELDS: [&str; 7] = [
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
];

fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        list_kind: format!("{kind}List"),
        plural: plural.to_owned(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        categories: Vec::new(),
        status_subresource: false,
        schema: None,
        printer_columns: Vec::new(),
        custom: false,
        stored_as: None,
    }
}

/// The built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    let mut namespaces = builtin("", "v1", "Namespace", "namespaces", false, &["ns"]);
    namespaces.status_subresource = true;
    let mut crds = builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    );
    crds.status_subresource = true;
    crds.categories = vec!["api-extensions".to_owned()];
    // One store, two versions: `events.k8s.io/v1` Events are the core ones, renamed.
    let mut events_v1 = builtin("events.k8s.io", "v1", "Event", "events", true, &["ev"]);
    events_v1.stored_as = Some((String::new(), "events".to_owned()));
    vec![
        namespaces,
        builtin("", "v1", "Secret", "secrets", true, &[]),
        builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
        builtin("", "v1", "Event", "events", true, &["ev"]),
        events_v1,
        builtin("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
        crds,
    ]
}

/// The resource types a CustomResourceDefinition serves (one per served version), or
/// why the definition is invalid.
pub fn from_crd(crd: &Value) -> Result<Vec<ResourceType>, Vec<Cause>> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let group = text(&spec["group"]);
    let names = &spec["names"];
    let plural = text(&names["plural"]);
    let kind = text(&names["kind"]);
    let name = text(&crd["metadata"]["name"]);
    if group.is_empty() || !group.contains('.') {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    if name != format!("{plural}.{group}") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = text(&spec["scope"]);
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!("Unsupported value: {scope:?}: supported values: \"Cluster\", \"Namespaced\""),
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v["storage"] == json!(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    for (i, version) in versions.iter().enumerate() {
        let schema = &version["schema"]["openAPIV3Schema"];
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            causes.push(Cause::new(
                "FieldValueRequired",
                format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                "Required value: must be object at the root",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(versions
        .iter()
        .filter(|v| v["served"] != json!(false))
        .map(|version| ResourceType {
            group: group.clone(),
            version: text(&version["name"]),
            kind: kind.clone(),
            list_kind: names["listKind"]
                .as_str()
                .map_or_else(|| format!("{kind}List"), str::to_owned),
            plural: plural.clone(),
            singular: names["singular"]
                .as_str()
                .map_or_else(|| kind.to_lowercase(), str::to_owned),
            namespaced: scope == "Namespaced",
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: version["subresources"].get("status").is_some(),
            schema: Some(version["schema"]["openAPIV3Schema"].clone()),
            printer_columns: version["additionalPrinterColumns"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            custom: true,
            stored_as: None,
        })
        .collect())
}
