//! `GET /version`: what is running, so a deploy can check that the new image answers.

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::state::AppState;

pub async fn version(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "version": state.version.version,
        "commit": state.version.commit,
        "image": state.version.image(),
        "provider": state.provider.name(),
        "model": state.provider.model(),
    }))
}
