//! OpenAI's streamed chat completion chunks, parsed leniently: real OpenAI-compatible upstreams
//! send `finish_reason: ""`, `usage: {}`, `choices: null`, usage chunks with no choices and fields
//! nobody documented. Unknown fields are ignored, missing ones default.

use serde::{Deserialize, Serialize};

use crate::provider::upstream::UsageTally;
use crate::provider::{FinishReason, Message, ProviderError, ProviderEvent, Usage};

/// The request body (always streamed, usage requested).
#[derive(Debug, Serialize)]
pub(super) struct RequestBody<'a> {
    pub model: &'a str,
    pub messages: &'a [Message],
    pub stream: bool,
    pub stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

#[derive(Debug, Serialize)]
pub(super) struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Default, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// OpenAI's error body, or the `{"message": ...}` some compatible servers send.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// The most useful message in an error response body, cut to a sane length.
pub(super) fn error_message(body: &[u8]) -> String {
    const MAX_CHARS: usize = 300;
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed
        .error
        .and_then(|e| e.message)
        .or(parsed.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    message.chars().take(MAX_CHARS).collect()
}

/// Any reason a model stopped; unknown ones (`eos`, `end_turn`, `tool_calls`) count as a stop.
fn finish_reason(reason: &str) -> Option<FinishReason> {
    match reason {
        "" => None,
        "length" | "max_tokens" => Some(FinishReason::Length),
        "content_filter" => Some(FinishReason::ContentFilter),
        _ => Some(FinishReason::Stop),
    }
}

/// Turns the `data:` payloads of one answer into provider events.
#[derive(Debug)]
pub struct Reader {
    usage: UsageTally,
    finish: Option<FinishReason>,
    done: bool,
}

impl Reader {
    pub fn new(prompt_estimate: u32) -> Self {
        Self {
            usage: UsageTally::new(prompt_estimate),
            finish: None,
            done: false,
        }
    }

    /// Whether `[DONE]` arrived.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the model said why it stopped (the answer is whole even if `[DONE]` never comes).
    pub(super) fn has_finished(&self) -> bool {
        self.finish.is_some() || self.done
    }

    /// One `data:` payload; returns the text it adds (possibly empty).
    pub fn on_data(&mut self, data: &str) -> Result<Option<String>, ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        if data.is_empty() {
            return Ok(None);
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| ProviderError::Malformed(format!("a stream chunk is not JSON: {e}")))?;
        if let Some(usage) = chunk.usage
            && let (Some(prompt), Some(completion)) = (usage.prompt_tokens, usage.completion_tokens)
        {
            self.usage.report(Usage {
                prompt_tokens: u32::try_from(prompt).unwrap_or(u32::MAX),
                completion_tokens: u32::try_from(completion).unwrap_or(u32::MAX),
            });
        }
        let mut text = String::new();
        // Only the first choice is ours: we never ask for `n > 1`.
        if let Some(choice) = chunk.choices.unwrap_or_default().into_iter().next() {
            if let Some(content) = choice.delta.and_then(|d| d.content) {
                text = content;
            }
            if let Some(reason) = choice.finish_reason.as_deref().and_then(finish_reason) {
                self.finish = Some(reason);
            }
        }
        self.usage.add_text(&text);
        Ok((!text.is_empty()).then_some(text))
    }

    /// The final event, once the stream ended (with `[DONE]` or after a finish reason).
    pub fn done_event(&self) -> ProviderEvent {
        self.usage.done_event(self.finish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirky_chunks_parse() {
        let mut reader = Reader::new(10);
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":""}],"usage":{},"x":1}"#;
        assert_eq!(reader.on_data(role).ok(), Some(None));
        assert!(!reader.has_finished());
        let text = r#"{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#;
        assert_eq!(reader.on_data(text).ok(), Some(Some("Hi".to_owned())));
        assert_eq!(reader.on_data(r#"{"choices":null}"#).ok(), Some(None));
        assert_eq!(reader.on_data(r#"{"id":"x"}"#).ok(), Some(None));
        let finish = r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#;
        assert_eq!(reader.on_data(finish).ok(), Some(None));
        assert!(reader.has_finished());
        // No usage chunk: estimated.
        assert_eq!(
            reader.done_event(),
            ProviderEvent::Done {
                finish_reason: FinishReason::Length,
                usage: Usage {
                    prompt_tokens: 10,
                    completion_tokens: 1
                }
            }
        );
        let usage =
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#;
        reader.on_data(usage).ok();
        assert_eq!(reader.on_data("[DONE]").ok(), Some(None));
        assert!(reader.is_done());
        assert!(matches!(
            reader.done_event(),
            ProviderEvent::Done {
                usage: Usage {
                    prompt_tokens: 7,
                    completion_tokens: 3
                },
                ..
            }
        ));
    }

    #[test]
    fn non_json_is_malformed() {
        let mut reader = Reader::new(0);
        assert!(matches!(
            reader.on_data("{not json"),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_finish_reasons_are_a_stop() {
        assert_eq!(finish_reason("eos"), Some(FinishReason::Stop));
        assert_eq!(finish_reason(""), None);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad key","type":"x"}}"#),
            "bad key"
        );
        assert_eq!(error_message(br#"{"message":"slow down"}"#), "slow down");
        assert_eq!(error_message(b"  plain text "), "plain text");
    }
}
