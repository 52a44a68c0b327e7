//! Requests: routing a path to a resource, and the verbs (get, list, watch, create,
//! update, patch, delete, deletecollection) with their parameters.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::builtins;
use super::cause::Cause;
use super::discovery;
use super::events;
use super::faults::Injected;
use super::objects::{
    self, DeleteOptions, Deletion, FieldValidation, Preconditions, Propagation, Writer, Written,
};
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::shared::Shared;
use super::status::{self, ApiError};
use super::store::object_key;
use super::table;
use super::watch::{self, WatchRequest};

/// The request's query, as pairs.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v == "true" || v == "1")
    }
}

/// Where a request goes.
struct Target {
    /// The type whose storage and rules serve the request.
    resource: Arc<ResourceType>,
    /// The type the client asked for and sees: the same, except for `events.k8s.io`
    /// Events, which are core Events stored and shown in another form.
    view: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    /// A watch through the legacy `/watch/` path.
    watch_path: bool,
}

impl Target {
    /// A body from the client, in the stored form.
    fn incoming(&self, object: Value) -> Value {
        if self.view.is_events_v1() {
            let mut core = events::to_core(&object);
            if core.get("apiVersion").is_some() {
                core["apiVersion"] = json!(self.resource.api_version());
            }
            core
        } else {
            object
        }
    }

    /// A stored object as the client sees it.
    fn present(&self, object: Value) -> Value {
        self.view.present(object)
    }
}

enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    Resources(String, String),
    OpenApiV3Index,
    OpenApiV3(String, String),
    OpenApiV2,
    Objects(Target),
}

fn route(shared: &Shared, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let store = shared.store();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz" | "readyz" | "livez", ..] => return Ok(Route::Health),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["apis", group] => return Ok(Route::Group((*group).to_owned())),
        ["openapi", "v3"] => return Ok(Route::OpenApiV3Index),
        ["openapi", "v3", "api", "v1"] => {
            return Ok(Route::OpenApiV3(String::new(), "v1".to_owned()));
        }
        ["openapi", "v3", "apis", group, version] => {
            return Ok(Route::OpenApiV3((*group).to_owned(), (*version).to_owned()));
        }
        ["openapi", "v2"] => return Ok(Route::OpenApiV2),
        ["api", "v1"] => return Ok(Route::Resources(String::new(), "v1".to_owned())),
        ["apis", group, version] => {
            return Ok(Route::Resources((*group).to_owned(), (*version).to_owned()));
        }
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_route()),
    };
    let (watch_path, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let lookup = |plural: &str| {
        store
            .resource(group, version, plural)
            .ok_or_else(ApiError::no_route)
    };
    let owned = |s: &&str| (*s).to_owned();
    let (view, namespace, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            let resource = lookup(plural)?;
            if !resource.namespaced {
                return Err(ApiError::no_route());
            }
            (resource, Some((*ns).to_owned()), tail)
        }
        [plural, tail @ ..] => (lookup(plural)?, None, tail),
        [] => return Err(ApiError::no_route()),
    };
    let resource = if view.is_events_v1() {
        store
            .types()
            .iter()
            .find(|t| t.group.is_empty() && t.kind == "Event")
            .cloned()
            .unwrap_or_else(|| view.clone())
    } else {
        view.clone()
    };
    let target = Target {
        resource,
        view,
        namespace,
        name: tail.first().map(owned),
        subresource: tail.get(1).map(owned),
        watch_path,
    };
    let bad_subresource = target
        .subresource
        .as_deref()
        .is_some_and(|s| s != "status" || !target.resource.status_subresource);
    if bad_subresource || tail.len() > 2 || (watch_path && target.subresource.is_some()) {
        return Err(ApiError::no_route());
    }
    Ok(Route::Objects(target))
}

