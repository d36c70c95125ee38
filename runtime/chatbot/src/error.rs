//! Every error the server reports, in OpenAI's error body shape:
//! `{"error":{"message","type","param","code"}}`. Every route uses it, so clients parse one shape;
//! a failed stream's last event carries the same code.
//!
//! [`ErrorCode`] is the one table of codes: each owns its `type`, HTTP status and whether a retry
//! may succeed. docs/contract.md ("Error codes") lists the same table; a test (tests/it/docs.rs)
//! keeps them equal.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};

use crate::provider::ProviderError;

/// The `type` of OpenAI's error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    RateLimit,
    Server,
}

impl ErrorType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::RateLimit => "rate_limit_error",
            Self::Server => "server_error",
        }
    }
}

/// Declares [`ErrorCode`] and its table in one place: `Variant => "code", Type, STATUS, retryable;`.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal, $kind:ident, $status:ident, $retryable:literal;)+) => {
        /// A code of the API contract, with everything a client is told about it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            const fn row(self) -> (&'static str, ErrorType, StatusCode, bool) {
                match self {
                    $(Self::$variant => ($code, ErrorType::$kind, StatusCode::$status, $retryable),)+
                }
            }
        }
    };
}

error_codes! {
    // Refused before a chat starts: the request itself is wrong.
    EmptyMessages => "empty_messages", InvalidRequest, BAD_REQUEST, false;
    TooManyMessages => "too_many_messages", InvalidRequest, BAD_REQUEST, false;
    InvalidRole => "invalid_role", InvalidRequest, BAD_REQUEST, false;
    EmptyContent => "empty_content", InvalidRequest, BAD_REQUEST, false;
    MessageTooLong => "message_too_long", InvalidRequest, BAD_REQUEST, false;
    ConversationTooLong => "conversation_too_long", InvalidRequest, BAD_REQUEST, false;
    LastMessageNotUser => "last_message_not_user", InvalidRequest, BAD_REQUEST, false;
    InvalidMaxTokens => "invalid_max_tokens", InvalidRequest, BAD_REQUEST, false;
    MaxTokensTooLarge => "max_tokens_too_large", InvalidRequest, BAD_REQUEST, false;
    InvalidTemperature => "invalid_temperature", InvalidRequest, BAD_REQUEST, false;
    UnsupportedContent => "unsupported_content", InvalidRequest, BAD_REQUEST, false;
    UnsupportedN => "unsupported_n", InvalidRequest, BAD_REQUEST, false;
    InvalidJson => "invalid_json", InvalidRequest, BAD_REQUEST, false;
    InvalidBody => "invalid_body", InvalidRequest, BAD_REQUEST, false;
    InvalidField => "invalid_field", InvalidRequest, BAD_REQUEST, false;
    MissingField => "missing_field", InvalidRequest, BAD_REQUEST, false;
    RequestTooLarge => "request_too_large", InvalidRequest, PAYLOAD_TOO_LARGE, false;
    UnsupportedMediaType => "unsupported_media_type", InvalidRequest, UNSUPPORTED_MEDIA_TYPE, false;
    NotFound => "not_found", InvalidRequest, NOT_FOUND, false;
    ModelNotFound => "model_not_found", InvalidRequest, NOT_FOUND, false;
    MethodNotAllowed => "method_not_allowed", InvalidRequest, METHOD_NOT_ALLOWED, false;
    RateLimitExceeded => "rate_limit_exceeded", RateLimit, TOO_MANY_REQUESTS, true;
    // The server's side: refused while draining, or an answer that failed (also a stream's last event).
    Draining => "draining", Server, SERVICE_UNAVAILABLE, true;
    Internal => "internal", Server, INTERNAL_SERVER_ERROR, true;
    UpstreamTimeout => "upstream_timeout", Server, GATEWAY_TIMEOUT, true;
    UpstreamUnavailable => "upstream_unavailable", Server, BAD_GATEWAY, true;
    RateLimitedUpstream => "rate_limited_upstream", RateLimit, TOO_MANY_REQUESTS, true;
    UpstreamError => "upstream_error", Server, BAD_GATEWAY, true;
    /// Same code as [`Self::UpstreamError`] on the wire, but the provider's configuration is at
    /// fault, so retrying cannot help.
    UpstreamMisconfigured => "upstream_error", Server, SERVICE_UNAVAILABLE, false;
    StreamInterrupted => "stream_interrupted", Server, BAD_GATEWAY, true;
}

