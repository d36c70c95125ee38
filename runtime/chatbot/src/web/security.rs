//! Security headers on every response of the server, whatever route (or error) produced it.

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use tower_http::set_header::SetResponseHeaderLayer;

/// No inline script, no eval, nothing from another origin, never framed. The page is built for
/// it: scripts are ES modules under `/assets/`, the answer HTML is sanitized on the server, and
/// event handlers are attached from script, never written in markup.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The headers [`security_headers`] sets (lower-case names, as `HeaderName::from_static` wants).
pub const HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// Wraps the whole router (apply it last, so it also covers 404s and fallback responses).
pub fn security_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    HEADERS.iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    async fn headers_of(uri: &str) -> (StatusCode, axum::http::HeaderMap) {
        let app = security_headers(Router::new().route("/", get(|| async { "hi" })));
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        (response.status(), response.headers().clone())
    }

    #[tokio::test]
    async fn every_response_carries_the_headers_even_a_404() {
        for uri in ["/", "/no/such/route"] {
            let (_, headers) = headers_of(uri).await;
            for (name, value) in HEADERS {
                assert_eq!(
                    headers.get(*name).map(|v| v.as_bytes()),
                    Some(value.as_bytes()),
                    "{name} on {uri}"
                );
            }
        }
        assert_eq!(headers_of("/no/such/route").await.0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_policy_allows_no_inline_script_or_eval() {
        let script_src = CONTENT_SECURITY_POLICY
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .expect("a script-src directive");
        assert_eq!(script_src, "script-src 'self'");
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }
}