/// The single handler behind every path.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let is_write = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    let (latency, injected) = shared.draw(is_write);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match injected {
        Some(Injected::ServerError) => {
            return ApiError::internal(
                "an error on the server has prevented the request from succeeding (injected fault)",
            )
            .into_response();
        }
        Some(Injected::Throttle) => return ApiError::too_many_requests().into_response(),
        _ => {}
    }
    let params = Params(query);
    let route = match route(&shared, uri.path()) {
        Ok(route) => route,
        Err(e) => return e.into_response(),
    };
    let result = match route {
        Route::Version => Ok(Json(discovery::version()).into_response()),
        Route::Health => Ok("ok".into_response()),
        Route::CoreVersions => Ok(Json(discovery::core_versions(&shared.address)).into_response()),
        Route::Groups => Ok(Json(discovery::group_list(shared.store().types())).into_response()),
        Route::Group(group) => discovery::group(shared.store().types(), &group)
            .map(|g| Json(g).into_response())
            .ok_or_else(ApiError::no_route),
        Route::Resources(group, version) => {
            discovery::resource_list(shared.store().types(), &group, &version)
                .map(|r| Json(r).into_response())
                .ok_or_else(ApiError::no_route)
        }
        Route::OpenApiV3Index => {
            Ok(Json(discovery::openapi_v3_index(shared.store().types())).into_response())
        }
        Route::OpenApiV3(group, version) => {
            discovery::openapi_v3(shared.store().types(), &group, &version)
                .map(|d| Json(d).into_response())
                .ok_or_else(ApiError::no_route)
        }
        Route::OpenApiV2 => {
            let document = discovery::openapi_v2(shared.store().types());
            let wants_protobuf = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("protobuf"));
            if wants_protobuf {
                Ok((
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    super::protobuf::encode_document(&document),
                )
                    .into_response())
            } else {
                Ok(Json(document).into_response())
            }
        }
        Route::Objects(target) => {
            if injected == Some(Injected::Conflict) {
                let name = target.name.clone().unwrap_or_default();
                return ApiError::conflict(&target.resource, &name, "the object has been modified; please apply your changes to the latest version and try again (injected fault)").into_response();
            }
            objects_request(&shared, &method, &headers, &params, target, &body)
        }
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn objects_request(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    target: Target,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let resource = target.resource.clone();
    if resource.namespaced && target.name.is_some() && target.namespace.is_none() {
        return Err(ApiError::no_route());
    }
    let namespace = target.namespace.clone().unwrap_or_default();
    if target.watch_path {
        return match (method, target.name.as_deref()) {
            (&Method::GET, name) => watch(shared, params, &target, name),
            _ => Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            ))),
        };
    }
    match (method.clone(), target.name.clone()) {
        (Method::GET, None) if params.flag("watch") => watch(shared, params, &target, None),
        (Method::GET, None) => list(shared, headers, params, &target),
        (Method::GET, Some(name)) => {
            let store = shared.store();
            let object = store
                .get(&resource, &namespace, &name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(&target.view, &name))?;
            Ok(render(headers, params, &target, object, store.revision()))
        }
        (Method::POST, None) => create(shared, params, headers, &target, body),
        (Method::PUT, Some(name)) => {
            let object = decode_object(&target.view, body)?;
            check_type(&target.view, &object, &name)?;
            let object = target.incoming(object);
            let writer = writer(params, headers, &target)?;
            let mut store = shared.store();
            let old = store
                .get(&resource, &namespace, &name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(&target.view, &name))?;
            let written = objects::update(&mut store, &resource, &writer, &old, object, true)?;
            Ok(written_response(&target, StatusCode::OK, written))
        }
        (Method::PATCH, Some(name)) => patch(shared, params, headers, &target, &name, body),
        (Method::DELETE, Some(name)) => {
            let options = delete_options(params, body)?;
            let mut store = shared.store();
            match objects::delete(&mut store, &resource, &namespace, &name, &options)? {
                Deletion::Pending(object) => {
                    Ok((StatusCode::OK, Json(target.present(object))).into_response())
                }
                Deletion::Gone(object) => {
                    let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
                    Ok((
                        StatusCode::OK,
                        Json(status::success(&target.view, &name, uid)),
                    )
                        .into_response())
                }
            }
        }
        (Method::DELETE, None) => {
            let options = delete_options(params, body)?;
            let (labels, fields) = selectors(params, &target.view)?;
            let mut store = shared.store();
            let mut gone = Vec::new();
            for object in store.list(&resource, target.namespace.as_deref()) {
                if labels.matches(&object) && fields.matches(&object) {
                    let (ns, name) = object_key(&object);
                    if let Ok(Deletion::Gone(o) | Deletion::Pending(o)) =
                        objects::delete(&mut store, &resource, &ns, &name, &options)
                    {
                        gone.push(o);
                    }
                }
            }
            let revision = store.revision();
            Ok(Json(list_body(&target, gone, revision, None, None)).into_response())
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

/// `DeleteOptions` from the body and the query, as the server merges them.
fn delete_options(params: &Params, body: &Bytes) -> Result<DeleteOptions, ApiError> {
    let options = if body.is_empty() {
        json!({})
    } else {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request could not be decoded as DeleteOptions",
            ));
        }
        value
    };
    let policy = options["propagationPolicy"]
        .as_str()
        .or_else(|| params.get("propagationPolicy"));
    let propagation = match policy {
        None => {
            if options["orphanDependents"] == json!(true)
                || params.get("orphanDependents") == Some("true")
            {
                Propagation::Orphan
            } else {
                Propagation::Background
            }
        }
        Some(text) => Propagation::parse(text).ok_or_else(|| {
            ApiError::invalid_options(
                "DeleteOptions",
                vec![Cause::new(
                    "FieldValueNotSupported",
                    "propagationPolicy",
                    format!(
                        "Unsupported value: {text:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                )],
            )
        })?,
    };
    Ok(DeleteOptions {
        preconditions: Preconditions {
            uid: options["preconditions"]["uid"].as_str().map(str::to_owned),
            resource_version: options["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
        },
        propagation,
        dry_run: params.get("dryRun") == Some("All")
            || options["dryRun"].as_array().is_some_and(|d| !d.is_empty()),
    })
}

fn selectors(
    params: &Params,
    resource: &ResourceType,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(params.get("fieldSelector").unwrap_or_default(), resource)
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

/// A request body that must be an object of `resource`, decoded as the real server
/// decodes it: 400 when it is not JSON or not an object with standard metadata.
fn decode_object(resource: &ResourceType, body: &Bytes) -> Result<Value, ApiError> {
    let cannot = |why: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}",
            kind = resource.kind,
            version = resource.version
        ))
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| cannot(e.to_string()))?;
    match builtins::shape_error(&value) {
        Some(why) => Err(cannot(why)),
        None => Ok(value),
    }
}

