//! The router, built by walking the route table: every route is served by the handler
//! its entry names, and nothing else is served, so no route exists undocumented or is
//! documented unserved. Around it: request ids, logs, CORS, time and size limits,
//! metrics, and JSON errors for whatever the layers themselves refuse.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::error::ApiError;
use super::settings::Environment;
use super::state::AppState;
use super::{auth, billing, google_sign_in, instances, meta, metrics, pairing, snapshots};
use crate::api::routes::{Method, ROUTES, route_handlers};

/// What the layers around the routes need to know.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest time a request may take.
    pub timeout: Duration,
    /// Largest body, in bytes.
    pub body_bytes: usize,
    /// The web app's origin.
    pub frontend_url: String,
    /// Production or development.
    pub environment: Environment,
}

/// Largest Stripe event accepted.
const WEBHOOK_BODY_BYTES: usize = 1 << 20;

fn filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// Makes a route's method router from its method: an entry's `handler` in the table.
type Serve = fn(MethodFilter) -> MethodRouter<Arc<AppState>>;

/// The handler of each route of [`ROUTES`], in the same order. The table's handlers
/// name what this module imports: the handler modules, `on` and the layers.
const HANDLERS: &[Serve] = &route_handlers!();

/// Whether the original API's CORS rules allow `origin`.
pub fn origin_allowed(origin: &str, frontend_url: &str, environment: Environment) -> bool {
    let origin = origin.trim_end_matches('/');
    if origin == frontend_url.trim_end_matches('/') || origin == "https://fasterclaw.com" {
        return true;
    }
    if let Some(host) = origin.strip_prefix("https://")
        && let Some(sub) = host.strip_suffix(".fasterclaw.com")
        && !sub.is_empty()
        && sub
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return true;
    }
    environment == Environment::Development
        && origin.strip_prefix("http://localhost").is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix(':')
                    .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        })
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "Route {} {} not found",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Method {} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Error answers the layers make (a timeout, a body too large) carry `{"error"}` too.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::REQUEST_TIMEOUT => "The request took too long",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large",
        other => other.canonical_reason().unwrap_or("Error"),
    };
    let (mut parts, _) = response.into_parts();
    let (json_parts, body) = ApiError::new(status, message).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(content_type) = json_parts.headers.get(header::CONTENT_TYPE) {
        parts
            .headers
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    Response::from_parts(parts, body)
}

/// The router of the metrics listener: `/metrics` alone.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(meta::metrics))
        .with_state(state)
}

/// The facade's router.
pub fn router(state: Arc<AppState>, limits: &Limits) -> Router {
    let mut paths: BTreeMap<&str, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for (route, handler) in ROUTES.iter().zip(HANDLERS) {
        let served = handler(filter(route.method));
        let merged = match paths.remove(route.path) {
            Some(existing) => existing.merge(served),
            None => served,
        };
        paths.insert(route.path, merged);
    }
    let mut router = Router::new();
    for (path, methods) in paths {
        router = router.route(path, methods);
    }
    let frontend = limits.frontend_url.clone();
    let environment = limits.environment;
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .is_ok_and(|o| origin_allowed(o, &frontend, environment))
        }))
        .allow_credentials(true)
        .allow_methods([
            HttpMethod::GET,
            HttpMethod::POST,
            HttpMethod::PUT,
            HttpMethod::PATCH,
            HttpMethod::DELETE,
            HttpMethod::OPTIONS,
        ])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]);
    let request_id = HeaderName::from_static("x-request-id");
    router
        .route_layer(from_fn_with_state(state.metrics.clone(), metrics::measure))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.timeout))
        .layer(map_response(json_errors))
        .layer(cors)
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_follows_the_original_rules() {
        let web = "https://app.example.com/";
        for (origin, env, allowed) in [
            ("https://app.example.com", Environment::Production, true),
            ("https://fasterclaw.com", Environment::Production, true),
            ("https://www.fasterclaw.com", Environment::Production, true),
            ("https://evil.com", Environment::Production, false),
            (
                "https://fasterclaw.com.evil.com",
                Environment::Production,
                false,
            ),
            ("http://fasterclaw.com", Environment::Production, false),
            ("http://localhost:3000", Environment::Production, false),
            ("http://localhost:3000", Environment::Development, true),
            (
                "http://localhost:3000.evil.com",
                Environment::Development,
                false,
            ),
        ] {
            assert_eq!(
                origin_allowed(origin, web, env),
                allowed,
                "{origin} {env:?}"
            );
        }
    }
}
