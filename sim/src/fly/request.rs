//! Reading what a request of the Machines API carries: its JSON body (an empty body is
//! an empty object) and its query parameters; and answering a list one page at a time.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;

/// A JSON body, or the API's error when it is not JSON.
pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A query parameter's value.
pub fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether a query parameter is `true` (or `1`).
pub fn query_flag(query: &[(String, String)], key: &str) -> bool {
    query_value(query, key).is_some_and(|v| v == "true" || v == "1")
}

/// One page of a list, with the `fly-next-cursor` header when more remain.
pub fn page(items: Vec<Value>, next_cursor: Option<String>) -> Response {
    let mut response = Json(Value::Array(items)).into_response();
    if let Some(cursor) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("fly-next-cursor", cursor);
    }
    response
}
