//! The `bedrock` provider (the real aws-sdk-bedrockruntime client) against the fake upstream's
//! ConverseStream endpoint, with dummy static credentials.

// A test that cannot unwrap has failed: panicking is the point.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::upstream::{collect, done, fake_llm};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::config::Credentials;
use futures_util::StreamExt;
use greenlight::provider::{
    BedrockProvider, BedrockSettings, ChatRequest, FinishReason, Provider, ProviderError,
    ProviderEvent, Readiness,
};
use greenlight_fake_llm::{Config, FakeLlm};

fn settings(fake: &FakeLlm) -> BedrockSettings {
    BedrockSettings {
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
        region: Some("eu-west-1".to_owned()),
        endpoint_url: Some(fake.base_url()),
        first_token_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        max_retries: 2,
    }
}

/// Dummy static credentials: nothing reaches the default chain (or IMDS).
async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "not-a-secret",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

async fn provider(settings: BedrockSettings) -> BedrockProvider {
    BedrockProvider::from_sdk_config(settings, &sdk_config().await).unwrap()
}

/// Two user turns in a row (Converse wants them merged) and a temperature.
fn request(text: &str) -> ChatRequest {
    let mut request = crate::common::upstream::request(&["first", text]);
    request.temperature = Some(0.2);
    request
}

#[tokio::test]
async fn streams_an_answer_over_the_real_event_stream_format() {
    let fake = fake_llm(Config {
        tokens: 9,
        ..Config::default()
    })
    .await;
    let provider = provider(settings(&fake)).await;
    assert_eq!(provider.name(), "bedrock");
    assert_eq!(provider.readiness(), Readiness::Ready);
    let (text, end) = collect(provider.stream(request("[[echo]] hello bedrock"))).await;
    // The two user turns were merged: Converse wants alternating roles.
    assert_eq!(text, "first\n\n hello bedrock");
    let (finish_reason, usage) = done(end);
    assert_eq!(finish_reason, FinishReason::Stop);
    assert_eq!(usage.completion_tokens, 5, "from the metadata event");
    assert!(usage.prompt_tokens > 0);
}

#[tokio::test]
async fn usage_is_estimated_without_metadata_and_max_tokens_gives_length() {
    let fake = fake_llm(Config::default()).await;
    let provider = provider(settings(&fake)).await;
    let mut short = request("[[no-usage]]");
    short.max_tokens = 4;
    let (text, end) = collect(provider.stream(short)).await;
    let (finish_reason, usage) = done(end);
    assert_eq!(finish_reason, FinishReason::Length);
    assert_eq!(
        usage.completion_tokens,
        u32::try_from(text.chars().count().div_ceil(4)).unwrap()
    );
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let fake = fake_llm(Config::default()).await;
    fake.fail_next(1, 429);
    let (_, end) = collect(provider(settings(&fake)).await.stream(request("hi"))).await;
    assert!(end.is_ok(), "{end:?}");
    assert_eq!(fake.stats().requests, 2);
}

#[tokio::test]
async fn server_errors_retry_then_give_up() {
    let fake = fake_llm(Config::default()).await;
    fake.fail_next(2, 500);
    let provider = provider(settings(&fake)).await;
    let (_, end) = collect(provider.stream(request("hi"))).await;
    assert!(end.is_ok(), "{end:?}");
    assert_eq!(fake.stats().requests, 3);

    fake.fail_next(5, 500);
    let (_, end) = collect(provider.stream(request("hi"))).await;
    assert!(
        matches!(end, Err(ProviderError::Upstream { status: 500, .. })),
        "{end:?}"
    );
    assert_eq!(fake.stats().requests, 6);

    let (_, end) = collect(provider.stream(request("[[429]]"))).await;
    assert!(
        matches!(end, Err(ProviderError::RateLimited { .. })),
        "{end:?}"
    );
}

#[tokio::test]
async fn cut_and_malformed_streams_end_in_errors_without_retry() {
    let fake = fake_llm(Config::default()).await;
    let provider = provider(settings(&fake)).await;
    let (text, end) = collect(provider.stream(request("[[cut]]"))).await;
    assert!(!text.is_empty());
    assert!(matches!(end, Err(ProviderError::Interrupted(_))), "{end:?}");
    let (text, end) = collect(provider.stream(request("[[malformed]]"))).await;
    assert!(!text.is_empty());
    assert!(matches!(end, Err(ProviderError::Malformed(_))), "{end:?}");
    assert_eq!(fake.stats().requests, 2, "no retry after the first token");
}

#[tokio::test]
async fn hang_times_out_and_drop_cancels() {
    let fake = fake_llm(Config {
        long_delay_ms: 20,
        ..Config::default()
    })
    .await;
    let mut quick = settings(&fake);
    quick.first_token_timeout = Duration::from_millis(300);
    let provider = provider(quick).await;
    let started = Instant::now();
    let (_, end) = collect(provider.stream(request("[[hang]]"))).await;
    assert!(matches!(end, Err(ProviderError::Timeout(_))), "{end:?}");
    assert!(started.elapsed() < Duration::from_millis(900));
    fake.wait_for(Duration::from_secs(1), |s| s.cancelled == 1)
        .await;

    let mut stream = provider.stream(request("[[long]]"));
    for _ in 0..3 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(ProviderEvent::Delta(_)))
        ));
    }
    drop(stream);
    fake.wait_for(Duration::from_secs(1), |s| {
        s.cancelled == 2 && s.active == 0
    })
    .await;
}

#[tokio::test]
async fn bad_settings_are_named() {
    let fake = fake_llm(Config::default()).await;
    let mut no_model = settings(&fake);
    no_model.model_id = String::new();
    let error = BedrockProvider::from_sdk_config(no_model, &sdk_config().await).unwrap_err();
    assert!(error.to_string().contains("LLM_MODEL"), "{error}");
}
