//! Test-only endpoints: `POST /_control/fail-next` and `GET /_stats`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::openai::error_response;
use crate::state::{AppState, FailNext};
use crate::stats::Stats;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailNextRequest {
    count: u32,
    #[serde(default = "default_status")]
    status: u16,
}

fn default_status() -> u16 {
    500
}

/// Whether `status` is one fail-next can produce: 429 or a 5xx.
pub(crate) fn valid_fail_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

pub(crate) async fn fail_next(State(state): State<AppState>, body: Bytes) -> Response {
    let request: FailNextRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"count\":N,\"status\":429|5xx}}: {err}"),
                "invalid_request_error",
                Value::Null,
            );
        }
    };
    if !valid_fail_status(request.status) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "status must be 429 or 500..=599",
            "invalid_request_error",
            json!("status"),
        );
    }
    state.set_fail_next(FailNext {
        count: request.count,
        status: request.status,
    });
    Json(json!({"count": request.count, "status": request.status})).into_response()
}

pub(crate) async fn stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.counters.snapshot())
}
