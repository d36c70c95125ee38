//! Builds the provider `LLM_PROVIDER` names, from the validated configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError, ProviderKind};
use crate::provider::bedrock::BedrockProvider;
use crate::provider::offline::{self, OfflineProvider, OfflineSettings};
use crate::provider::openai::OpenAiProvider;
use crate::provider::{BedrockSettings, OpenAiSettings, Provider, ProviderError};

/// The model `LLM_PROVIDER=openai` uses when `LLM_MODEL` is not set.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// The provider chosen by configuration. Nothing here waits on the network: the offline knowledge
/// base loads on a thread of its own, the HTTP clients connect on the first chat, and Bedrock
/// fetches credentials on its first request.
pub async fn build(config: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    // Blank means unset: deploy templates render absent values as empty strings.
    let model = config.llm_model.clone().filter(|m| !m.trim().is_empty());
    match config.llm_provider {
        ProviderKind::Offline => Ok(OfflineProvider::spawn(OfflineSettings {
            model: model.unwrap_or_else(|| offline::DEFAULT_MODEL.to_owned()),
            pacing: config.offline_pacing(),
            ..OfflineSettings::default()
        })),
        ProviderKind::Openai => {
            let settings = OpenAiSettings {
                base_url: config.openai_base_url.clone(),
                api_key: config.openai_api_key.clone(),
                model: model.unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned()),
                connect_timeout: Duration::from_millis(config.upstream_connect_timeout_ms),
                first_token_timeout: Duration::from_millis(config.upstream_first_token_timeout_ms),
                idle_timeout: Duration::from_millis(config.upstream_idle_timeout_ms),
                max_retries: config.upstream_max_retries,
            };
            let provider = OpenAiProvider::new(settings)
                .map_err(|e| provider_config_error(e, "LLM_PROVIDER"))?;
            Ok(Arc::new(provider))
        }
        ProviderKind::Bedrock => {
            let model_id = model.ok_or_else(|| ConfigError {
                variable: "LLM_MODEL",
                problem: "required for LLM_PROVIDER=bedrock: the Bedrock model id (the task role \
                          may invoke that model only)"
                    .to_owned(),
            })?;
            let settings = BedrockSettings {
                model_id,
                region: config.aws_region.clone().filter(|r| !r.trim().is_empty()),
                endpoint_url: config.bedrock_endpoint_url.clone(),
                first_token_timeout: Duration::from_millis(config.upstream_first_token_timeout_ms),
                idle_timeout: Duration::from_millis(config.upstream_idle_timeout_ms),
                max_retries: config.upstream_max_retries,
            };
            let provider = BedrockProvider::new(settings)
                .await
                .map_err(|e| provider_config_error(e, "LLM_PROVIDER"))?;
            Ok(Arc::new(provider))
        }
    }
}

/// The providers' own checks name the variable first (`OPENAI_API_KEY is required …`).
fn provider_config_error(err: ProviderError, fallback: &'static str) -> ConfigError {
    let problem = match err {
        ProviderError::Misconfigured(problem) => problem,
        other => other.to_string(),
    };
    let variable = [
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "LLM_MODEL",
        "AWS_REGION",
    ]
    .into_iter()
    .find(|v| problem.starts_with(v))
    .unwrap_or(fallback);
    ConfigError { variable, problem }
}
