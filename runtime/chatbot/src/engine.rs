//! The chat engine: one chat, independent of the API it came through (the HTTP routes are in
//! `api`). It runs the provider stream, watches the drain deadline, measures timings and writes the
//! chat's log line and its metrics (recorded where the log line is written, so the two agree).
//!
//! The returned stream owns the provider stream. When the client goes away, the HTTP layer drops
//! the response body, which drops this stream and with it the upstream request (no orphaned
//! generation); the log line then says `cancelled`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, ErrorCode};
use crate::metrics;
use crate::provider::{ChatRequest, FinishReason, Provider, ProviderEvent, Source, Usage};
use crate::shutdown::Drain;

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
    /// Why the answer ended badly (its code is one of the contract's stream error codes).
    Error(ApiError),
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

    fn write(&mut self, outcome: &'static str, code: Option<ErrorCode>, usage: Usage) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        self.record(outcome, code, usage);
        tracing::info!(
            target: "greenlight::chat",
            route = self.route.as_str(),
            provider = self.provider,
            model = %self.model,
            client = self.client.as_deref(),
            status = 200u16,
            outcome,
            error_code = code.map(ErrorCode::as_str),
            ttft_ms = self.ttft.map(Self::ms),
            total_ms = Self::ms(self.started.elapsed()),
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            "chat"
        );
    }
}

impl ChatLog {
    fn start(route: Route, meta: &ChatMeta, client: Option<String>) -> Self {
        ::metrics::counter!(metrics::CHATS_STARTED, "route" => route.as_str()).increment(1);
        ::metrics::gauge!(metrics::STREAMS_OPEN).increment(1.0);
        Self {
            route,
            provider: meta.provider,
            model: meta.model.clone(),
            client,
            started: Instant::now(),
            ttft: None,
            written: false,
        }
    }

    /// The chat's metrics: its outcome, error code, timings and tokens.
    fn record(&self, outcome: &'static str, code: Option<ErrorCode>, usage: Usage) {
        let route = self.route.as_str();
        ::metrics::counter!(metrics::CHATS_FINISHED, "route" => route, "outcome" => outcome)
            .increment(1);
        if let Some(code) = code {
            ::metrics::counter!(metrics::CHAT_ERRORS, "route" => route, "code" => code.as_str())
                .increment(1);
        }
        if let Some(ttft) = self.ttft {
            ::metrics::histogram!(metrics::TTFT, "route" => route).record(ttft.as_secs_f64());
        }
        if outcome == OUTCOME_OK {
            ::metrics::histogram!(metrics::CHAT_DURATION, "route" => route)
                .record(self.started.elapsed().as_secs_f64());
            ::metrics::counter!(metrics::PROMPT_TOKENS, "route" => route)
                .increment(u64::from(usage.prompt_tokens));
            ::metrics::counter!(metrics::COMPLETION_TOKENS, "route" => route)
                .increment(u64::from(usage.completion_tokens));
        }
    }
}

/// The outcome of an answer that ended with `done`.
const OUTCOME_OK: &str = "ok";

impl Drop for ChatLog {
    fn drop(&mut self) {
        self.write("cancelled", None, Usage::default());
        ::metrics::gauge!(metrics::STREAMS_OPEN).decrement(1.0);
    }
}

/// Logs a chat refused before it started (validation, rate limit, draining): the same line as a
/// chat's, with the outcome `rejected`.
pub fn log_rejected(
    route: &str,
    provider: &dyn Provider,
    client: Option<&str>,
    status: StatusCode,
    code: ErrorCode,
) {
    ::metrics::counter!(metrics::CHAT_ERRORS, "route" => route.to_owned(), "code" => code.as_str())
        .increment(1);
    if code == ErrorCode::RateLimitExceeded {
        ::metrics::counter!(metrics::RATE_LIMITED, "route" => route.to_owned()).increment(1);
    }
    tracing::info!(
        target: "greenlight::chat",
        route,
        provider = provider.name(),
        model = provider.model(),
        client,
        status = status.as_u16(),
        outcome = "rejected",
        error_code = code.as_str(),
        "chat"
    );
}

/// The last step of an answer cut at the end of the drain window.
fn drained() -> ApiError {
    ApiError::new(
        ErrorCode::Draining,
        "the server is shutting down; the answer was cut at the end of the drain window",
    )
}

/// The last step of an answer whose stream ended without saying it was done.
fn ended_early() -> ApiError {
    ApiError::new(
        ErrorCode::StreamInterrupted,
        "the model's answer ended before it was complete",
    )
}

/// Starts a chat through `route` for `client` (its log tag): refused with 503 while draining, else
/// its metadata and its answer stream.
pub fn start(
    provider: &Arc<dyn Provider>,
    drain: &Drain,
    route: Route,
    client: Option<String>,
    request: ChatRequest,
) -> Result<(ChatMeta, impl Stream<Item = Step> + Send + 'static), ApiError> {
    let token = drain.stream_token().ok_or_else(ApiError::draining)?;
    let meta = ChatMeta {
        id: format!("chat-{}", uuid::Uuid::new_v4().simple()),
        provider: provider.name(),
        model: provider.model().to_owned(),
    };
    let mut log = ChatLog::start(route, &meta, client);
    let provider = Arc::clone(provider);
    let deadline = drain.deadline();
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
                    let err = drained();
                    log.write("drained", Some(err.code()), Usage::default());
                    yield Step::Error(err);
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
                    log.write(OUTCOME_OK, None, usage);
                    yield Step::Done { finish_reason, usage, timings };
                    break;
                }
                Some(Err(_panic)) => {
                    tracing::error!(provider = log.provider, "the provider panicked");
                    let err = ApiError::internal("the provider failed unexpectedly");
                    log.write("error", Some(err.code()), Usage::default());
                    yield Step::Error(err);
                    break;
                }
                Some(Ok(Err(err))) => {
                    let err = ApiError::from(&err);
                    log.write("error", Some(err.code()), Usage::default());
                    yield Step::Error(err);
                    break;
                }
                None => {
                    let err = ended_early();
                    log.write("error", Some(err.code()), Usage::default());
                    yield Step::Error(err);
                    break;
                }
            }
        }
    };
    Ok((meta, stream))
}
