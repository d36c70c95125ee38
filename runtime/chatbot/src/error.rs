//! Errors returned before a stream starts, in OpenAI's error body shape:
//! `{"error":{"message","type","param","code"}}`. Every route uses it, so clients parse one shape.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::provider::ProviderError;

/// A JSON error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: &'static str,
    pub retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorObject<'a>,
}

/// The `error` object, also sent inside `/v1` streams when an answer fails mid-way.
#[derive(Debug, Serialize)]
pub struct ErrorObject<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        Self {
            status,
            message,
            kind,
            param: None,
            code,
            retry_after: None,
        }
    }

    /// 400 about one request field (`param` uses the request's JSON path, e.g. `messages[2].role`).
    pub fn invalid(
        param: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message.into(),
        );
        e.param = Some(param.into());
        e
    }

    /// 400 about the request as a whole.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message.into(),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("the request body is larger than the limit of {limit} bytes (MAX_BODY_BYTES)"),
        )
    }

    pub fn unsupported_media_type(found: Option<&str>) -> Self {
        let found = found.map_or_else(|| "no Content-Type".to_owned(), |v| format!("{v:?}"));
        let mut e = Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "unsupported_media_type",
            format!("expected Content-Type: application/json, got {found}"),
        );
        e.param = Some("Content-Type".to_owned());
        e
    }

    pub fn rate_limited(retry_after: Duration, per_minute: u32) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            format!(
                "too many requests from this client (limit {per_minute} per minute); retry in {} s",
                retry_after_secs(retry_after)
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn draining() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "draining",
            "this server is shutting down and takes no new chats; retry and another one will answer"
                .to_owned(),
        )
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            format!("no route for {path}"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            "this method is not allowed on this route".to_owned(),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal",
            message.into(),
        )
    }

    /// A provider failure before any answer was sent (the non-streaming `/v1` route).
    pub fn from_provider(err: &ProviderError) -> Self {
        let status = match err {
            ProviderError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProviderError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProviderError::Misconfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProviderError::Unavailable(_)
            | ProviderError::Upstream { .. }
            | ProviderError::Interrupted(_)
            | ProviderError::Malformed(_) => StatusCode::BAD_GATEWAY,
        };
        let mut e = Self::new(status, "server_error", err.code(), err.to_string());
        if let ProviderError::RateLimited { retry_after } = err {
            e.retry_after = *retry_after;
        }
        e
    }

    pub fn object(&self) -> ErrorObject<'_> {
        ErrorObject {
            message: &self.message,
            kind: self.kind,
            param: self.param.as_deref(),
            code: self.code,
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1 (0 would invite a busy loop).
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: self.object(),
            }),
        )
            .into_response();
        if let Some(d) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(d)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(0)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
