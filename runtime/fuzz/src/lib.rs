//! Shared machinery of the fuzz targets in `tests/`: one tokio runtime per process, the real router
//! with small limits (so every limit is within reach of generated inputs), a loopback upstream that
//! answers with the current input, and the HTML safety checks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use greenlight::fuzzing::{AppState, Config, OpenAiProvider, OpenAiSettings, Provider, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The limits the request target runs with: small, so that generated inputs cross each of them.
pub const LIMIT_FLAGS: &[&str] = &[
    "greenlight",
    "--max-body-bytes",
    "2048",
    "--max-messages",
    "4",
    "--max-message-chars",
    "64",
    "--max-total-chars",
    "160",
    "--max-output-tokens",
    "32",
    "--rate-limit-per-minute",
    "0",
];

/// The server's own flags (its `Config`), parsed as `greenlight serve` parses them.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    config: Config,
}

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

fn openai_settings(base_url: String) -> OpenAiSettings {
    OpenAiSettings {
        base_url,
        api_key: None,
        model: "fuzz-model".to_owned(),
        connect_timeout: Duration::from_secs(1),
        first_token_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        max_retries: 0,
    }
}

/// The real router with [`LIMIT_FLAGS`]. Its provider points at a loopback port nothing listens
/// on; the request target never reads an answer's body, so no chat reaches it.
pub fn api() -> &'static Router {
    static API: OnceLock<Router> = OnceLock::new();
    API.get_or_init(|| {
        let config = Flags::try_parse_from(LIMIT_FLAGS)
            .expect("the fuzz limits parse")
            .config;
        let provider = OpenAiProvider::new(openai_settings("http://127.0.0.1:9/v1".to_owned()))
            .expect("an openai provider");
        let _guard = runtime().enter();
        router(AppState::new(&config, Arc::new(provider)))
    })
}

/// One request through the router: status, content type and body (the body only when it is not
/// a stream).
pub fn request(
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, String, Bytes) {
    let mut builder = Request::post(path);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    let req = builder.body(Body::from(body)).expect("a request");
    runtime().block_on(async {
        let response = api()
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = if ct.starts_with("text/event-stream") {
            Bytes::new() // a chat started: dropping the body ends it without calling the model
        } else {
            response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default()
        };
        (status, ct, body)
    })
}

/// A loopback OpenAI-compatible upstream whose every answer is the bytes last given to
/// [`Upstream::answer`], sent in the given pieces (so frames split anywhere are exercised).
pub struct Upstream {
    addr: SocketAddr,
    next: Arc<Mutex<Vec<Bytes>>>,
}

impl Upstream {
    pub fn get() -> &'static Upstream {
        static UP: OnceLock<Upstream> = OnceLock::new();
        UP.get_or_init(|| {
            let next: Arc<Mutex<Vec<Bytes>>> = Arc::default();
            let served = next.clone();
            let app = Router::new().route(
                "/v1/chat/completions",
                axum::routing::post(move || {
                    let pieces = served.lock().map(|p| p.clone()).unwrap_or_default();
                    async move {
                        let stream = futures_util::stream::iter(
                            pieces.into_iter().map(Ok::<_, std::io::Error>),
                        );
                        axum::response::Response::builder()
                            .header(header::CONTENT_TYPE, "text/event-stream")
                            .body(Body::from_stream(stream))
                            .expect("a response")
                    }
                }),
            );
            let listener = runtime()
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("a loopback port");
            let addr = listener.local_addr().expect("its address");
            runtime().spawn(async move { axum::serve(listener, app).await });
            Upstream { addr, next }
        })
    }

    /// Streams one chat through the real OpenAI provider against `pieces`; returns what it
    /// yielded, or `None` if it did not end within `bound`.
    pub fn answer(
        &self,
        pieces: Vec<Bytes>,
        bound: Duration,
    ) -> Option<Vec<Result<greenlight::fuzzing::ProviderEvent, String>>> {
        if let Ok(mut next) = self.next.lock() {
            *next = pieces;
        }
        let provider = OpenAiProvider::new(openai_settings(format!("http://{}/v1", self.addr)))
            .expect("an openai provider");
        let request = greenlight::fuzzing::ChatRequest {
            messages: vec![greenlight::fuzzing::Message {
                role: greenlight::fuzzing::Role::User,
                content: "fuzz".to_owned(),
            }],
            max_tokens: 32,
            temperature: None,
        };
        runtime().block_on(async {
            let stream = provider.stream(request);
            let collect = stream
                .map(|item| {
                    item.map_err(|e| {
                        greenlight::fuzzing::ApiError::from(&e)
                            .code()
                            .as_str()
                            .to_owned()
                    })
                })
                .collect::<Vec<_>>();
            tokio::time::timeout(bound, collect).await.ok()
        })
    }
}