/// The body's `apiVersion` and `kind` must be the resource's own.
fn check_type(resource: &ResourceType, object: &Value, name: &str) -> Result<(), ApiError> {
    if let Some(api_version) = object["apiVersion"].as_str()
        && api_version != resource.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version()
        )));
    }
    if let Some(kind) = object["kind"].as_str()
        && kind != resource.kind
    {
        return Err(ApiError::invalid_kind(
            kind,
            resource,
            name,
            vec![Cause::new(
                "FieldValueInvalid",
                "kind",
                format!("Invalid value: {kind:?}: must be {}", resource.kind),
            )],
        ));
    }
    Ok(())
}

fn writer(params: &Params, headers: &HeaderMap, target: &Target) -> Result<Writer, ApiError> {
    let field_validation = match params.get("fieldValidation") {
        None | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation must be Ignore, Warn or Strict, not {other:?}"
            )));
        }
    };
    let manager = match params.get("fieldManager") {
        Some(manager) => manager.to_owned(),
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .to_owned(),
    };
    if manager.len() > 128 {
        return Err(ApiError::bad_request(
            "fieldManager must not be longer than 128 characters",
        ));
    }
    Ok(Writer {
        manager,
        subresource: target.subresource.clone(),
        field_validation,
        dry_run: params.get("dryRun") == Some("All"),
        v1_events: target.view.is_events_v1(),
    })
}

