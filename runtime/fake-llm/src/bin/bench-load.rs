//! `bench-load`: a bounded load generator for OpenAI-compatible streaming chat endpoints.
//!
//! Opens `--concurrency` streaming chats at once until `--requests` answers were asked for (or
//! `--max-seconds` passed), and prints one JSON line: throughput, errors, time to first token and
//! total time percentiles, tokens. Only for loopback targets: the benchmark of BENCHMARKS.md.
//!
//! `--route completions` (default) asks `{url}/chat/completions` and counts the chunks with text;
//! `--route chat` asks greenlight's own `{url}/api/chat` and counts its `delta` events (the `html`
//! snapshots come along and are read, not counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Bounded streaming-chat load generator (loopback only)")]
struct Args {
    /// OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    url: String,
    /// Streams open at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Answers to ask for in total (default: 10 per stream).
    #[arg(long)]
    requests: Option<usize>,
    /// Stop starting new requests after this many seconds.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// Give up on one answer after this many seconds.
    #[arg(long, default_value_t = 60)]
    request_timeout_seconds: u64,
    /// The user message.
    #[arg(long, default_value = "Benchmark: answer briefly.")]
    prompt: String,
    #[arg(long, default_value = "fake-model")]
    model: String,
    /// Which streaming API `--url` serves.
    #[arg(long, value_enum, default_value_t = RouteKind::Completions)]
    route: RouteKind,
}

/// The streaming APIs the load generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RouteKind {
    /// OpenAI's `POST {url}/chat/completions`, `stream: true` (any OpenAI-compatible server).
    Completions,
    /// greenlight's `POST {url}/api/chat` (events `meta`, `delta`, `html`, `done`, `error`).
    Chat,
}

/// What one SSE event of an answer says.
enum Seen {
    /// A token (a chunk or delta with text).
    Token,
    /// Anything else that does not end the answer.
    Other,
    /// The answer ended well.
    End,
    Failed(String),
}

impl RouteKind {
    fn path(self) -> &'static str {
        match self {
            Self::Completions => "/chat/completions",
            Self::Chat => "/api/chat",
        }
    }

    fn read(self, event: &eventsource_stream::Event) -> Seen {
        match self {
            Self::Completions => {
                if event.data == "[DONE]" {
                    return Seen::End;
                }
                let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
                    return Seen::Failed("a chunk is not JSON".to_owned());
                };
                let has_text = chunk["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty());
                if has_text { Seen::Token } else { Seen::Other }
            }
            Self::Chat => match event.event.as_str() {
                "delta" => match serde_json::from_str::<Value>(&event.data) {
                    Ok(delta) if delta["text"].as_str().is_some_and(|t| !t.is_empty()) => {
                        Seen::Token
                    }
                    Ok(_) => Seen::Other,
                    Err(_) => Seen::Failed("a delta is not JSON".to_owned()),
                },
                "done" => Seen::End,
                "error" => Seen::Failed(format!("error event: {}", event.data)),
                _ => Seen::Other,
            },
        }
    }
}

/// One answer's measurements.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ttft: Duration,
    total: Duration,
    tokens: usize,
}

#[derive(Debug)]
enum Outcome {
    Ok(Sample),
    Err(String),
}

fn loopback_only(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).context("--url")?;
    match parsed.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1") => Ok(()),
        other => bail!("--url must point at this machine (127.0.0.1/localhost), not {other:?}"),
    }
}

async fn one_answer(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    route: RouteKind,
) -> Outcome {
    let started = Instant::now();
    let response = match client.post(url).json(body).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Outcome::Err(format!("status {}", r.status().as_u16())),
        Err(e) => return Outcome::Err(format!("send: {e}")),
    };
    let mut events = response.bytes_stream().eventsource();
    let mut ttft = None;
    let mut tokens = 0;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => return Outcome::Err(format!("stream: {e}")),
        };
        match route.read(&event) {
            Seen::Token => {
                tokens += 1;
                ttft.get_or_insert_with(|| started.elapsed());
            }
            Seen::Other => {}
            Seen::Failed(e) => return Outcome::Err(e),
            Seen::End => {
                return match ttft {
                    Some(ttft) => Outcome::Ok(Sample {
                        ttft,
                        total: started.elapsed(),
                        tokens,
                    }),
                    None => Outcome::Err("no token before the end".to_owned()),
                };
            }
        }
    }
    Outcome::Err("stream ended before its end event".to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    loopback_only(&args.url)?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let total = args.requests.unwrap_or(args.concurrency * 10);
    let url = format!("{}{}", args.url.trim_end_matches('/'), args.route.path());
    let messages = json!([{"role": "user", "content": args.prompt}]);
    let body = match args.route {
        RouteKind::Completions => {
            json!({"model": args.model, "stream": true, "messages": messages})
        }
        RouteKind::Chat => json!({"messages": messages}),
    };
    let route = args.route;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(args.request_timeout_seconds))
        .build()?;

    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, url, body, next) =
                (client.clone(), url.clone(), body.clone(), next.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                    outcomes.push(one_answer(&client, &url, &body, route).await);
                }
                outcomes
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut errors = Vec::new();
    for worker in workers {
        for outcome in worker.await? {
            match outcome {
                Outcome::Ok(sample) => samples.push(sample),
                Outcome::Err(e) => errors.push(e),
            }
        }
    }
    let elapsed = started.elapsed();

    let mut ttft: Vec<f64> = samples.iter().map(|s| millis(s.ttft)).collect();
    let mut totals: Vec<f64> = samples.iter().map(|s| millis(s.total)).collect();
    ttft.sort_by(f64::total_cmp);
    totals.sort_by(f64::total_cmp);
    let tokens: usize = samples.iter().map(|s| s.tokens).sum();
    let mut first_errors = errors.clone();
    first_errors.sort();
    first_errors.dedup();
    first_errors.truncate(5);
    let report = json!({
        "url": args.url,
        "route": format!("{:?}", args.route).to_lowercase(),
        "concurrency": args.concurrency,
        "answers": samples.len(),
        "errors": errors.len(),
        "error_kinds": first_errors,
        "elapsed_s": elapsed.as_secs_f64(),
        "answers_per_s": samples.len() as f64 / elapsed.as_secs_f64(),
        "tokens": tokens,
        "tokens_per_answer": if samples.is_empty() { 0.0 } else { tokens as f64 / samples.len() as f64 },
        "ttft_ms": {"p50": percentile(&ttft, 50.0), "p99": percentile(&ttft, 99.0), "max": percentile(&ttft, 100.0)},
        "total_ms": {"p50": percentile(&totals, 50.0), "p99": percentile(&totals, 99.0), "max": percentile(&totals, 100.0)},
    });
    println!("{report}");
    Ok(())
}
