//! Fuzz target: the upstream's event stream, as the real OpenAI provider reads it over loopback
//! HTTP (reqwest, eventsource-stream and the chunk reader). Generated streams mix well-formed
//! chunks with the quirks and garbage real servers send, cut into arbitrary network pieces.
//! Whatever arrives, the answer ends (no hang past the idle timeout) with exactly one `Done` or
//! error as its last event, and never a panic.

use std::time::Duration;

use bytes::Bytes;
use greenlight::fuzzing::ProviderEvent;
use greenlight_fuzz::{Upstream, fuzz};
use proptest::prelude::*;
use serde_json::json;

const REASONS: [&str; 6] = [
    "stop",
    "length",
    "content_filter",
    "tool_calls",
    "",
    "weird",
];

fn data(v: serde_json::Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// One piece of an event stream, as bytes.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => any::<String>().prop_map(|t| data(json!({"choices":[{"index":0,"delta":{"content":t}}]}))),
        1 => Just(data(json!({"choices":[{"index":0,"delta":{"role":"assistant"}}]}))),
        1 => (0..REASONS.len()).prop_map(|r| data(json!({"choices":[{"index":0,"delta":{},"finish_reason":REASONS[r]}]}))),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(p, c)| data(json!({"choices":[],"usage":{"prompt_tokens":p,"completion_tokens":c}}))),
        1 => Just(data(json!({"choices":[]}))),
        2 => Just(b"data: [DONE]\n\n".to_vec()),
        1 => any::<String>().prop_map(|t| format!(": {}\n", one_line(&t)).into_bytes()),
        1 => any::<String>().prop_map(|t| format!("event: {}\n", one_line(&t)).into_bytes()),
        1 => any::<String>().prop_map(|t| data(json!({"error":{"message":t,"type":"server_error"}}))),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => any::<String>().prop_map(|t| format!("data:{}\n\n", json!({"choices":[{"delta":{"content":t}}]})).into_bytes()),
        1 => Just(b"data: {\"choices\":[{\"delta\":{\"content\":\"split".to_vec()),
    ]
}

#[test]
fn upstream_streams_end_cleanly() {
    let upstream = Upstream::get();
    let strategy = (
        prop::collection::vec(frame(), 0..40),
        prop::collection::vec(any::<u16>(), 0..8),
    );
    fuzz(
        "upstream_sse::upstream_streams_end_cleanly",
        strategy,
        |(frames, cuts)| {
            let body: Vec<u8> = frames.concat();
            let mut cuts: Vec<usize> = cuts
                .iter()
                .map(|c| usize::from(*c) % (body.len() + 1))
                .collect();
            cuts.extend([0, body.len()]);
            cuts.sort_unstable();
            cuts.dedup();
            let pieces: Vec<Bytes> = cuts
                .windows(2)
                .map(|w| Bytes::copy_from_slice(&body[w[0]..w[1]]))
                .collect();
            // The provider's idle timeout is 2 s: a stream that stops sending ends by then.
            let Some(events) = upstream.answer(pieces, Duration::from_secs(10)) else {
                return Err(TestCaseError::fail(format!(
                    "the answer did not end: {:?}",
                    String::from_utf8_lossy(&body)
                )));
            };
            let last = events.len().saturating_sub(1);
            for (i, event) in events.iter().enumerate() {
                let terminal = matches!(event, Ok(ProviderEvent::Done { .. }) | Err(_));
                prop_assert!(
                    !terminal || i == last,
                    "an event after the end: {:?}",
                    events
                );
            }
            prop_assert!(
                matches!(events.last(), Some(Ok(ProviderEvent::Done { .. }) | Err(_))),
                "the answer ended without Done or an error: {:?} for {:?}",
                events,
                String::from_utf8_lossy(&body)
            );
            Ok(())
        },
    );
}
