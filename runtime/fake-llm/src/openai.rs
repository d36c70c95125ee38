//! `POST /v1/chat/completions` and `GET /v1/models`, shaped like OpenAI's API including the quirks
//! real OpenAI-compatible providers send (empty `finish_reason`, `usage: {}`, unknown fields, a
//! usage chunk with no choices), so clients must parse leniently.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{Step, hang, play};
use crate::scenario::{Scenario, TOKENS_BEFORE_TROUBLE};
use crate::state::{AppState, Verdict, estimate_tokens};
use crate::stats::AnswerGuard;

#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
}

impl InMessage {
    /// A string content, or the `text` parts of an array content.
    fn text(&self) -> String {
        match &self.content {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        }
    }
}

/// OpenAI's error body.
pub(crate) fn error_response(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: Value,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

/// The deliberate failure for `[[429]]`, `[[500]]` and fail-next.
fn failure(status: u16) -> Response {
    match status {
        429 => {
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests (fake-llm).",
                "requests",
                json!("rate_limit_exceeded"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        other => {
            let status = StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(
                status,
                "The server had an error while processing your request (fake-llm).",
                "server_error",
                Value::Null,
            )
        }
    }
}

pub(crate) async fn models(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{"id": state.config.model, "object": "model", "created": 0, "owned_by": "greenlight-fake-llm"}],
    }))
}

pub(crate) async fn chat_completions(State(state): State<AppState>, body: Bytes) -> Response {
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("invalid request body: {err}"),
                "invalid_request_error",
                Value::Null,
            );
        }
    };
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(InMessage::text)
        .unwrap_or_default();
    let scenario = match state.judge(&last_user) {
        Verdict::Fail(status) => return failure(status),
        Verdict::Answer(scenario) => scenario,
    };
    let guard = AnswerGuard::new(state.counters.clone());
    if scenario.hang {
        return hang(guard).await;
    }

    let answer = Answer::new(&state, &request, &scenario);
    let (steps, content_type) = if request.stream {
        (answer.stream_steps(&scenario), "text/event-stream")
    } else {
        (answer.whole_steps(&scenario), "application/json")
    };
    let mut response = play(steps, guard).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Everything needed to render one answer.
struct Answer<'a> {
    id: String,
    created: u64,
    model: String,
    tokens: Vec<String>,
    finish_reason: &'static str,
    prompt_tokens: u64,
    include_usage: bool,
    scenario: &'a Scenario,
    state: &'a AppState,
}

impl<'a> Answer<'a> {
    fn new(state: &'a AppState, request: &ChatRequest, scenario: &'a Scenario) -> Self {
        let mut tokens = scenario.tokens(&state.config);
        let limit = request.max_completion_tokens.or(request.max_tokens);
        let mut finish_reason = "stop";
        if let Some(limit) = limit.and_then(|l| usize::try_from(l).ok())
            && tokens.len() > limit
        {
            tokens.truncate(limit);
            finish_reason = "length";
        }
        let prompt_tokens = request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.text()) + 4)
            .sum();
        Self {
            id: format!("chatcmpl-fake{}", state.next_id()),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            model: request
                .model
                .clone()
                .unwrap_or_else(|| state.config.model.clone()),
            tokens,
            finish_reason,
            prompt_tokens,
            include_usage: request
                .stream_options
                .as_ref()
                .is_some_and(|o| o.include_usage),
            scenario,
            state,
        }
    }

    fn usage(&self) -> Value {
        let completion = self.tokens.len() as u64;
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        })
    }

    fn chunk(&self, choices: Value, usage: Value) -> Bytes {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": choices,
            "usage": usage,
            // Real providers add fields clients do not know; parsers must ignore them.
            "obfuscation": "x9",
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    fn stream_steps(&self, scenario: &Scenario) -> Vec<Step> {
        let config = &self.state.config;
        let delay = scenario.token_delay(config);
        let mut steps = vec![
            Step::Wait(scenario.first_token_delay(config)),
            // The role delta: `finish_reason: ""` and `usage: {}` are quirks real upstreams send.
            Step::Send(self.chunk(
                json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                        "logprobs": null, "finish_reason": ""}]),
                json!({}),
            )),
        ];
        for (i, token) in self.tokens.iter().enumerate() {
            if i > 0 {
                steps.push(Step::Wait(delay));
            }
            if i == TOKENS_BEFORE_TROUBLE {
                if self.scenario.malformed {
                    steps.push(Step::Send(Bytes::from_static(
                        b"data: {\"choices\": [{\"delta\": this is not json\n\n",
                    )));
                }
                if self.scenario.cut {
                    steps.push(Step::Cut);
                    return steps;
                }
            }
            steps.push(Step::Send(self.chunk(
                json!([{"index": 0, "delta": {"content": token}, "logprobs": null, "finish_reason": null}]),
                Value::Null,
            )));
        }
        steps.push(Step::Send(self.chunk(
            json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": self.finish_reason}]),
            Value::Null,
        )));
        if self.include_usage && !scenario.no_usage {
            steps.push(Step::Send(self.chunk(json!([]), self.usage())));
        }
        steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
        steps
    }

    fn whole_steps(&self, scenario: &Scenario) -> Vec<Step> {
        let config = &self.state.config;
        let generation =
            scenario.token_delay(config) * (self.tokens.len().saturating_sub(1) as u32);
        let mut steps = vec![Step::Wait(scenario.first_token_delay(config) + generation)];
        if scenario.cut {
            steps.push(Step::Send(Bytes::from_static(
                b"{\"id\": \"chatcmpl-cut\", \"choi",
            )));
            steps.push(Step::Cut);
            return steps;
        }
        if scenario.malformed {
            steps.push(Step::Send(Bytes::from_static(b"this is not json")));
            return steps;
        }
        let body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.tokens.concat(), "refusal": null},
                "logprobs": null,
                "finish_reason": self.finish_reason,
            }],
            "usage": self.usage(),
        });
        steps.push(Step::Send(Bytes::from(body.to_string())));
        steps
    }
}
