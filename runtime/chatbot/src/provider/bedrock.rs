//! The `bedrock` provider: Amazon Bedrock's ConverseStream through `aws-sdk-bedrockruntime`,
//! with credentials from the default chain (the ECS task role).

mod convert;
mod errors;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::{Region, SharedHttpClient, StalledStreamProtectionConfig};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput as CallOutput;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ConverseStreamOutput, InferenceConfiguration, StopReason,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_types::event_stream::RawMessage;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::upstream::{
    Decoded, EventSource, Live, UsageTally, answer_stream, estimate_prompt_tokens, open_answer,
    with_retries,
};
use super::{
    BedrockSettings, ChatRequest, FinishReason, Provider, ProviderError, ProviderEvent,
    ProviderStream, Readiness, Usage,
};

/// Connecting to Bedrock (the settings have no knob: a healthy regional endpoint connects in
/// milliseconds).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Streams answers from Bedrock's ConverseStream.
#[derive(Debug, Clone)]
pub struct BedrockProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    model_id: String,
    has_region: bool,
    first_token_timeout: Duration,
    idle_timeout: Duration,
    max_retries: u32,
}

/// The SDK's HTTPS client, trusting the bundled Mozilla roots: the image is `scratch`, with no OS
/// certificate store for the SDK's default client to read.
fn https_client() -> Result<SharedHttpClient, ProviderError> {
    let trust_store = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().fold(
        TrustStore::empty().with_native_roots(false),
        |store, cert| {
            store.with_pem_certificate(pem::encode(&pem::Pem::new("CERTIFICATE", cert.to_vec())))
        },
    );
    let context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .map_err(|e| ProviderError::Misconfigured(format!("TLS setup for Bedrock: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

impl BedrockProvider {
    /// Loads the default AWS chain (region, ECS task role) and builds the client. No network
    /// call happens here: credentials are fetched on the first request.
    pub async fn new(settings: BedrockSettings) -> Result<Self, ProviderError> {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()?);
        if let Some(region) = settings.region.clone() {
            loader = loader.region(Region::new(region));
        }
        let sdk_config = loader.load().await;
        Self::from_sdk_config(settings, &sdk_config)
    }

    /// Builds the client from an already loaded AWS configuration (tests pass static
    /// credentials this way).
    pub fn from_sdk_config(
        settings: BedrockSettings,
        sdk_config: &SdkConfig,
    ) -> Result<Self, ProviderError> {
        let model_id = settings.model_id.trim().to_owned();
        if model_id.is_empty() {
            return Err(ProviderError::Misconfigured(
                "LLM_MODEL must name the Bedrock model id for the bedrock provider".to_owned(),
            ));
        }
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(sdk_config)
            .http_client(https_client()?)
            // Our own retries apply, and only before the first token.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            // The idle timeout watches the stream; the SDK's stall guard would fight it.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(region) = settings.region.clone() {
            config = config.region(Region::new(region));
        }
        if let Some(url) = settings.endpoint_url.clone() {
            config = config.endpoint_url(url);
        }
        let config = config.build();
        let has_region = config.region().is_some();
        Ok(Self {
            inner: Arc::new(Inner {
                client: Client::from_conf(config),
                model_id,
                has_region,
                first_token_timeout: settings.first_token_timeout,
                idle_timeout: settings.idle_timeout,
                max_retries: settings.max_retries,
            }),
        })
    }
}

impl Provider for BedrockProvider {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    fn model(&self) -> &str {
        &self.inner.model_id
    }

    fn readiness(&self) -> Readiness {
        if self.inner.has_region {
            Readiness::Ready
        } else {
            Readiness::NotReady("provider misconfigured: no AWS region (set AWS_REGION)".to_owned())
        }
    }

    fn stream(&self, request: ChatRequest) -> ProviderStream {
        let inner = self.inner.clone();
        answer_stream(async move {
            let (system, messages) = convert::to_converse(&request.messages)?;
            let prompt_estimate = estimate_prompt_tokens(&request.messages);
            let inference = InferenceConfiguration::builder()
                .max_tokens(i32::try_from(request.max_tokens).unwrap_or(i32::MAX))
                .set_temperature(request.temperature)
                .build();
            with_retries(inner.max_retries, || {
                let call = inner
                    .client
                    .converse_stream()
                    .model_id(&inner.model_id)
                    .set_system(Some(system.clone()))
                    .set_messages(Some(messages.clone()))
                    .inference_config(inference.clone());
                open(inner.clone(), call, prompt_estimate)
            })
            .await
        })
    }
}

type Call =
    aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;

/// One attempt: the call and the wait for the first token, within the first-token budget.
async fn open(
    inner: Arc<Inner>,
    call: Call,
    prompt_estimate: u32,
) -> Result<Live<Converse>, ProviderError> {
    open_answer(inner.first_token_timeout, inner.idle_timeout, async {
        let output: CallOutput = call
            .send()
            .await
            .map_err(|e| errors::call_error(e, |raw| raw.status().as_u16()))?;
        Ok(Converse {
            events: output.stream,
            usage: UsageTally::new(prompt_estimate),
            stop: None,
        })
    })
    .await
}

type Events = aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
    ConverseStreamOutput,
    ConverseStreamOutputError,
>;

/// The ConverseStream events of an answer being streamed.
struct Converse {
    events: Events,
    usage: UsageTally,
    stop: Option<FinishReason>,
}

impl EventSource for Converse {
    /// One event (`Ok(None)`: the stream ended).
    type Item = Result<
        Option<ConverseStreamOutput>,
        aws_sdk_bedrockruntime::error::SdkError<ConverseStreamOutputError, RawMessage>,
    >;

    fn next_item(&mut self) -> impl Future<Output = Self::Item> + Send {
        self.events.recv()
    }

    fn decode(&mut self, item: Self::Item) -> Result<Decoded, ProviderError> {
        let mut decoded = Decoded::default();
        match item.map_err(errors::stream_error)? {
            Some(ConverseStreamOutput::ContentBlockDelta(event)) => {
                if let Some(ContentBlockDelta::Text(text)) = event.delta
                    && !text.is_empty()
                {
                    self.usage.add_text(&text);
                    decoded.delta = Some(text);
                }
            }
            Some(ConverseStreamOutput::MessageStop(event)) => {
                self.stop = Some(match event.stop_reason {
                    StopReason::MaxTokens => FinishReason::Length,
                    StopReason::ContentFiltered | StopReason::GuardrailIntervened => {
                        FinishReason::ContentFilter
                    }
                    _ => FinishReason::Stop,
                });
            }
            Some(ConverseStreamOutput::Metadata(event)) => {
                if let Some(usage) = event.usage {
                    self.usage.report(Usage {
                        prompt_tokens: u32::try_from(usage.input_tokens).unwrap_or_default(),
                        completion_tokens: u32::try_from(usage.output_tokens).unwrap_or_default(),
                    });
                }
                // Metadata is the last event Bedrock sends.
                decoded.finished = self.stop.is_some();
            }
            // Start and stop of blocks, reasoning and tool deltas, events newer than this SDK.
            Some(_) => {}
            None if self.stop.is_some() => decoded.finished = true,
            None => {
                return Err(ProviderError::Interrupted(
                    "the stream ended before the answer was finished".to_owned(),
                ));
            }
        }
        Ok(decoded)
    }

    fn finish(&mut self) -> ProviderEvent {
        self.usage.done_event(self.stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_client_builds_with_bundled_roots() {
        assert!(https_client().is_ok());
    }
}
