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

use super::discovery;
use super::faults::Injected;
use super::objects::{self, Deletion, FieldValidation, Preconditions, Writer, Written};
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::shared::Shared;
use super::status::{self, ApiError};
use super::store::{Snapshot, object_key};
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
    resource: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
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
        _ => return Err(ApiError::no_route(path)),
    };
    let lookup = |plural: &str| {
        store
            .resource(group, version, plural)
            .ok_or_else(|| ApiError::no_route(path))
    };
    let owned = |s: &&str| (*s).to_owned();
    let target = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            let resource = lookup(plural)?;
            if !resource.namespaced {
                return Err(ApiError::no_route(path));
            }
            Target {
                resource,
                namespace: Some((*ns).to_owned()),
                name: tail.first().map(owned),
                subresource: tail.get(1).map(owned),
            }
        }
        [plural, tail @ ..] => Target {
            resource: lookup(plural)?,
            namespace: None,
            name: tail.first().map(owned),
            subresource: tail.get(1).map(owned),
        },
        [] => return Err(ApiError::no_route(path)),
    };
    if target
        .subresource
        .as_deref()
        .is_some_and(|s| s != "status" || !target.resource.status_subresource)
    {
        return Err(ApiError::no_route(path));
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
            .ok_or_else(|| ApiError::no_route(uri.path())),
        Route::Resources(group, version) => {
            discovery::resource_list(shared.store().types(), &group, &version)
                .map(|r| Json(r).into_response())
                .ok_or_else(|| ApiError::no_route(uri.path()))
        }
        Route::OpenApiV3Index => {
            Ok(Json(discovery::openapi_v3_index(shared.store().types())).into_response())
        }
        Route::OpenApiV3(group, version) => {
            discovery::openapi_v3(shared.store().types(), &group, &version)
                .map(|d| Json(d).into_response())
                .ok_or_else(|| ApiError::no_route(uri.path()))
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
        return Err(ApiError::no_route(&format!(
            "/{}/{}",
            resource.api_version(),
            resource.plural
        )));
    }
    let namespace = target.namespace.clone().unwrap_or_default();
    match (method.clone(), target.name.clone()) {
        (Method::GET, None) if params.flag("watch") => watch(shared, params, &target),
        (Method::GET, None) => list(shared, headers, params, &target),
        (Method::GET, Some(name)) => {
            let store = shared.store();
            let object = store
                .get(&resource, &namespace, &name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(&resource, &name))?;
            Ok(render(
                headers,
                params,
                &resource,
                vec![object],
                store.revision(),
                false,
            ))
        }
        (Method::POST, None) => create(shared, params, headers, &target, body),
        (Method::PUT, Some(name)) => {
            let object = decode_json(body)?;
            let writer = writer(params, headers, &target)?;
            let mut store = shared.store();
            let old = store
                .get(&resource, &namespace, &name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(&resource, &name))?;
            let written = objects::update(&mut store, &resource, &writer, &old, object, true)?;
            Ok(written_response(StatusCode::OK, written))
        }
        (Method::PATCH, Some(name)) => patch(shared, params, headers, &target, &name, body),
        (Method::DELETE, Some(name)) => {
            let options = if body.is_empty() {
                json!({})
            } else {
                decode_json(body)?
            };
            let preconditions = Preconditions {
                uid: options["preconditions"]["uid"].as_str().map(str::to_owned),
                resource_version: options["preconditions"]["resourceVersion"]
                    .as_str()
                    .map(str::to_owned),
            };
            let dry_run = params.get("dryRun") == Some("All")
                || options["dryRun"].as_array().is_some_and(|d| !d.is_empty());
            let mut store = shared.store();
            match objects::delete(
                &mut store,
                &resource,
                &namespace,
                &name,
                &preconditions,
                dry_run,
            )? {
                Deletion::Pending(object) => Ok((StatusCode::OK, Json(object)).into_response()),
                Deletion::Gone(object) if resource.custom => {
                    Ok((StatusCode::OK, Json(object)).into_response())
                }
                Deletion::Gone(object) => {
                    let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
                    Ok(
                        (StatusCode::OK, Json(status::success(&resource, &name, uid)))
                            .into_response(),
                    )
                }
            }
        }
        (Method::DELETE, None) => {
            let (labels, fields) = selectors(params)?;
            let mut store = shared.store();
            let mut gone = Vec::new();
            for object in store.list(&resource, target.namespace.as_deref()) {
                if labels.matches(&object) && fields.matches(&object) {
                    let (ns, name) = object_key(&object);
                    if let Ok(Deletion::Gone(o) | Deletion::Pending(o)) = objects::delete(
                        &mut store,
                        &resource,
                        &ns,
                        &name,
                        &Preconditions::default(),
                        false,
                    ) {
                        gone.push(o);
                    }
                }
            }
            let revision = store.revision();
            Ok(Json(list_body(&resource, gone, revision, None, None)).into_response())
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

fn selectors(params: &Params) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(params.get("fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn decode_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
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
    })
}

fn written_response(status: StatusCode, written: Written) -> Response {
    let mut response = (status, Json(written.object)).into_response();
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
    let mut object = decode_json(body)?;
    if !object.is_object() {
        return Err(ApiError::bad_request("the body must be an object"));
    }
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
                vec![status::Cause::new(
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
    Ok(written_response(StatusCode::CREATED, written))
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
                vec![status::Cause::new(
                    "FieldValueRequired",
                    "fieldManager",
                    "Required value: is required for apply patch",
                )],
            ));
        }
        let config: Value = yaml_serde::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
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
        return Ok(written_response(code, written));
    }
    let mut store = shared.store();
    let old = store
        .get(resource, &namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let mut new = old.clone();
    match content_type.as_str() {
        "application/json-patch+json" => {
            let operations: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as a JSON patch: {e}"
                ))
            })?;
            apply_json_patch(&mut new, &operations).map_err(|e| {
                ApiError::invalid(
                    resource,
                    name,
                    vec![status::Cause::new(
                        "FieldValueInvalid",
                        "",
                        format!("the JSON patch could not be applied: {e}"),
                    )],
                )
            })?;
        }
        "application/merge-patch+json" => json_patch::merge(&mut new, &decode_json(body)?),
        "application/strategic-merge-patch+json" if !resource.custom => {
            // The built-in types served here have no list merge keys outside metadata,
            // so a strategic merge patch merges as a JSON merge patch once its
            // directives are taken out.
            let mut patch = decode_json(body)?;
            strip_directives(&mut patch);
            json_patch::merge(&mut new, &patch);
        }
        "application/strategic-merge-patch+json" => {
            return Err(ApiError::unsupported_media_type(
                "strategic merge patch is not supported for custom resources",
            ));
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    }
    let written = objects::update(&mut store, resource, &writer, &old, new, false)?;
    Ok(written_response(StatusCode::OK, written))
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
    resource: &ResourceType,
    items: Vec<Value>,
    revision: u64,
    next: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut metadata = json!({ "resourceVersion": revision.to_string() });
    if let Some(next) = next {
        metadata["continue"] = json!(next);
    }
    if let Some(remaining) = remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            item["apiVersion"] = json!(resource.api_version());
            item
        })
        .collect();
    json!({ "apiVersion": resource.api_version(), "kind": resource.list_kind, "metadata": metadata, "items": items })
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
    resource: &ResourceType,
    mut objects: Vec<Value>,
    revision: u64,
    is_list: bool,
) -> Response {
    if wants_table(headers) {
        let include = params.get("includeObject").unwrap_or("Metadata");
        return Json(table::table(resource, &objects, revision, include)).into_response();
    }
    if is_list {
        return Json(list_body(resource, objects, revision, None, None)).into_response();
    }
    let mut object = objects.pop().unwrap_or(Value::Null);
    object["apiVersion"] = json!(resource.api_version());
    Json(object).into_response()
}

