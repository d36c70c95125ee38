//! Builds the provider `LLM_PROVIDER` names.

use std::sync::Arc;

use crate::config::{Config, ConfigError, ProviderKind};
use crate::provider::{ChatRequest, Provider, ProviderError, ProviderStream, Readiness};

/// The provider chosen by configuration.
pub fn build(config: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    // The backends land in their own modules; until one is built in, the server still starts and
    // reports the gap on /ready and in every answer rather than pretending to answer.
    Ok(Arc::new(NotBuiltIn {
        kind: config.llm_provider,
        model: config
            .llm_model
            .clone()
            .unwrap_or_else(|| "unknown".to_owned()),
    }))
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
