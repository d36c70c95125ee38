//! Request limits: every check names the field (as a JSON path) and the limit it broke.

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::provider::{ChatRequest, Message, Role};

/// The configured limits a chat request must stay within.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_messages: usize,
    pub max_message_chars: usize,
    pub max_total_chars: usize,
    pub max_output_tokens: u32,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes,
            max_messages: config.max_messages,
            max_message_chars: config.max_message_chars,
            max_total_chars: config.max_total_chars,
            max_output_tokens: config.max_output_tokens,
        }
    }
}

/// A message as a client sent it, content already flattened to text.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub role: String,
    pub content: String,
}

/// The parts of a chat request both APIs share, before validation.
#[derive(Debug, Clone)]
pub struct RawChat {
    pub messages: Vec<RawMessage>,
    pub max_tokens: Option<u64>,
    /// The request field that carried `max_tokens` (`max_tokens` or `max_completion_tokens`).
    pub max_tokens_field: &'static str,
    pub temperature: Option<f64>,
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "system" => Some(Role::System),
        // OpenAI's newer name for `system`; the official clients send it for some models.
        "developer" => Some(Role::System),
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        _ => None,
    }
}

/// Checks `raw` against `limits` and builds the provider request, system prompt first.
pub fn validate(
    raw: RawChat,
    limits: &Limits,
    system_prompt: &str,
) -> Result<ChatRequest, ApiError> {
    if raw.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            ErrorCode::EmptyMessages,
            "messages must contain at least one message",
        ));
    }
    if raw.messages.len() > limits.max_messages {
        return Err(ApiError::invalid(
            "messages",
            ErrorCode::TooManyMessages,
            format!(
                "messages has {} messages; the limit is {} (MAX_MESSAGES)",
                raw.messages.len(),
                limits.max_messages
            ),
        ));
    }
    let mut total = 0usize;
    let mut messages = Vec::with_capacity(raw.messages.len() + 1);
    messages.push(Message {
        role: Role::System,
        content: system_prompt.to_owned(),
    });
    for (i, m) in raw.messages.into_iter().enumerate() {
        let role = parse_role(&m.role).ok_or_else(|| {
            ApiError::invalid(
                format!("messages[{i}].role"),
                ErrorCode::InvalidRole,
                format!(
                    "messages[{i}].role is {:?}; expected one of \"system\", \"user\", \"assistant\"",
                    truncate(&m.role, 40)
                ),
            )
        })?;
        if m.content.trim().is_empty() {
            return Err(ApiError::invalid(
                format!("messages[{i}].content"),
                ErrorCode::EmptyContent,
                format!("messages[{i}].content must not be empty"),
            ));
        }
        let chars = m.content.chars().count();
        if chars > limits.max_message_chars {
            return Err(ApiError::invalid(
                format!("messages[{i}].content"),
                ErrorCode::MessageTooLong,
                format!(
                    "messages[{i}].content has {chars} characters; the limit is {} (MAX_MESSAGE_CHARS)",
                    limits.max_message_chars
                ),
            ));
        }
        total += chars;
        if total > limits.max_total_chars {
            return Err(ApiError::invalid(
                "messages",
                ErrorCode::ConversationTooLong,
                format!(
                    "messages have more than {} characters in total (MAX_TOTAL_CHARS)",
                    limits.max_total_chars
                ),
            ));
        }
        messages.push(Message {
            role,
            content: m.content,
        });
    }
    if messages.last().map(|m| m.role) != Some(Role::User) {
        let last = messages.len() - 2;
        return Err(ApiError::invalid(
            format!("messages[{last}].role"),
            ErrorCode::LastMessageNotUser,
            "the last message must have role \"user\"",
        ));
    }
    let max_tokens = match raw.max_tokens {
        None => limits.max_output_tokens,
        Some(0) => {
            return Err(ApiError::invalid(
                raw.max_tokens_field,
                ErrorCode::InvalidMaxTokens,
                format!("{} must be at least 1", raw.max_tokens_field),
            ));
        }
        Some(n) if n > u64::from(limits.max_output_tokens) => {
            return Err(ApiError::invalid(
                raw.max_tokens_field,
                ErrorCode::MaxTokensTooLarge,
                format!(
                    "{} is {n}; the limit is {} (MAX_OUTPUT_TOKENS)",
                    raw.max_tokens_field, limits.max_output_tokens
                ),
            ));
        }
        // The guard above bounds n by a u32.
        Some(n) => u32::try_from(n).unwrap_or(limits.max_output_tokens),
    };
    let temperature = match raw.temperature {
        None => None,
        Some(t) if (0.0..=2.0).contains(&t) => Some(t as f32),
        Some(t) => {
            return Err(ApiError::invalid(
                "temperature",
                ErrorCode::InvalidTemperature,
                format!("temperature is {t}; it must be between 0 and 2"),
            ));
        }
    };
    Ok(ChatRequest {
        messages,
        max_tokens,
        temperature,
    })
}

