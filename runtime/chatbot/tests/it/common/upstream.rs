//! Scaffolding for the network providers' tests (`openai`, `bedrock`) against the fake upstream:
//! requests and reading a provider stream to its end.

use futures_util::StreamExt;
use greenlight::provider::{
    ChatRequest, FinishReason, Message, ProviderError, ProviderEvent, ProviderStream, Role, Usage,
};
use greenlight_fake_llm::{Config, FakeLlm};

/// The fake upstream, started on a free loopback port.
pub async fn fake_llm(config: Config) -> FakeLlm {
    FakeLlm::start(config)
        .await
        .expect("the fake upstream starts")
}

/// A system prompt and then `users`, one user turn each (prompts may carry the fake's
/// `[[directives]]`).
pub fn request(users: &[&str]) -> ChatRequest {
    let system = Message {
        role: Role::System,
        content: "You are a test.".to_owned(),
    };
    let users = users.iter().map(|text| Message {
        role: Role::User,
        content: (*text).to_owned(),
    });
    ChatRequest {
        messages: std::iter::once(system).chain(users).collect(),
        max_tokens: 256,
        temperature: None,
    }
}

/// The deltas' text and how the stream ended, checking that nothing follows `Done` or an error.
pub async fn collect(mut stream: ProviderStream) -> (String, Result<ProviderEvent, ProviderError>) {
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(ProviderEvent::Delta(delta)) => text.push_str(&delta),
            Ok(ProviderEvent::Sources(_)) => {}
            Ok(done @ ProviderEvent::Done { .. }) => {
                assert!(stream.next().await.is_none(), "nothing after Done");
                return (text, Ok(done));
            }
            Err(error) => {
                assert!(stream.next().await.is_none(), "nothing after an error");
                return (text, Err(error));
            }
        }
    }
    panic!("the stream ended without Done or an error");
}

/// The finish reason and usage of a stream that ended with `Done`.
pub fn done(end: Result<ProviderEvent, ProviderError>) -> (FinishReason, Usage) {
    match end {
        Ok(ProviderEvent::Done {
            finish_reason,
            usage,
        }) => (finish_reason, usage),
        other => panic!("expected Done, got {other:?}"),
    }
}
