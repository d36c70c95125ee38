//! `POST /model/{modelId}/converse-stream`: Amazon Bedrock's ConverseStream on the real AWS
//! event-stream wire format, so the real `aws-sdk-bedrockruntime` client can be tested locally.
//! Request signatures are not checked.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as FrameValue, Message};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{Step, hang, play};
use crate::scenario::TOKENS_BEFORE_TROUBLE;
use crate::state::{AppState, Verdict, estimate_tokens};
use crate::stats::AnswerGuard;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseRequest {
    #[serde(default)]
    messages: Vec<ConverseMessage>,
    #[serde(default)]
    system: Vec<ContentBlock>,
    #[serde(default)]
    inference_config: Option<InferenceConfig>,
}

#[derive(Debug, Deserialize)]
struct ConverseMessage {
    role: String,
    #[serde(default)]
    content: Vec<ContentBlock>,
}

#[derive(Debug, Deserialize)]
struct ContentBlock {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig {
    #[serde(default)]
    max_tokens: Option<u64>,
}

fn text_of(blocks: &[ContentBlock]) -> String {
    blocks.iter().filter_map(|b| b.text.as_deref()).collect()
}

/// Bedrock's error shape: the type in `x-amzn-errortype`, the message in the body.
fn aws_error(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({"message": message}))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}

fn failure(status: u16) -> Response {
    match status {
        429 => aws_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many requests, please wait before trying again (fake-llm).",
        ),
        _ => aws_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an error processing your request (fake-llm).",
        ),
    }
}

/// One event-stream frame. Real Bedrock pads payloads with a `p` field; clients ignore it.
fn frame(event_type: &'static str, mut payload: Value) -> Step {
    if let Some(object) = payload.as_object_mut() {
        object.insert("p".to_owned(), json!("abcdefghijkl"));
    }
    let message = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(
            ":event-type",
            FrameValue::String(event_type.into()),
        ))
        .add_header(Header::new(
            ":content-type",
            FrameValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            FrameValue::String("event".into()),
        ));
    let mut buffer = Vec::new();
    match write_message_to(&message, &mut buffer) {
        Ok(()) => Step::Send(Bytes::from(buffer)),
        // Only oversized frames fail to encode; a cut tells the client something went wrong.
        Err(_) => Step::Cut,
    }
}

pub(crate) async fn converse_stream(State(state): State<AppState>, body: Bytes) -> Response {
    let request: ConverseRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &format!("invalid request body: {err}"),
            );
        }
    };
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| text_of(&m.content))
        .unwrap_or_default();
    let scenario = match state.judge(&last_user) {
        Verdict::Fail(status) => return failure(status),
        Verdict::Answer(scenario) => scenario,
    };
    let guard = AnswerGuard::new(state.counters.clone());
    if scenario.hang {
        return hang(guard).await;
    }

    let config = &state.config;
    let mut tokens = scenario.tokens(config);
    let mut stop_reason = "end_turn";
    let limit = request.inference_config.and_then(|c| c.max_tokens);
    if let Some(limit) = limit.and_then(|l| usize::try_from(l).ok())
        && tokens.len() > limit
    {
        tokens.truncate(limit);
        stop_reason = "max_tokens";
    }
    let input_tokens: u64 = estimate_tokens(&text_of(&request.system))
        + request
            .messages
            .iter()
            .map(|m| estimate_tokens(&text_of(&m.content)) + 4)
            .sum::<u64>();

    let mut steps = vec![
        Step::Wait(scenario.first_token_delay(config)),
        frame("messageStart", json!({"role": "assistant"})),
    ];
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            steps.push(Step::Wait(scenario.token_delay(config)));
        }
        if i == TOKENS_BEFORE_TROUBLE {
            if scenario.malformed {
                // A frame whose prelude and checksums are garbage.
                steps.push(Step::Send(Bytes::from_static(&[0u8; 16])));
            }
            if scenario.cut {
                steps.push(Step::Cut);
            }
        }
        steps.push(frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": token}}),
        ));
    }
    // After a cut nothing more is played, so these frames only go out on a whole answer.
    let output_tokens = tokens.len() as u64;
    steps.push(frame("contentBlockStop", json!({"contentBlockIndex": 0})));
    steps.push(frame("messageStop", json!({"stopReason": stop_reason})));
    if !scenario.no_usage {
        steps.push(frame(
            "metadata",
            json!({
                "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                          "totalTokens": input_tokens + output_tokens},
                "metrics": {"latencyMs": 1},
            }),
        ));
    }
    let mut response = play(steps, guard).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    response
}