fn written_response(target: &Target, status: StatusCode, written: Written) -> Response {
    let mut response = (status, Json(target.present(written.object))).into_response();
    for warning in written.warnings {
        if let Ok(value) =
            HeaderValue::from_str(&format!("299 - \"{}\"", warning.replace('"', "'")))
        {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

fn create(
    shared: &Arc<Shared>,
    params: &Params,
    headers: &HeaderMap,
    target: &Target,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let resource = &target.resource;
    let object = decode_object(&target.view, body)?;
    let given_name = object["metadata"]["name"].as_str().unwrap_or_default();
    check_type(&target.view, &object, given_name)?;
    if object["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty())
    {
        // The real server answers this with an internal error that has no reason.
        let mut error =
            ApiError::internal("resourceVersion should not be set on objects to be created");
        error.reason = "";
        return Err(error);
    }
    let mut object = target.incoming(object);
    if object.get("metadata").is_none_or(|m| !m.is_object()) {
        object["metadata"] = json!({});
    }
    let writer = writer(params, headers, target)?;
    let namespace = target.namespace.clone().unwrap_or_default();
    if resource.namespaced {
        if let Some(given) = object["metadata"]["namespace"].as_str()
            && given != namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        object["metadata"]["namespace"] = json!(namespace);
    }
    let name = match (
        object["metadata"]["name"].as_str(),
        object["metadata"]["generateName"].as_str(),
    ) {
        (Some(name), _) if !name.is_empty() => name.to_owned(),
        (_, Some(prefix)) if !prefix.is_empty() => {
            objects::generate_name(prefix, &mut shared.rng())
        }
        _ => {
            return Err(ApiError::invalid(
                resource,
                "",
                vec![Cause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
    };
    object["metadata"]["name"] = json!(name);
    let mut store = shared.store();
    if resource.namespaced {
        check_namespace(&store, &namespace)?;
    }
    let written = objects::create(&mut store, resource, &writer, object)?;
    Ok(written_response(target, StatusCode::CREATED, written))
}

fn check_namespace(store: &super::store::Store, namespace: &str) -> Result<(), ApiError> {
    let namespaces = store
        .types()
        .iter()
        .find(|t| t.kind == "Namespace")
        .cloned();
    let Some(namespaces) = namespaces else {
        return Ok(());
    };
    match store.get(&namespaces, "", namespace) {
        None => Err(ApiError::not_found(&namespaces, namespace)),
        Some(ns) if ns["metadata"].get("deletionTimestamp").is_some() => Err(ApiError {
            code: StatusCode::FORBIDDEN,
            reason: "Forbidden",
            message: format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
            details: None,
            plain_text: false,
        }),
        Some(_) => Ok(()),
    }
}

fn patch(
    shared: &Arc<Shared>,
    params: &Params,
    headers: &HeaderMap,
    target: &Target,
    name: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let resource = &target.resource;
    let namespace = target.namespace.clone().unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let writer = writer(params, headers, target)?;
    if content_type == "application/apply-patch+yaml"
        || content_type == "application/apply-patch+cbor"
    {
        if params.get("fieldManager").is_none() {
            return Err(ApiError::invalid(
                resource,
                name,
                vec![Cause::new(
                    "FieldValueRequired",
                    "fieldManager",
                    "Required value: is required for apply patch",
                )],
            ));
        }
        let config: Value = yaml_serde::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if let Some(why) = builtins::shape_error(&config) {
            return Err(ApiError::bad_request(format!("error decoding YAML: {why}")));
        }
        if config["apiVersion"].as_str() != Some(&target.view.api_version())
            || config["kind"].as_str() != Some(&target.view.kind)
        {
            return Err(ApiError::bad_request(format!(
                "apply configuration must have apiVersion {:?} and kind {:?}",
                target.view.api_version(),
                target.view.kind
            )));
        }
        let mut config = target.incoming(config);
        config["apiVersion"] = json!(resource.api_version());
        let mut store = shared.store();
        let existed = store.get(resource, &namespace, name).is_some();
        if resource.namespaced && !existed {
            check_namespace(&store, &namespace)?;
        }
        let written = objects::apply(
            &mut store,
            resource,
            &writer,
            &namespace,
            name,
            config,
            params.flag("force"),
        )?;
        let code = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        return Ok(written_response(target, code, written));
    }
    let mut store = shared.store();
    let old = store
        .get(resource, &namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&target.view, name))?;
    // Patches apply to the object in the form the client sees.
    let mut patched = if target.view.is_events_v1() {
        events::to_v1(&old)
    } else {
        old.clone()
    };
    let decode_patch = |body: &Bytes| -> Result<Value, ApiError> {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        if !patch.is_object() {
            return Err(ApiError::bad_request(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                if patch.is_array() { "array" } else { "value" }
            )));
        }
        Ok(patch)
    };
    match content_type.as_str() {
        "application/json-patch+json" => {
            let operations: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as a JSON patch: {e}"
                ))
            })?;
            // The real server gives no reason why an operation failed (a `test` that
            // does not hold, a path that does not exist).
            apply_json_patch(&mut patched, &operations).map_err(|_| ApiError::rejected())?;
        }
        "application/merge-patch+json" => json_patch::merge(&mut patched, &decode_patch(body)?),
        "application/strategic-merge-patch+json" if !resource.custom => {
            // The built-in types served here have no list merge keys outside metadata,
            // so a strategic merge patch merges as a JSON merge patch once its
            // directives are taken out.
            let mut patch = decode_patch(body)?;
            strip_directives(&mut patch);
            json_patch::merge(&mut patched, &patch);
        }
        "application/strategic-merge-patch+json" => {
            return Err(ApiError::unsupported_media_type(
                "strategic merge patch is not supported for custom resources",
            ));
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    }
    if !patched.is_object() {
        return Err(ApiError::invalid_patch(
            &patched.to_string(),
            "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }",
        ));
    }
    if let Some(why) = builtins::shape_error(&patched) {
        return Err(ApiError::invalid_patch(&patched.to_string(), &why));
    }
    let new = target.incoming(patched);
    let written = objects::update(&mut store, resource, &writer, &old, new, false)?;
    Ok(written_response(target, StatusCode::OK, written))
}

/// Applies a JSON patch as the API server does: like RFC 6902, except that a `test`
/// of `null` passes when the path does not exist (clients rely on this to add the first
/// finalizer safely).
fn apply_json_patch(
    doc: &mut Value,
    operations: &json_patch::Patch,
) -> Result<(), json_patch::PatchError> {
    for operation in &operations.0 {
        if let json_patch::PatchOperation::Test(test) = operation
            && test.value.is_null()
            && doc.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(doc, std::slice::from_ref(operation))?;
    }
    Ok(())
}

/// Removes strategic merge patch directives (`$patch`, `$setElementOrder/...`,
/// `$retainKeys`, `$deleteFromPrimitiveList/...`).
fn strip_directives(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        map.retain(|k, _| !k.starts_with('$'));
        for child in map.values_mut() {
            strip_directives(child);
        }
    }
}

fn list_body(
    target: &Target,
    items: Vec<Value>,
    revision: u64,
    next: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let view = &target.view;
    let mut metadata = json!({ "resourceVersion": revision.to_string() });
    // Custom resource lists are unstructured and always carry `continue`; built-in
    // lists leave it out when it is empty.
    match next {
        Some(next) => metadata["continue"] = json!(next),
        None if view.custom => metadata["continue"] = json!(""),
        None => {}
    }
    if let Some(remaining) = remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    let items: Vec<Value> = items.into_iter().map(|item| target.present(item)).collect();
    json!({ "apiVersion": view.api_version(), "kind": view.list_kind, "metadata": metadata, "items": items })
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

fn render(
    headers: &HeaderMap,
    params: &Params,
    target: &Target,
    object: Value,
    revision: u64,
) -> Response {
    let object = target.present(object);
    if wants_table(headers) {
        let include = params.get("includeObject").unwrap_or("Metadata");
        return Json(table::table(&target.view, &[object], revision, include)).into_response();
    }
    Json(object).into_response()
}

/// A continue token as the real server writes it: the list's revision and the key the
/// next page starts after.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

fn encode_continue(revision: u64, last_key: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".to_owned(),
        rv: revision,
        start: format!("{last_key}\u{0}"),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let invalid = |why: String| {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {why}"
        ))
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| invalid(e.to_string()))?;
    let token: ContinueToken =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(invalid(format!("got version {:?}", token.v)));
    }
    Ok(token)
}

