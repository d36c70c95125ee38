//! `GET /health` (the process can serve) and `GET /ready` (it should get traffic).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::provider::Readiness;
use crate::state::AppState;

/// Cheap and upstream-free: the ALB and the container health check call it every few seconds.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 503 with every reason while draining or while the provider cannot answer.
pub async fn ready(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    if state.drain.is_draining() {
        reasons.push("draining".to_owned());
    }
    if let Readiness::NotReady(reason) = state.provider.readiness() {
        reasons.push(reason);
    }
    if reasons.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reasons": reasons})),
        )
            .into_response()
    }
}
