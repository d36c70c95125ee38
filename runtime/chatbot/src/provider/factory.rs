//! Builds the provider `LLM_PROVIDER` names, from the validated configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError, ProviderKind};
use crate::provider::offline::{self, OfflineProvider, OfflineSettings};
use crate::provider::openai::OpenAiProvider;
use crate::provider::{
    ChatRequest, OpenAiSettings, Provider, ProviderError, ProviderStream, Readiness,
};

/// The model `LLM_PROVIDER=openai` uses when `LLM_MODEL` is not set.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// The provider chosen by configuration. Nothing here blocks: the offline knowledge base loads on
/// a thread of its own, and the HTTP clients connect on the first chat.
pub fn build(config: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    let model = config.llm_model.clone();
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
            let provider = OpenAiProvider::new(settings).map_err(openai_config_error)?;
            Ok(Arc::new(provider))
        }
        // The Bedrock backend lands in its own module; until it is built in, the server starts
        // and reports the gap on /ready and in every answer rather than pretending to answer.
        ProviderKind::Bedrock => Ok(Arc::new(NotBuiltIn {
            kind: config.llm_provider,
            model: model.unwrap_or_else(|| "unknown".to_owned()),
        })),
    }
}

/// The provider's own check names the variable first (`OPENAI_API_KEY is required …`).
fn openai_config_error(err: ProviderError) -> ConfigError {
    let problem = match err {
        ProviderError::Misconfigured(problem) => problem,
        other => other.to_string(),
    };
    let variable = ["OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_MODEL"]
        .into_iter()
        .find(|v| problem.starts_with(v))
        .unwrap_or("LLM_PROVIDER");
    ConfigError { variable, problem }
}

/// A provider this binary does not contain (yet).
struct NotBuiltIn {
    kind: ProviderKind,
    model: String,
}

impl NotBuiltIn {
    fn problem(&self) -> String {
        format!(
            "the {} provider is not built into this binary",
            self.kind.as_str()
        )
    }
}

impl Provider for NotBuiltIn {
    fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn readiness(&self) -> Readiness {
        Readiness::NotReady(format!("provider misconfigured: {}", self.problem()))
    }

    fn stream(&self, _request: ChatRequest) -> ProviderStream {
        let err = ProviderError::Misconfigured(self.problem());
        Box::pin(futures_util::stream::once(async move { Err(err) }))
    }
}
