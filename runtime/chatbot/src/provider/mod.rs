//! The one interface every LLM backend implements (`offline`, `openai`, `bedrock`).
//!
//! A provider turns a validated [`ChatRequest`] into a stream of [`ProviderEvent`]s. Dropping the
//! stream must cancel the upstream work at once (no orphaned generation), so providers hold the
//! upstream connection inside the stream itself.

mod bedrock;
pub(crate) mod offline;
mod openai;
mod upstream;

pub use bedrock::BedrockProvider;
pub use openai::{OpenAiChunkReader, OpenAiProvider};
pub(crate) use upstream::tls_config;
pub use upstream::{SseError, SseReader};

use std::time::Duration;

use futures_core::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of the conversation, already validated by the API layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// What the API layer asks a provider for. The system prompt is already the first message.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Upper bound on generated tokens, already clamped to the configured limit.
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

/// A retrieved passage an answer is grounded on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// 1-based, as cited in the answer text (`[1]`).
    pub id: u32,
    pub title: String,
    /// Where the passage comes from, e.g. `docs/blue-green.md#health-checks`.
    pub source: String,
    pub passage: String,
    pub score: f32,
}

/// Token counts as the provider reports them (estimated where it reports none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
}

/// One step of a provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// Sent at most once, before the first delta.
    Sources(Vec<Source>),
    Delta(String),
    /// The last event of a good answer.
    Done {
        finish_reason: FinishReason,
        usage: Usage,
    },
}

/// How a provider's answer failed. Each maps to one error code of the API contract (`ApiError`'s
/// `From<&ProviderError>`).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the model endpoint is unreachable: {0}")]
    Unavailable(String),
    #[error("the model provider is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the model provider answered {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("the model's stream was cut: {0}")]
    Interrupted(String),
    #[error("the model sent a malformed stream: {0}")]
    Malformed(String),
    #[error("the provider is misconfigured: {0}")]
    Misconfigured(String),
}

/// Whether a provider can take traffic; reasons feed `GET /ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

pub type ProviderStream = BoxStream<'static, Result<ProviderEvent, ProviderError>>;

/// An LLM backend.
pub trait Provider: Send + Sync + 'static {
    /// `offline`, `openai` or `bedrock`.
    fn name(&self) -> &'static str;
    /// The model this provider answers with, as shown by `/version` and `/v1/models`.
    fn model(&self) -> &str;
    /// Cheap, no network: whether the provider is ready to answer.
    fn readiness(&self) -> Readiness;
    /// Starts an answer. Retries (before the first token only) happen inside the stream.
    fn stream(&self, request: ChatRequest) -> ProviderStream;
}

/// Settings for [`Provider`]s that talk to an OpenAI-compatible API, mapped from the environment
/// and flags by the configuration module.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// As the OpenAI SDKs read `OPENAI_BASE_URL`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Optional: local OpenAI-compatible servers often need none.
    pub api_key: Option<String>,
    pub model: String,
    /// Connecting to the upstream.
    pub connect_timeout: Duration,
    /// From sending the request to the first token.
    pub first_token_timeout: Duration,
    /// Longest silence between two chunks once streaming.
    pub idle_timeout: Duration,
    /// Attempts after the first one, only before any token was sent.
    pub max_retries: u32,
}

/// Settings for the Amazon Bedrock provider (credentials come from the default chain).
#[derive(Debug, Clone)]
pub struct BedrockSettings {
    pub model_id: String,
    /// `None`: the default chain (`AWS_REGION`, profile, ECS task metadata).
    pub region: Option<String>,
    /// Only for tests against a local endpoint.
    pub endpoint_url: Option<String>,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
}

pub(crate) mod factory;
