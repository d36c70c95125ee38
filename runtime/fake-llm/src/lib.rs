//! A local fake LLM upstream for Greenlight's tests and benchmarks.
//!
//! It speaks OpenAI's chat completions (streamed and not) and Bedrock's ConverseStream, and
//! misbehaves on demand through markers in the last user message (`[[slow]]`, `[[429]]`,
//! `[[500]]`, `[[cut]]`, `[[malformed]]`, `[[hang]]`, `[[long]]`, `[[markdown]]`, `[[hostile]]`,
//! `[[echo]]`) or through `POST /_control/fail-next`. Start it in-process with
//! [`FakeLlm::start`] or as the `fake-llm` binary.

mod bedrock;
mod body;
mod config;
mod control;
mod openai;
mod scenario;
mod state;
mod stats;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::Config;
pub use stats::Stats;

use state::{AppState, FailNext};

/// The fake upstream's routes.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route(
            "/model/{model_id}/converse-stream",
            post(bedrock::converse_stream),
        )
        .route("/_control/fail-next", post(control::fail_next))
        .route("/_stats", get(control::stats))
        .fallback(|| async {
            openai::error_response(
                StatusCode::NOT_FOUND,
                "no such route on fake-llm",
                "invalid_request_error",
                Value::Null,
            )
        })
        .with_state(state)
}

/// Serves the fake upstream on an already bound listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router(AppState::new(config)))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A fake upstream running inside the current tokio runtime; stops when dropped.
#[derive(Debug)]
pub struct FakeLlm {
    addr: SocketAddr,
    state: AppState,
    task: JoinHandle<()>,
}

impl FakeLlm {
    /// Binds `config.host:config.port` (port 0 picks a free one) and starts serving.
    pub async fn start(config: Config) -> io::Result<Self> {
        let listener = TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let state = AppState::new(config);
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            // A failing accept loop ends the fake; the test using it then sees connection errors.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// Address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the Bedrock endpoint URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`, as `OPENAI_BASE_URL` expects.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// The counters right now.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Waits until the counters match `what` (they change after the response, e.g. on a
    /// client's disconnect), checking every 10 ms.
    ///
    /// # Panics
    /// When they do not match within `within`: the calling test has failed.
    pub async fn wait_for(&self, within: Duration, what: impl Fn(&Stats) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !what(&self.stats()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fake's counters never matched within {within:?}: {:?}",
                self.stats()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The next `count` chat requests fail with `status` (429 or 5xx), later ones succeed.
    ///
    /// # Panics
    /// When `status` is neither 429 nor a 5xx: a bug in the calling test.
    pub fn fail_next(&self, count: u32, status: u16) {
        assert!(
            control::valid_fail_status(status),
            "fail_next status must be 429 or 5xx, got {status}"
        );
        self.state.set_fail_next(FailNext { count, status });
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}
