//! The `chat.completion.chunk` events of a streamed answer, one per token: the relay's hot path.
//!
//! Each chunk is serialized straight from borrowed parts into a buffer the answer reuses, instead
//! of building a `serde_json::Value` tree per token (a dozen small allocations: every key, the
//! id and model copies, the nested objects) and then printing it.

use axum::response::sse::Event;
use serde::Serialize;

use crate::provider::{FinishReason, Usage};

/// The OpenAI `usage` object.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct UsageOut {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

impl From<Usage> for UsageOut {
    fn from(usage: Usage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens.saturating_add(usage.completion_tokens),
        }
    }
}

pub(super) fn finish_str(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [Choice<'a>],
    /// Absent unless the client asked for usage; then `null` on every chunk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageOut>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    /// Always `null`: log probabilities are not offered.
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// Writes one answer's chunks (same id, model and `created` on each).
pub(super) struct ChunkWriter {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Reused from chunk to chunk: after the first few tokens it no longer grows.
    json: Vec<u8>,
}

impl ChunkWriter {
    pub(super) fn new(id: String, model: String, created: u64, include_usage: bool) -> Self {
        Self {
            id,
            model,
            created,
            include_usage,
            json: Vec::with_capacity(256),
        }
    }

    /// The first chunk: the assistant's role and empty content, as OpenAI sends it.
    pub(super) fn role(&mut self) -> Event {
        self.choice(
            Delta {
                role: Some("assistant"),
                content: Some(""),
            },
            None,
        )
    }

    pub(super) fn text(&mut self, text: &str) -> Event {
        self.choice(
            Delta {
                role: None,
                content: Some(text),
            },
            None,
        )
    }

    pub(super) fn finish(&mut self, reason: FinishReason) -> Event {
        self.choice(Delta::default(), Some(finish_str(reason)))
    }

    /// The extra last chunk of `stream_options.include_usage`: no choices, the usage; `None` when
    /// the client did not ask for it.
    pub(super) fn usage(&mut self, usage: Usage) -> Option<Event> {
        self.include_usage
            .then(|| self.write(&[], Some(Some(usage.into()))))
    }

    fn choice(&mut self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> Event {
        let usage = self.include_usage.then_some(None);
        let choice = Choice {
            index: 0,
            delta,
            logprobs: (),
            finish_reason,
        };
        self.write(&[choice], usage)
    }

    fn write(&mut self, choices: &[Choice<'_>], usage: Option<Option<UsageOut>>) -> Event {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        self.json.clear();
        // Writing into a Vec cannot fail, and serde_json only writes UTF-8; neither is unwrapped
        // all the same: a chunk that cannot be encoded becomes an error event, not a panic.
        let encoded = serde_json::to_writer(&mut self.json, &chunk)
            .ok()
            .and_then(|()| std::str::from_utf8(&self.json).ok());
        match encoded {
            Some(json) => Event::default().data(json),
            None => Event::default().data(
                r#"{"error":{"message":"a chunk could not be encoded","type":"server_error","param":null,"code":"internal"}}"#,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use axum::response::sse::Sse;
    use futures_util::stream;
    use serde_json::{Value, json};

    use super::*;

    /// The `data:` payloads of `events` as an SSE response body would carry them.
    async fn payloads(events: Vec<Event>) -> Vec<Value> {
        let body = Sse::new(stream::iter(
            events.into_iter().map(Ok::<_, std::convert::Infallible>),
        ))
        .into_response()
        .into_body();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("an in-memory body");
        String::from_utf8(bytes.to_vec())
            .expect("UTF-8")
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let data = e.strip_prefix("data: ").expect("one data line");
                serde_json::from_str(data).expect("JSON")
            })
            .collect()
    }

    fn expected(delta: Value, finish: Value, usage: Option<Value>) -> Value {
        let mut chunk = json!({
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 7,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        chunk
    }

    #[tokio::test]
    async fn one_writer_writes_openai_shaped_chunks() {
        let mut w = ChunkWriter::new("chatcmpl-1".into(), "m".into(), 7, false);
        let events = vec![
            w.role(),
            // Quotes, newlines and non-ASCII are escaped inside the one data line.
            w.text("a \"quoted\"\nline é"),
            w.text("b"),
            w.finish(FinishReason::Length),
        ];
        assert!(w.usage(Usage::default()).is_none());
        assert_eq!(
            payloads(events).await,
            vec![
                expected(
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                    None
                ),
                expected(
                    json!({"content": "a \"quoted\"\nline é"}),
                    Value::Null,
                    None
                ),
                expected(json!({"content": "b"}), Value::Null, None),
                expected(json!({}), json!("length"), None),
            ]
        );
    }

    #[tokio::test]
    async fn usage_is_null_until_the_last_chunk_which_has_no_choices() {
        let mut w = ChunkWriter::new("chatcmpl-1".into(), "m".into(), 7, true);
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 4,
        };
        let events = vec![
            w.text("x"),
            w.finish(FinishReason::Stop),
            w.usage(usage).expect("asked for"),
        ];
        let got = payloads(events).await;
        assert_eq!(
            got[..2],
            [
                expected(json!({"content": "x"}), Value::Null, Some(Value::Null)),
                expected(json!({}), json!("stop"), Some(Value::Null)),
            ]
        );
        assert_eq!(
            got[2],
            json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            })
        );
    }
}
