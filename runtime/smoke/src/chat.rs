//! The chat check: one prompt streamed through `POST /api/chat` (SSE, docs/contract.md).

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use crate::config::SmokeConfig;
use crate::http::{describe, excerpt, read_limited};
use crate::report::{Check, millis};

#[derive(Deserialize)]
struct Delta {
    text: String,
}

#[derive(Deserialize)]
struct StreamError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Meta {
    provider: Option<String>,
    model: Option<String>,
}

/// What the stream has shown so far.
#[derive(Default)]
struct Progress {
    answer: String,
    ttft: Option<Duration>,
    provider: Option<String>,
}

/// Runs one chat and judges it: a 200 event stream, a first `delta` within the TTFT budget,
/// a non-empty answer, and a `done` event within the total budget. An `error` event fails it.
pub(crate) async fn check(client: &Client, config: &SmokeConfig, round: u32) -> Check {
    let start = Instant::now();
    let mut progress = Progress::default();
    let outcome = stream_chat(client, config, start, &mut progress).await;
    let elapsed = start.elapsed();
    let chars = progress.answer.trim().chars().count();
    let (passed, detail) = match outcome {
        Ok(()) if chars == 0 => (false, "done without any answer text".to_owned()),
        Ok(()) => (
            true,
            format!(
                "{chars} chars from {}; ttft {} ms, total {} ms",
                progress.provider.as_deref().unwrap_or("unknown provider"),
                progress.ttft.map_or(0, millis),
                millis(elapsed)
            ),
        ),
        Err(reason) => (false, reason),
    };
    let mut check = Check::new("chat", round, passed, elapsed, detail);
    check.ttft_ms = progress.ttft.map(millis);
    check
}

async fn stream_chat(
    client: &Client,
    config: &SmokeConfig,
    start: Instant,
    progress: &mut Progress,
) -> Result<(), String> {
    let ttft_deadline = start + config.ttft_budget;
    let total_deadline = start + config.total_budget;
    let over_ttft = || {
        format!(
            "no answer text within the ttft budget of {} ms",
            config.ttft_budget.as_millis()
        )
    };
    let over_total = || {
        format!(
            "no done event within the total budget of {} ms",
            config.total_budget.as_millis()
        )
    };

    let request = client
        .post(config.endpoint("/api/chat"))
        .header(ACCEPT, "text/event-stream")
        .json(&json!({
            "messages": [{"role": "user", "content": config.prompt}],
            "max_tokens": config.max_tokens,
        }))
        .send();
    let response = timeout_at(ttft_deadline, request)
        .await
        .map_err(|_| over_ttft())?
        .map_err(|e| format!("POST /api/chat failed: {}", describe(&e)))?;

    let status = response.status();
    if !status.is_success() {
        let body = timeout_at(total_deadline, read_limited(response))
            .await
            .ok()
            .and_then(Result::ok);
        return Err(format!(
            "POST /api/chat answered {status}: {}",
            excerpt(body.as_deref().unwrap_or(""))
        ));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        return Err(format!(
            "POST /api/chat answered {content_type:?}, not text/event-stream"
        ));
    }

    let mut events = response.bytes_stream().eventsource();
    loop {
        let (deadline, over): (Instant, &dyn Fn() -> String) = if progress.ttft.is_none() {
            (ttft_deadline, &over_ttft)
        } else {
            (total_deadline, &over_total)
        };
        let event = match timeout_at(deadline, events.next()).await {
            Err(_) => return Err(over()),
            Ok(None) => return Err("the stream ended without a done event".to_owned()),
            Ok(Some(Err(e))) => return Err(format!("the stream broke: {}", describe(&e))),
            Ok(Some(Ok(event))) => event,
        };
        match event.event.as_str() {
            "meta" => {
                if let Ok(meta) = serde_json::from_str::<Meta>(&event.data) {
                    progress.provider = match (meta.provider, meta.model) {
                        (Some(p), Some(m)) => Some(format!("{p}/{m}")),
                        (p, _) => p,
                    };
                }
            }
            "delta" => {
                let delta: Delta = serde_json::from_str(&event.data)
                    .map_err(|e| format!("bad delta event ({e}): {}", excerpt(&event.data)))?;
                progress.answer.push_str(&delta.text);
                if progress.ttft.is_none() && !delta.text.trim().is_empty() {
                    progress.ttft = Some(start.elapsed());
                }
            }
            "done" => {
                if progress.ttft.is_none() {
                    return Err("done without any answer text".to_owned());
                }
                if Instant::now() > total_deadline {
                    return Err(over_total());
                }
                return Ok(());
            }
            "error" => {
                let error: StreamError = serde_json::from_str(&event.data).unwrap_or(StreamError {
                    code: None,
                    message: Some(excerpt(&event.data)),
                });
                return Err(format!(
                    "error event {}: {}",
                    error.code.as_deref().unwrap_or("without code"),
                    error.message.as_deref().unwrap_or("")
                ));
            }
            // `sources`, `html` and anything newer carry nothing this check judges.
            _ => {}
        }
    }
}
