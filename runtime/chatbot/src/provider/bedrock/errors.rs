//! The SDK's errors as [`ProviderError`]s.

use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_eventstream::error::Error as FrameError;

use crate::provider::ProviderError;

/// A modelled Bedrock exception, by its code.
fn service_error(code: Option<&str>, message: Option<&str>, status: Option<u16>) -> ProviderError {
    let message = message
        .unwrap_or("no message")
        .chars()
        .take(300)
        .collect::<String>();
    let upstream = |status: u16| ProviderError::Upstream {
        status,
        message: message.clone(),
    };
    match code.unwrap_or_default() {
        "ThrottlingException" => ProviderError::RateLimited { retry_after: None },
        "ServiceUnavailableException" | "ModelNotReadyException" => {
            ProviderError::Unavailable(message.clone())
        }
        "ModelStreamErrorException" => ProviderError::Interrupted(message.clone()),
        "InternalServerException" => upstream(500),
        "ModelTimeoutException" => upstream(408),
        "ValidationException" => upstream(400),
        "AccessDeniedException" => upstream(403),
        "ResourceNotFoundException" => upstream(404),
        "ModelErrorException" => upstream(424),
        _ => upstream(status.unwrap_or(500)),
    }
}

/// An error of the `ConverseStream` call itself (before the stream started).
pub(super) fn call_error<E, R>(error: SdkError<E, R>, status: impl Fn(&R) -> u16) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(context) => {
            let raw_status = status(context.raw());
            let error = context.err();
            service_error(error.code(), error.message(), Some(raw_status))
        }
        SdkError::DispatchFailure(_) => {
            ProviderError::Unavailable(DisplayErrorContext(&error).to_string())
        }
        SdkError::ConstructionFailure(_) => {
            ProviderError::Misconfigured(DisplayErrorContext(&error).to_string())
        }
        _ => stream_failure(&error),
    }
}

/// An error while reading the event stream.
pub(super) fn stream_error<E, R>(error: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(context) => {
            let error = context.err();
            service_error(error.code(), error.message(), None)
        }
        _ => stream_failure(&error),
    }
}

/// A broken stream: garbage frames are `Malformed`, anything else (a cut) `Interrupted`.
fn stream_failure(error: &(dyn std::error::Error + 'static)) -> ProviderError {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.downcast_ref::<FrameError>().is_some() {
            return ProviderError::Malformed(DisplayErrorContext(error).to_string());
        }
        source = cause.source();
    }
    ProviderError::Interrupted(DisplayErrorContext(error).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_provider_errors() {
        assert!(matches!(
            service_error(Some("ThrottlingException"), None, Some(429)),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(
            service_error(Some("ValidationException"), Some("bad"), Some(400)),
            ProviderError::Upstream { status: 400, .. }
        ));
        assert!(matches!(
            service_error(Some("Weird"), None, Some(502)),
            ProviderError::Upstream { status: 502, .. }
        ));
        assert!(matches!(
            service_error(Some("ModelStreamErrorException"), None, None),
            ProviderError::Interrupted(_)
        ));
    }
}
