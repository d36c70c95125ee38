//! One chat, independent of the API it came through: runs the provider stream, watches the drain
//! deadline, measures timings and writes the chat's log line.
//!
//! The returned stream owns the provider stream. When the client goes away, the HTTP layer drops
//! the response body, which drops this stream and with it the upstream request (no orphaned
//! generation); the log line then says `cancelled`.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures_util::{Stream, StreamExt};

use crate::error::ApiError;
use crate::provider::{ChatRequest, FinishReason, ProviderError, ProviderEvent, Source, Usage};
use crate::rate_limit::ClientKey;
use crate::state::AppState;

/// Which API a chat came through (the `route` of its log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Chat,
    Completions,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "/api/chat",
            Self::Completions => "/v1/chat/completions",
        }
    }
}

/// Time to first token and total time of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Timings {
    pub ttft_ms: u64,
    pub total_ms: u64,
}

/// Why an answer ended badly; `code` is one of the contract's stream error codes.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamError {
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    /// The status a non-streaming response reports for it.
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
}

impl StreamError {
    fn from_provider(err: &ProviderError) -> Self {
        let api = ApiError::from_provider(err);
        Self {
            code: err.code(),
            message: err.to_string(),
            retryable: err.retryable(),
            status: api.status,
            retry_after: api.retry_after,
        }
    }

    fn draining() -> Self {
        Self {
            code: "draining",
            message:
                "the server is shutting down; the answer was cut at the end of the drain window"
                    .to_owned(),
            retryable: true,
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: None,
        }
    }

    fn ended_early() -> Self {
        Self {
            code: "stream_interrupted",
            message: "the model's answer ended before it was complete".to_owned(),
            retryable: true,
            status: StatusCode::BAD_GATEWAY,
            retry_after: None,
        }
    }
}

impl StreamError {
    fn internal(message: &str) -> Self {
        Self {
            code: "internal",
            message: message.to_owned(),
            retryable: true,
            status: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None,
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        let mut api = ApiError::internal(e.message);
        api.status = e.status;
        api.code = e.code;
        api.retry_after = e.retry_after;
        if e.status == StatusCode::TOO_MANY_REQUESTS {
            api.kind = "rate_limit_error";
        }
        api
    }
}

/// One step of an answer, in order: `Sources?`, `Delta*`, then `Done` or `Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Sources(Vec<Source>),
    Delta(String),
    Done {
        finish_reason: FinishReason,
        usage: Usage,
        timings: Timings,
    },
    Error(StreamError),
}

/// What a chat is: its id and who answers.
#[derive(Debug, Clone)]
pub struct ChatMeta {
    pub id: String,
    pub provider: &'static str,
    pub model: String,
}

/// Writes the chat's single log line, as `cancelled` if the chat is dropped before it ended.
struct ChatLog {
    route: Route,
    provider: &'static str,
    model: String,
    client: Option<String>,
    started: Instant,
    ttft: Option<Duration>,
    written: bool,
}

impl ChatLog {
    fn ms(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    fn write(&mut self, outcome: &str, code: Option<&str>, usage: Usage) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        tracing::info!(
            target: "greenlight::chat",
            route = self.route.as_str(),
            provider = self.provider,
            model = %self.model,
            client = self.client.as_deref(),
            status = 200u16,
            outcome,
            error_code = code,
            ttft_ms = self.ttft.map(Self::ms),
            total_ms = Self::ms(self.started.elapsed()),
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            "chat"
        );
    }
}

impl Drop for ChatLog {
    fn drop(&mut self) {
        self.write("cancelled", None, Usage::default());
    }
}

/// Logs a chat refused before it started (validation, rate limit, draining).
pub fn log_rejected(state: &AppState, route: Route, client: Option<ClientKey>, err: &ApiError) {
    tracing::info!(
        target: "greenlight::chat",
        route = route.as_str(),
        provider = state.provider.name(),
        model = state.provider.model(),
        client = client_tag(state, client).as_deref(),
        status = err.status.as_u16(),
        outcome = "rejected",
        error_code = err.code,
        "chat"
    );
}

fn client_tag(state: &AppState, client: Option<ClientKey>) -> Option<String> {
    let limiter = state.rate_limiter.as_ref()?;
    client.map(|c| limiter.client_tag(c))
}

/// Starts a chat: refused with 503 while draining, else its metadata and its answer stream.
pub fn start(
    state: &AppState,
    route: Route,
    client: Option<ClientKey>,
    request: ChatRequest,
) -> Result<(ChatMeta, impl Stream<Item = Step> + Send + 'static), ApiError> {
    let token = state.drain.stream_token().ok_or_else(ApiError::draining)?;
    let meta = ChatMeta {
        id: format!("chat-{}", uuid::Uuid::new_v4().simple()),
        provider: state.provider.name(),
        model: state.provider.model().to_owned(),
    };
    let mut log = ChatLog {
        route,
        provider: meta.provider,
        model: meta.model.clone(),
        client: client_tag(state, client),
        started: Instant::now(),
        ttft: None,
        written: false,
    };
    let provider = state.provider.clone();
    let deadline = state.drain.deadline();
    let stream = async_stream::stream! {
        // Held for the life of the stream: the drain waits for it.
        let _token = token;
        // A panicking provider ends this chat with an `internal` error, not the connection.
        let mut upstream = AssertUnwindSafe(provider.stream(request)).catch_unwind();
        tokio::pin!(deadline);
        let mut sources_sent = false;
        loop {
            let item = tokio::select! {
                biased;
                () = &mut deadline => {
                    // Drop the upstream request before telling the client.
                    drop(upstream);
                    log.write("drained", Some("draining"), Usage::default());
                    yield Step::Error(StreamError::draining());
                    break;
                }
                item = upstream.next() => item,
            };
            match item {
                Some(Ok(Ok(ProviderEvent::Sources(sources)))) => {
                    // The contract sends sources once, before the deltas.
                    if !sources_sent && log.ttft.is_none() {
                        sources_sent = true;
                        yield Step::Sources(sources);
                    }
                }
                Some(Ok(Ok(ProviderEvent::Delta(text)))) => {
                    if text.is_empty() {
                        continue;
                    }
                    if log.ttft.is_none() {
                        log.ttft = Some(log.started.elapsed());
                    }
                    yield Step::Delta(text);
                }
                Some(Ok(Ok(ProviderEvent::Done { finish_reason, usage }))) => {
                    let total = log.started.elapsed();
                    let timings = Timings {
                        ttft_ms: ChatLog::ms(log.ttft.unwrap_or(total)),
                        total_ms: ChatLog::ms(total),
                    };
                    // Log before the last yield: the consumer may drop us right after it.
                    log.write("ok", None, usage);
                    yield Step::Done { finish_reason, usage, timings };
                    break;
                }
                Some(Err(_panic)) => {
                    tracing::error!(provider = log.provider, "the provider panicked");
                    let err = StreamError::internal("the provider failed unexpectedly");
                    log.write("error", Some(err.code), Usage::default());
                    yield Step::Error(err);
                    break;
                }
                Some(Ok(Err(err))) => {
                    let err = StreamError::from_provider(&err);
                    log.write("error", Some(err.code), Usage::default());
                    yield Step::Error(err);
                    break;
                }
                None => {
                    let err = StreamError::ended_early();
                    log.write("error", Some(err.code), Usage::default());
                    yield Step::Error(err);
                    break;
                }
            }
        }
    };
    Ok((meta, stream))
}
