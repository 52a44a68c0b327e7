//! Liveness, readiness, metrics, and the API's own description.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};

use super::docs;
use super::error::ApiError;
use super::state::AppState;
use crate::api::contract::{HealthResponse, HealthStatus, ReadyResponse};
use crate::api::openapi;
use crate::domain::Timestamp;

/// `GET /health`: the original's shape.
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: HealthStatus::Ok,
        timestamp: Timestamp::now(),
    })
}

/// `GET /ready`: Postgres answers and the Instance cache is filled.
pub async fn ready(State(state): State<Arc<AppState>>) -> Result<Json<ReadyResponse>, ApiError> {
    if let Err(e) = sqlx::query("select 1").execute(state.db.pool()).await {
        return Err(ApiError::unavailable("The database", &e));
    }
    if !state.cache.is_synced() {
        return Err(ApiError::unavailable(
            "The Instance cache",
            &"the first list of Instances has not arrived",
        ));
    }
    Ok(Json(ReadyResponse {
        status: "ready".to_owned(),
    }))
}

/// `GET /metrics`
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// `GET /openapi.json` and `GET /docs/json`
pub async fn openapi_document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document_json(),
    )
}

/// `GET /docs`
pub async fn docs_page() -> Html<&'static str> {
    Html(docs::page())
}