fn list(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    params: &Params,
    target: &Target,
) -> Result<Response, ApiError> {
    let resource = &target.resource;
    let (labels, fields) = selectors(params, &target.view)?;
    let resource_version = params.get("resourceVersion").filter(|rv| !rv.is_empty());
    let exact = match params.get("resourceVersionMatch").filter(|m| !m.is_empty()) {
        None => false,
        Some(_) if resource_version.is_none() => {
            return Err(ApiError::invalid_options(
                "ListOptions",
                vec![Cause::new(
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                )],
            ));
        }
        Some("Exact") => true,
        Some("NotOlderThan") => false,
        Some(other) => {
            return Err(ApiError::invalid_options(
                "ListOptions",
                vec![Cause::new(
                    "FieldValueNotSupported",
                    "resourceVersionMatch",
                    format!(
                        "Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
                    ),
                )],
            ));
        }
    };
    let continue_token = params.get("continue").filter(|c| !c.is_empty());
    if continue_token.is_some() && resource_version.is_some() {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    // A limit of zero or less is no limit; so is any limit on a list from the cache
    // (`resourceVersion=0`).
    let limit = params
        .get("limit")
        .map(|l| {
            l.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))
        })
        .transpose()?
        .filter(|l| *l > 0 && (exact || resource_version != Some("0")))
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let store = shared.store();
    let namespace = target.namespace.as_deref();
    let (revision, items, start) = if let Some(token) = continue_token {
        let token = decode_continue(token)?;
        let items = store.list_at(resource, namespace, token.rv).ok_or_else(|| {
            ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.")
        })?;
        (token.rv, items, Some(token.start))
    } else if exact {
        let rv = resource_version
            .and_then(|rv| rv.parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid resourceVersion {:?}",
                    resource_version.unwrap_or_default()
                ))
            })?;
        if rv > store.revision() {
            return Err(ApiError::timeout(format!(
                "Too large resource version: {rv}, current: {}",
                store.revision()
            )));
        }
        let items = store.list_at(resource, namespace, rv).ok_or_else(|| {
            ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                store.compacted()
            ))
        })?;
        (rv, items, None)
    } else {
        (store.revision(), store.list(resource, namespace), None)
    };
    drop(store);
    let key_of = |object: &Value| {
        let (ns, name) = object_key(object);
        if namespace.is_none() && resource.namespaced {
            format!("{ns}/{name}")
        } else {
            name
        }
    };
    let items: Vec<Value> = items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .filter(|o| {
            start
                .as_ref()
                .is_none_or(|start| key_of(o).as_str() > start.as_str())
        })
        .collect();
    if wants_table(headers) {
        let items: Vec<Value> = items.into_iter().map(|o| target.present(o)).collect();
        let include = params.get("includeObject").unwrap_or("Metadata");
        return Ok(Json(table::table(&target.view, &items, revision, include)).into_response());
    }
    let (page, next, remaining) = match limit {
        Some(limit) if items.len() > limit => {
            let remaining = items.len() - limit;
            let mut page = items;
            page.truncate(limit);
            let next = page
                .last()
                .map(|last| encode_continue(revision, &key_of(last)));
            // The count is unknown to the server when a selector filters the list.
            let counted = labels == LabelSelector::default() && fields == FieldSelector::default();
            (page, next, counted.then_some(remaining))
        }
        _ => (items, None, None),
    };
    Ok(Json(list_body(target, page, revision, next, remaining)).into_response())
}

fn watch(
    shared: &Arc<Shared>,
    params: &Params,
    target: &Target,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    let (labels, mut fields) = selectors(params, &target.view)?;
    if let Some(name) = name {
        fields = FieldSelector::name(name);
    }
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let request = WatchRequest {
        resource: target.resource.clone(),
        view: target.view.clone(),
        namespace: target.namespace.clone(),
        labels,
        fields,
        resource_version: params.get("resourceVersion").map(str::to_owned),
        send_initial_events: params.flag("sendInitialEvents"),
        allow_bookmarks: params.flag("allowWatchBookmarks"),
        timeout,
    };
    Ok(watch::start(shared.clone(), request))
}
