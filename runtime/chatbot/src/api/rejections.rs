//! The one place a refused chat is logged. Whatever refuses a chat request before it starts (the
//! JSON body, validation, the rate limit, draining) answers with [`ApiError::reject`], which marks
//! the response; this layer, around every chat route, writes its log line.
//!
//! [`ApiError::reject`]: crate::error::ApiError::reject

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::engine;
use crate::error::Rejected;
use crate::rate_limit::ClientKey;
use crate::state::AppState;

/// Middleware for chat routes (inside `rate_limit::identify_client`, outside the limiter).
/// The route is the one the router matched (`/api/chat`), not guessed from the path.
pub async fn log_rejections(
    State(state): State<AppState>,
    route: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let client = req.extensions().get::<ClientKey>().copied();
    let response = next.run(req).await;
    if let Some(&Rejected(code)) = response.extensions().get::<Rejected>() {
        engine::log_rejected(
            route.as_str(),
            state.provider.as_ref(),
            state.client_tag(client).as_deref(),
            response.status(),
            code,
        );
    }
    response
}