/// Runs `test` on `PROPTEST_CASES` inputs of `strategy` (default 256; proptest shrinks a failure
/// to a minimal input) and prints how many ran and how fast: the exec count of a fuzz run
/// (`cargo test -- --nocapture` shows it). A failure panics with the minimal input.
pub fn fuzz<S: proptest::strategy::Strategy>(
    target: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), proptest::test_runner::TestCaseError>,
) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let config = proptest::test_runner::Config {
        // Crashes become explicit regression tests (tests/regressions.rs), not seed files.
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let inputs = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |value| {
        inputs.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    let n = inputs.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz target {target}: {n} inputs in {secs:.1} s ({:.0}/s)",
        n as f64 / secs.max(1e-9)
    );
    if let Err(e) = result {
        panic!("fuzz target {target} failed: {e}");
    }
}

/// Why `html` (the renderer's output) could run script in a browser, if it could.
pub fn unsafe_html(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script", "<iframe", "<object", "<embed", "<svg", "<style", "<form",
    ] {
        if lower.contains(bad) {
            return Some(format!("contains {bad}"));
        }
    }
    // Every tag's attributes: no event handler, no script URL.
    let mut rest = lower.as_str();
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let (tag, after) = rest.split_at(name_end);
        let (attributes, next) = attributes(after);
        for (name, value) in attributes {
            if name.starts_with("on") {
                return Some(format!("event handler {name} on <{tag}>"));
            }
            let value = value.trim_start();
            if ["javascript:", "vbscript:", "data:"]
                .iter()
                .any(|s| value.starts_with(s))
            {
                return Some(format!("script URL in {name} of <{tag}>"));
            }
        }
        rest = next;
    }
    None
}

/// The attributes of a start tag (`s` begins right after the tag name), as a browser splits them
/// (quoted values may hold spaces and `>`), and the text after the tag.
fn attributes(s: &str) -> (Vec<(&str, &str)>, &str) {
    let mut found = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() || b[i] == b'>' {
            return (found, &s[(i + 1).min(s.len())..]);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = &s[start..i];
        let mut value = "";
        if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let quote = b[i];
                let vstart = i + 1;
                i = vstart;
                while i < b.len() && b[i] != quote {
                    i += 1;
                }
                value = &s[vstart..i];
                i += 1;
            } else {
                let vstart = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = &s[vstart..i];
            }
        }
        if !name.is_empty() {
            found.push((name, value));
        }
    }
    (found, "")
}

#[cfg(test)]
mod tests {
    use super::unsafe_html;

    #[test]
    fn the_safety_check_sees_what_a_browser_would_run() {
        assert_eq!(
            unsafe_html("<p>on <b>x</b> onerror=1 javascript:</p>"),
            None,
            "text is harmless"
        );
        assert_eq!(
            unsafe_html(r#"<img src="x" alt="a onerror=y">"#),
            None,
            "quoted values are values"
        );
        assert!(unsafe_html(r#"<img src=x onerror="alert(1)">"#).is_some());
        assert!(unsafe_html(r#"<a href="JavaScript:alert(1)">x</a>"#).is_some());
        assert!(unsafe_html("<ScRiPt>alert(1)</script>").is_some());
    }
}
