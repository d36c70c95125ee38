//! The Lambda bootstrap (provided.al2023): one JSON log line per invocation on stdout. The
//! event is read as plain JSON: CodeDeploy and ECS invoke the same function (crate::event).

use std::sync::Arc;

use greenlight_hook::{Aws, Hook, HookConfig, aws};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let config = HookConfig::from_env();
    if let Err(e) = &config {
        tracing::error!(error = %e, "the hook is misconfigured; every invocation will report Failed");
    }
    let hook = Arc::new(Hook::new(Aws::new(&aws::load_sdk_config().await), config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let hook = Arc::clone(&hook);
        async move {
            hook.invoke(event.payload, Some(event.context.deadline()))
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.kind().to_owned(),
                    error_message: e.to_string(),
                })
        }
    }))
    .await
}
