//! The router: every route of the HTTP contract and the layers around them. The browser UI's
//! routes (`/`, `/assets/`) come from [`crate::web`].

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::api::{chat_route, health, openai_compat, rejections, version};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{rate_limit, web};

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Backstop only: handlers do not panic on input, but a bug must not kill the connection silently.
fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal("internal error").into_response()
}

pub fn router(state: AppState) -> Router {
    let mut chats = Router::new()
        .route("/api/chat", post(chat_route::post_chat))
        .route("/v1/chat/completions", post(openai_compat::completions));
    if let Some(limiter) = &state.rate_limiter {
        chats = chats.route_layer(middleware::from_fn_with_state(
            Arc::clone(limiter),
            rate_limit::limit,
        ));
    }
    // The last layer runs first: identify the client, then log whatever the inner ones refuse.
    let chats = chats
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rejections::log_rejections,
        ))
        .route_layer(middleware::from_fn(rate_limit::identify_client));
    let router = Router::new()
        .merge(web::routes())
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/version", get(version::version))
        .route("/v1/models", get(openai_compat::models))
        .route("/v1/models/{id}", get(openai_compat::model))
        .merge(chats)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state);
    // Last, so 404s and every other response carry the headers too.
    web::security_headers(router)
}