fn list(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    params: &Params,
    target: &Target,
) -> Result<Response, ApiError> {
    let resource = &target.resource;
    let (labels, fields) = selectors(params)?;
    let limit = params
        .get("limit")
        .map(|l| {
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))
        })
        .transpose()?
        .filter(|l| *l > 0);
    let mut store = shared.store();
    let (revision, items, offset) = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let decoded = URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            let id = decoded["id"].as_str().unwrap_or_default().to_owned();
            let offset = decoded["offset"].as_u64().unwrap_or(0) as usize;
            let snapshot = store.snapshot(&id).cloned().ok_or_else(|| {
                ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.")
            })?;
            (snapshot.revision, snapshot.items, offset)
        }
        None => {
            if let (Some("Exact"), Some(rv)) = (
                params.get("resourceVersionMatch"),
                params.get("resourceVersion"),
            ) && rv != store.revision().to_string()
            {
                return Err(ApiError::expired(format!(
                    "too old resource version: {rv} ({})",
                    store.revision()
                )));
            }
            let items: Vec<Value> = store
                .list(resource, target.namespace.as_deref())
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .collect();
            (store.revision(), items, 0)
        }
    };
    if wants_table(headers) {
        let page: Vec<Value> = items.iter().skip(offset).cloned().collect();
        let include = params.get("includeObject").unwrap_or("Metadata");
        return Ok(Json(table::table(resource, &page, revision, include)).into_response());
    }
    let (page, next, remaining) = match limit {
        Some(limit) if items.len() > offset + limit => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let page: Vec<Value> = items[offset..offset + limit].to_vec();
            let remaining = items.len() - offset - limit;
            store.keep_snapshot(id.clone(), Snapshot { revision, items });
            let token = URL_SAFE_NO_PAD
                .encode(json!({ "id": id, "offset": offset + limit, "rv": revision }).to_string());
            (page, Some(token), Some(remaining))
        }
        _ => (items.into_iter().skip(offset).collect(), None, None),
    };
    Ok(Json(list_body(resource, page, revision, next, remaining)).into_response())
}

fn watch(shared: &Arc<Shared>, params: &Params, target: &Target) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(params)?;
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let request = WatchRequest {
        resource: target.resource.clone(),
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
