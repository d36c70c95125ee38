//! The fake upstream's Bedrock ConverseStream surface: real event-stream frames.

// A test that cannot unwrap has failed: panicking is the point.
#![allow(clippy::unwrap_used)]

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::{Buf, BytesMut};
use greenlight_fake_llm::{Config, FakeLlm};
use serde_json::{Value, json};

/// `(event type, payload)` of every frame in `body`.
fn frames(body: &[u8]) -> Vec<(String, Value)> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buffer = BytesMut::from(body);
    let mut out = Vec::new();
    while buffer.has_remaining() {
        match decoder.decode_frame(&mut buffer).expect("valid frame") {
            DecodedFrame::Complete(message) => {
                let kind = message
                    .headers()
                    .iter()
                    .find(|h| h.name().as_str() == ":event-type")
                    .and_then(|h| h.value().as_string().ok())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                out.push((kind, serde_json::from_slice(message.payload()).unwrap()));
            }
            DecodedFrame::Incomplete => break,
        }
    }
    out
}

#[tokio::test]
async fn converse_stream_sends_event_stream_frames() {
    let fake = FakeLlm::start(Config {
        tokens: 4,
        ..Config::default()
    })
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/model/some.model-v1%3A0/converse-stream",
            fake.base_url()
        ))
        .json(&json!({
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "hello"}]}],
            "inferenceConfig": {"maxTokens": 100},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let frames = frames(&response.bytes().await.unwrap());
    let kinds: Vec<&str> = frames.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(frames[6].1["stopReason"], "end_turn");
    assert_eq!(frames[7].1["usage"]["outputTokens"], 4);
    assert_eq!(fake.stats().requests, 1);
}

#[tokio::test]
async fn converse_stream_throttles_with_the_aws_error_type() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/model/m/converse-stream", fake.base_url()))
        .json(&json!({"messages": [{"role": "user", "content": [{"text": "[[429]]"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ThrottlingException"
    );
}
