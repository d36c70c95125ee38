//! Shared test helpers: a scripted provider (a test double of our `Provider` trait, for API-layer
//! tests), request builders, an SSE reader, the real binary as a process, and (in `upstream`) the
//! network providers' scaffolding.

pub mod upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use clap::Parser;
use futures_util::StreamExt;
use greenlight::AppState;
use greenlight::Cli;
use greenlight::Config;
use greenlight::provider::{
    ChatRequest, FinishReason, Provider, ProviderError, ProviderEvent, ProviderStream, Readiness,
    Source, Usage,
};
use http_body_util::BodyExt;

/// One step of a scripted answer.
#[derive(Clone, Debug)]
pub enum Act {
    Sources,
    Delta(&'static str),
    Done,
    Sleep(Duration),
    /// Never yields again (like an upstream that hangs).
    Hang,
    Fail(fn() -> ProviderError),
}

/// Counts streams started and streams dropped, so tests can see cancellation.
#[derive(Default)]
pub struct Counters {
    pub started: AtomicUsize,
    pub dropped: AtomicUsize,
    pub last_request: std::sync::Mutex<Option<ChatRequest>>,
}

impl Counters {
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

struct DropGuard(Arc<Counters>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

pub struct Scripted {
    pub script: Vec<Act>,
    pub counters: Arc<Counters>,
    pub ready: Readiness,
}

impl Scripted {
    pub fn new(script: Vec<Act>) -> Arc<Self> {
        Arc::new(Self {
            script,
            counters: Arc::default(),
            ready: Readiness::Ready,
        })
    }
}

pub fn source() -> Source {
    Source {
        id: 1,
        title: "Blue/green".to_owned(),
        source: "docs/blue-green.md#intro".to_owned(),
        passage: "Traffic shifts after the hook passes.".to_owned(),
        score: 1.5,
    }
}

impl Provider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn model(&self) -> &str {
        "scripted-model"
    }
    fn readiness(&self) -> Readiness {
        self.ready.clone()
    }
    fn stream(&self, request: ChatRequest) -> ProviderStream {
        self.counters.started.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = self.counters.last_request.lock() {
            *last = Some(request);
        }
        let guard = DropGuard(Arc::clone(&self.counters));
        let script = self.script.clone();
        Box::pin(async_stream::stream! {
            let _guard = guard;
            for act in script {
                match act {
                    Act::Sources => yield Ok(ProviderEvent::Sources(vec![source()])),
                    Act::Delta(t) => yield Ok(ProviderEvent::Delta(t.to_owned())),
                    Act::Done => yield Ok(ProviderEvent::Done {
                        finish_reason: FinishReason::Stop,
                        usage: Usage { prompt_tokens: 7, completion_tokens: 3 },
                    }),
                    Act::Sleep(d) => tokio::time::sleep(d).await,
                    Act::Hang => std::future::pending::<()>().await,
                    Act::Fail(f) => { yield Err(f()); return; }
                }
            }
        })
    }
}

/// A config as the flags give it (environment variables apply too, as in production).
pub fn config(flags: &[&str]) -> Config {
    let mut argv = vec!["greenlight"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv).expect("test flags parse").serve
}

pub fn app(provider: Arc<Scripted>, flags: &[&str]) -> (Router, AppState) {
    let state = AppState::new(&config(flags), provider);
    (greenlight::router(state.clone()), state)
}

pub fn post_json(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

pub const HELLO: &str = r#"{"messages":[{"role":"user","content":"hello"}]}"#;

pub async fn body_string(response: Response<Body>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

pub async fn body_json(response: Response<Body>) -> serde_json::Value {
    let text = body_string(response).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// One SSE block: its event name (or `None`), data, and whether it is only a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.data))
    }
}

/// Splits an SSE body into blocks (the format is simple enough that tests parse it directly,
/// which also checks the exact wire format the clients see).
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut ev = SseEvent {
                event: None,
                data: String::new(),
                comment: None,
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    ev.event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !ev.data.is_empty() {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                } else if let Some(v) = line.strip_prefix(':') {
                    ev.comment = Some(v.trim().to_owned());
                }
            }
            ev
        })
        .collect()
}

/// The event names of a stream, comments left out.
pub fn names(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.comment.is_none())
        .map(|e| e.event.clone().unwrap_or_else(|| "message".to_owned()))
        .collect()
}

/// Reads a reqwest SSE response to its end.
pub async fn read_stream(response: reqwest::Response) -> Vec<SseEvent> {
    let mut text = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    parse_sse(&text)
}

/// The real `greenlight` binary, started with `PORT=0`; its stdout log lines are collected.
pub struct Process {
    pub child: std::process::Child,
    pub url: String,
    pub lines: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Settings a developer's shell might have set, removed so tests see the defaults.
const CLEARED: &[&str] = &[
    "HOST",
    "PORT",
    "LLM_PROVIDER",
    "LLM_MODEL",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "SYSTEM_PROMPT",
    "DRAIN_SECONDS",
    "KEEPALIVE_SECONDS",
    "GIT_COMMIT",
    "IMAGE_URI",
    "ECS_CONTAINER_METADATA_URI_V4",
    "RATE_LIMIT_PER_MINUTE",
    "LOG_FORMAT",
    "RUST_LOG",
];

pub fn command(env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_greenlight"));
    for var in CLEARED {
        cmd.env_remove(var);
    }
    cmd.env("PORT", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl Process {
    /// Starts the binary and waits for its `listening on http://…` line.
    pub fn start(env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut child = command(env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn greenlight");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = tx.send(url);
                }
                if let Ok(mut all) = sink.lock() {
                    all.push(line);
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server logs its URL");
        Self { child, url, lines }
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in URL")
    }

    pub fn sigterm(&self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill -TERM");
    }

    /// Waits for the exit, failing the test after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let until = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < until,
                "the server did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// JSON log lines whose message is `chat`.
    pub fn chat_logs(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == "chat")
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