/// At most `max` characters of `s`, so an echoed bad value cannot bloat the error.
fn truncate(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 1000,
            max_messages: 3,
            max_message_chars: 10,
            max_total_chars: 15,
            max_output_tokens: 100,
        }
    }

    fn chat(msgs: &[(&str, &str)]) -> RawChat {
        RawChat {
            messages: msgs
                .iter()
                .map(|(r, c)| RawMessage {
                    role: (*r).to_owned(),
                    content: (*c).to_owned(),
                })
                .collect(),
            max_tokens: None,
            max_tokens_field: "max_tokens",
            temperature: None,
        }
    }

    fn err(raw: RawChat) -> ApiError {
        validate(raw, &limits(), "sys").expect_err("invalid")
    }

    #[test]
    fn accepts_a_good_conversation_and_prepends_the_system_prompt() {
        let req = validate(
            chat(&[("user", "hi"), ("assistant", "yo"), ("user", "ok")]),
            &limits(),
            "sys",
        )
        .expect("valid");
        assert_eq!(req.messages.len(), 4);
        assert_eq!(req.messages[0].role, Role::System);
        assert_eq!(req.messages[0].content, "sys");
        assert_eq!(req.max_tokens, 100);
    }

    #[test]
    fn names_the_field_and_the_limit() {
        let e = err(chat(&[]));
        assert_eq!(e.param(), Some("messages"));
        let e = err(chat(&[
            ("user", "a"),
            ("user", "b"),
            ("user", "c"),
            ("user", "d"),
        ]));
        assert!(e.message().contains("limit is 3"), "{}", e.message());
        let e = err(chat(&[("tool", "a")]));
        assert_eq!(e.param(), Some("messages[0].role"));
        let e = err(chat(&[("user", "  ")]));
        assert_eq!(e.param(), Some("messages[0].content"));
        let e = err(chat(&[("user", "01234567890")]));
        assert_eq!(e.code().as_str(), "message_too_long");
        assert!(e.message().contains("limit is 10"), "{}", e.message());
        let e = err(chat(&[("user", "0123456789"), ("user", "0123456789")]));
        assert_eq!(e.code().as_str(), "conversation_too_long");
        let e = err(chat(&[("user", "a"), ("assistant", "b")]));
        assert_eq!(e.param(), Some("messages[1].role"));
        let mut raw = chat(&[("user", "a")]);
        raw.max_tokens = Some(101);
        let e = err(raw);
        assert_eq!(e.param(), Some("max_tokens"));
        assert!(e.message().contains("limit is 100"), "{}", e.message());
        let mut raw = chat(&[("user", "a")]);
        raw.temperature = Some(3.0);
        assert_eq!(err(raw).param(), Some("temperature"));
    }

    #[test]
    fn counts_characters_not_bytes() {
        validate(chat(&[("user", "éééééééééé")]), &limits(), "s").expect("10 chars is fine");
    }

    #[test]
    fn truncate_is_char_safe() {
        assert_eq!(truncate("ééé", 2), "éé");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
