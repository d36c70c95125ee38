//! The JSON body extractor for chat routes. It replaces axum's `Json` so every rejection (wrong
//! content type, too large, invalid JSON, wrong field type) is an OpenAI-shaped error naming the
//! field, and never axum's plain-text default.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// A request body parsed as JSON into `T`.
pub struct JsonBody<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

/// The field a serde error is about: its JSON path, or the missing field's name at the root.
fn error_param(path: &str, message: &str) -> Option<String> {
    if path != "." && !path.is_empty() {
        return Some(path.to_owned());
    }
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// Parses `bytes` as `T`, or an error naming the field and serde's position.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data => match error_param(&path, &message) {
                Some(param) if path != "." => ApiError::invalid(
                    param.clone(),
                    ErrorCode::InvalidField,
                    format!("{param}: {message}"),
                ),
                Some(param) => ApiError::invalid(param, ErrorCode::MissingField, message),
                None => ApiError::new(ErrorCode::InvalidBody, message),
            },
            _ => ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {message}")),
        }
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned());
        if !content_type.as_deref().is_some_and(is_json) {
            return Err(ApiError::unsupported_media_type(content_type.as_deref()));
        }
        let limit = state.limits.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("could not read the body: {rejection}"),
                )
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        b: String,
    }

    #[test]
    fn content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/vnd.api+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn errors_name_the_field_and_position() {
        let e = parse_json::<T>(br#"{"a":[{"b":1}]}"#).expect_err("wrong type");
        assert_eq!(e.param(), Some("a[0].b"));
        assert!(e.message().contains("column"), "{}", e.message());
        let e = parse_json::<T>(br#"{}"#).expect_err("missing");
        assert_eq!(e.param(), Some("a"));
        let e = parse_json::<T>(br#"{"a":"#).expect_err("eof");
        assert_eq!(e.code().as_str(), "invalid_json");
        assert!(e.message().contains("line 1"), "{}", e.message());
    }
}