impl ErrorCode {
    /// The `code` clients see.
    pub const fn as_str(self) -> &'static str {
        self.row().0
    }

    pub const fn kind(self) -> ErrorType {
        self.row().1
    }

    /// The status of a JSON error response with this code.
    pub const fn status(self) -> StatusCode {
        self.row().2
    }

    /// Whether the same request may succeed if the user retries.
    pub const fn retryable(self) -> bool {
        self.row().3
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An error as the API reports it: built from its [`ErrorCode`], never changed afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    param: Option<String>,
    retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorObject<'a>,
}

/// The `error` object, also sent inside `/v1` streams when an answer fails mid-way.
#[derive(Debug, Serialize)]
pub struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: ErrorCode,
}

/// Marks the response of a request refused before any work started, for the layer that logs
/// refused chats (`api::rejections`). Set by [`ApiError::reject`].
#[derive(Debug, Clone, Copy)]
pub struct Rejected(pub ErrorCode);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// About one request field (`param` uses the request's JSON path, e.g. `messages[2].role`).
    pub fn invalid(param: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            param: Some(param.into()),
            ..Self::new(code, message)
        }
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::RequestTooLarge,
            format!("the request body is larger than the limit of {limit} bytes (MAX_BODY_BYTES)"),
        )
    }

    pub fn unsupported_media_type(found: Option<&str>) -> Self {
        let found = found.map_or_else(|| "no Content-Type".to_owned(), |v| format!("{v:?}"));
        Self::invalid(
            "Content-Type",
            ErrorCode::UnsupportedMediaType,
            format!("expected Content-Type: application/json, got {found}"),
        )
    }

    pub fn rate_limited(retry_after: Duration, per_minute: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::RateLimitExceeded,
                format!(
                    "too many requests from this client (limit {per_minute} per minute); retry in {} s",
                    retry_after_secs(retry_after)
                ),
            )
        }
    }

    /// A new chat refused because the server is shutting down.
    pub fn draining() -> Self {
        Self::new(
            ErrorCode::Draining,
            "this server is shutting down and takes no new chats; retry and another one will answer",
        )
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no route for {path}"))
    }

    pub fn model_not_found(id: &str, served: &str) -> Self {
        Self::invalid(
            "model",
            ErrorCode::ModelNotFound,
            format!("the model {id:?} does not exist; this server serves {served:?}"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "this method is not allowed on this route",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    pub fn object(&self) -> ErrorObject<'_> {
        ErrorObject {
            message: &self.message,
            kind: self.code.kind().as_str(),
            param: self.param.as_deref(),
            code: self.code,
        }
    }

    /// The response of a request refused before any work started, marked [`Rejected`] so the
    /// chat routes log it.
    pub fn reject(self) -> Response {
        let code = self.code;
        let mut response = self.into_response();
        response.extensions_mut().insert(Rejected(code));
        response
    }
}

/// How a provider's failure is reported, before the answer started or as a stream's last event.
impl From<&ProviderError> for ApiError {
    fn from(err: &ProviderError) -> Self {
        let code = match err {
            ProviderError::Timeout(_) => ErrorCode::UpstreamTimeout,
            ProviderError::Unavailable(_) => ErrorCode::UpstreamUnavailable,
            ProviderError::RateLimited { .. } => ErrorCode::RateLimitedUpstream,
            ProviderError::Upstream { .. } | ProviderError::Malformed(_) => {
                ErrorCode::UpstreamError
            }
            ProviderError::Misconfigured(_) => ErrorCode::UpstreamMisconfigured,
            ProviderError::Interrupted(_) => ErrorCode::StreamInterrupted,
        };
        let retry_after = match err {
            ProviderError::RateLimited { retry_after } => *retry_after,
            _ => None,
        };
        Self {
            retry_after,
            ..Self::new(code, err.to_string())
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
            self.status(),
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

    #[test]
    fn errors_keep_their_code_status_and_type() {
        let e = ApiError::model_not_found("gpt-x", "m");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(e.param(), Some("model"));
        let upstream = ApiError::from(&ProviderError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        });
        assert_eq!(upstream.object().kind, "rate_limit_error");
        let response = upstream.reject();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert!(response.extensions().get::<Rejected>().is_some());
    }
}
