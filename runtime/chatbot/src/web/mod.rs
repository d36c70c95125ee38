//! The browser UI: the chat page at `/`, its assets under `/assets/`, and the security headers
//! every response of the server carries.
//!
//! Everything is compiled into the binary, so `cargo build` alone gives a working UI with no
//! network, CDN or JavaScript toolchain. Markdown is rendered on the server ([`crate::render`]),
//! so the page needs no client-side library either.

mod assets;
mod security;

use axum::Router;
use axum::routing::get;

pub use security::security_headers;

/// `GET /` and `GET /assets/{file}`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::asset))
}
