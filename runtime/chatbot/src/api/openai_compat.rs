//! `GET /v1/models` and `POST /v1/chat/completions`, compatible with the official OpenAI clients:
//! streaming (`chat.completion.chunk` objects, then `data: [DONE]`) and not, with OpenAI's error
//! body. Unknown request fields are ignored, since the clients send many.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::json::JsonBody;
use crate::engine::{self, ChatMeta, Route, Step};
use crate::error::{ApiError, ErrorCode};
use crate::rate_limit::ClientKey;
use crate::state::AppState;
use crate::validation::{RawChat, RawMessage, validate};

mod chunk;

use chunk::{ChunkWriter, UsageOut, finish_str};

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    messages: Vec<OaMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    n: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct OaMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// OpenAI accepts a string or a list of typed parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

fn content_text(index: usize, content: Option<Content>) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(text)) => Ok(text),
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.into_iter().enumerate() {
                if part.kind != "text" {
                    return Err(ApiError::invalid(
                        format!("messages[{index}].content[{j}].type"),
                        ErrorCode::UnsupportedContent,
                        format!(
                            "messages[{index}].content[{j}].type {:?} is not supported; only \"text\" parts are",
                            part.kind.chars().take(40).collect::<String>()
                        ),
                    ));
                }
                text.push_str(part.text.as_deref().unwrap_or_default());
            }
            Ok(text)
        }
    }
}

fn to_raw(req: CompletionRequest) -> Result<(RawChat, bool, bool), ApiError> {
    if let Some(n) = req.n.filter(|&n| n != 1) {
        return Err(ApiError::invalid(
            "n",
            ErrorCode::UnsupportedN,
            format!("n is {n}; only n = 1 is supported"),
        ));
    }
    let messages = req
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(RawMessage {
                role: m.role,
                content: content_text(i, m.content)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let (max_tokens, field) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(n), _) => (Some(n), "max_completion_tokens"),
        (None, n) => (n, "max_tokens"),
    };
    let stream = req.stream.unwrap_or(false);
    let include_usage = req
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    Ok((
        RawChat {
            messages,
            max_tokens,
            max_tokens_field: field,
            temperature: req.temperature,
        },
        stream,
        include_usage,
    ))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `POST /v1/chat/completions`. A refusal is marked [`ApiError::reject`]: the route's rejection
/// layer logs it.
pub async fn completions(
    State(state): State<AppState>,
    client: Option<Extension<ClientKey>>,
    body: Result<JsonBody<CompletionRequest>, ApiError>,
) -> Response {
    let client = client.map(|Extension(c)| c);
    let started = body.and_then(|JsonBody(body)| {
        let (raw, stream, include_usage) = to_raw(body)?;
        let request = validate(raw, &state.limits, &state.system_prompt)?;
        let (meta, steps) = engine::start(
            &state.provider,
            &state.drain,
            Route::Completions,
            state.client_tag(client),
            request,
        )?;
        Ok((meta, steps, stream, include_usage))
    });
    match started {
        Ok((meta, steps, true, include_usage)) => Sse::new(chunks(meta, steps, include_usage))
            .keep_alive(
                KeepAlive::new()
                    .interval(state.keepalive)
                    .text("keep-alive"),
            )
            .into_response(),
        Ok((meta, steps, false, _)) => complete(meta, steps).await,
        Err(err) => err.reject(),
    }
}

/// The non-streaming answer: the whole text once the provider is done.
async fn complete(meta: ChatMeta, steps: impl Stream<Item = Step> + Send + 'static) -> Response {
    let mut steps = std::pin::pin!(steps);
    let mut text = String::new();
    while let Some(step) = steps.next().await {
        match step {
            Step::Sources(_) => {}
            Step::Delta(delta) => text.push_str(&delta),
            Step::Done {
                finish_reason,
                usage,
                ..
            } => {
                return Json(json!({
                    "id": meta.id,
                    "object": "chat.completion",
                    "created": now_unix(),
                    "model": meta.model,
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": null,
                        "finish_reason": finish_str(finish_reason),
                    }],
                    "usage": UsageOut::from(usage),
                }))
                .into_response();
            }
            Step::Error(err) => return err.into_response(),
        }
    }
    ApiError::internal("the answer ended without a result").into_response()
}

/// The streaming answer as `chat.completion.chunk` events, then `[DONE]`; a failure is sent as an
/// `{"error":{…}}` event (which the OpenAI clients raise) and the stream ends without `[DONE]`.
fn chunks(
    meta: ChatMeta,
    steps: impl Stream<Item = Step> + Send + 'static,
    include_usage: bool,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let mut writer = ChunkWriter::new(meta.id, meta.model, now_unix(), include_usage);
    async_stream::stream! {
        yield Ok(writer.role());
        for await step in steps {
            match step {
                Step::Sources(_) => {}
                Step::Delta(text) => yield Ok(writer.text(&text)),
                Step::Done { finish_reason, usage, .. } => {
                    yield Ok(writer.finish(finish_reason));
                    if let Some(last) = writer.usage(usage) {
                        yield Ok(last);
                    }
                    yield Ok(Event::default().data("[DONE]"));
                }
                Step::Error(err) => {
                    yield Ok(Event::default().data(json!({ "error": err.object() }).to_string()));
                }
            }
        }
    }
}

fn model_object(state: &AppState) -> Value {
    json!({
        "id": state.provider.model(),
        "object": "model",
        "created": state.started_unix,
        "owned_by": format!("greenlight-{}", state.provider.name()),
    })
}

pub async fn models(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"object": "list", "data": [model_object(&state)]}))
}

pub async fn model(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if id == state.provider.model() {
        Json(model_object(&state)).into_response()
    } else {
        ApiError::model_not_found(&id, state.provider.model()).into_response()
    }
}
