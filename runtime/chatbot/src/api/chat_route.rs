//! `POST /api/chat`: the browser UI's endpoint. A message list in, an SSE stream out:
//! `meta`, `sources`?, `delta`* with throttled `html` snapshots, then `done` or `error`
//! (see README "Chat stream events").

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::json::JsonBody;
use crate::engine::{self, ChatMeta, Route, Step};
use crate::error::ApiError;
use crate::rate_limit::ClientKey;
use crate::render::HtmlSnapshots;
use crate::state::AppState;
use crate::validation::{RawChat, RawMessage, validate};

#[derive(Debug, Deserialize)]
pub struct ChatBody {
    messages: Vec<ChatMessage>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    content: String,
}

/// An SSE event named `name` with `data` as its JSON payload.
pub fn event(name: &'static str, data: &impl Serialize) -> Event {
    match serde_json::to_string(data) {
        Ok(json) => Event::default().event(name).data(json),
        // Our payloads are plain structs; this only guards against a future mistake.
        Err(_) => Event::default()
            .event("error")
            .data(r#"{"code":"internal","message":"could not encode an event","retryable":true}"#),
    }
}

/// A `delta` event's payload: one per token, so no `serde_json::Value` tree (and copy of the text)
/// is built for it.
#[derive(Serialize)]
struct DeltaData<'a> {
    text: &'a str,
}

/// The SSE event of one step of the answer.
pub fn step_event(step: &Step) -> Event {
    match step {
        Step::Sources(sources) => event("sources", &json!({ "sources": sources })),
        Step::Delta(text) => event("delta", &DeltaData { text }),
        Step::Done {
            finish_reason,
            usage,
            timings,
        } => event(
            "done",
            &json!({"finish_reason": finish_reason, "usage": usage, "timings": timings}),
        ),
        Step::Error(e) => event(
            "error",
            &json!({"code": e.code(), "message": e.message(), "retryable": e.code().retryable()}),
        ),
    }
}

/// Least time between two `html` snapshots: rendering the whole answer on every delta would cost
/// O(n²) for long answers, and the browser cannot show more than a few updates a second anyway.
/// [`HtmlSnapshots`] also stretches it as the answer grows, so the total stays about linear.
const HTML_EVERY: Duration = Duration::from_millis(100);

fn html_event(html: String) -> Event {
    event("html", &json!({ "html": html }))
}

/// The stream's events: `meta`, then each step, with throttled `html` snapshots of the answer so
/// far after deltas and a last, complete one before `done` or `error`.
fn events(
    meta: ChatMeta,
    steps: impl Stream<Item = Step> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    async_stream::stream! {
        yield Ok(event(
            "meta",
            &json!({"id": meta.id, "provider": meta.provider, "model": meta.model}),
        ));
        let mut snapshots = HtmlSnapshots::new(HTML_EVERY);
        for await step in steps {
            match &step {
                Step::Delta(text) => {
                    yield Ok(step_event(&step));
                    if let Some(html) = snapshots.push(text) {
                        yield Ok(html_event(html));
                    }
                }
                Step::Done { .. } | Step::Error(_) => {
                    if let Some(html) = snapshots.finish() {
                        yield Ok(html_event(html));
                    }
                    yield Ok(step_event(&step));
                }
                Step::Sources(_) => yield Ok(step_event(&step)),
            }
        }
    }
}

/// `POST /api/chat`. A refusal is marked [`ApiError::reject`]: the route's rejection layer logs it.
pub async fn post_chat(
    State(state): State<AppState>,
    client: Option<Extension<ClientKey>>,
    body: Result<JsonBody<ChatBody>, ApiError>,
) -> Response {
    let client = client.map(|Extension(c)| c);
    let started = body.and_then(|JsonBody(body)| {
        let raw = RawChat {
            messages: body
                .messages
                .into_iter()
                .map(|m| RawMessage {
                    role: m.role,
                    content: m.content,
                })
                .collect(),
            max_tokens: body.max_tokens,
            max_tokens_field: "max_tokens",
            temperature: body.temperature,
        };
        let request = validate(raw, &state.limits, &state.system_prompt)?;
        engine::start(
            &state.provider,
            &state.drain,
            Route::Chat,
            state.client_tag(client),
            request,
        )
    });
    match started {
        Ok((meta, steps)) => Sse::new(events(meta, steps))
            .keep_alive(
                KeepAlive::new()
                    .interval(state.keepalive)
                    .text("keep-alive"),
            )
            .into_response(),
        Err(err) => err.reject(),
    }
}
