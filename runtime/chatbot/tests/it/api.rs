//! In-process router tests: validation and error shapes, rate limit, X-Forwarded-For, SSE event
//! order, keep-alive, cancellation, the OpenAI-compatible shapes.

use std::time::Duration;

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use greenlight::provider::{ProviderError, Readiness, Role};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn answer() -> Vec<Act> {
    vec![
        Act::Sources,
        Act::Delta("Hello"),
        Act::Delta(", world"),
        Act::Done,
    ]
}

/// One request to a fresh app whose provider plays `script`.
async fn send(script: Vec<Act>, flags: &[&str], request: Request<Body>) -> Response<Body> {
    let (router, _) = app(Scripted::new(script), flags);
    router.oneshot(request).await.expect("response")
}

/// The SSE events of one `/api/chat` answer played from `script`.
async fn chat_events(script: Vec<Act>, flags: &[&str]) -> Vec<SseEvent> {
    let res = send(script, flags, post_json("/api/chat", HELLO)).await;
    parse_sse(&body_string(res).await)
}

async fn error_of(router: axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.oneshot(req).await.expect("response");
    let status = res.status();
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let body = body_json(res).await;
    let err = &body["error"];
    for key in ["message", "type", "param", "code"] {
        assert!(err.get(key).is_some(), "error has {key}: {body}");
    }
    (status, err.clone())
}

#[tokio::test]
async fn chat_streams_meta_sources_deltas_done_in_order() {
    let provider = Scripted::new(answer());
    let (router, _) = app(provider.clone(), &[]);
    let res = router
        .oneshot(post_json("/api/chat", HELLO))
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let events = parse_sse(&body_string(res).await);
    assert_eq!(
        names(&events),
        ["meta", "sources", "delta", "html", "delta", "html", "done"]
    );
    let meta = events[0].json();
    assert!(
        meta["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chat-"))
    );
    assert_eq!(meta["provider"], "scripted");
    assert_eq!(meta["model"], "scripted-model");
    assert_eq!(
        events[1].json()["sources"][0]["source"],
        "docs/blue-green.md#intro"
    );
    assert_eq!(events[2].json(), json!({"text": "Hello"}));
    // The first delta is rendered at once; the last snapshot, before `done`, is the whole answer.
    assert_eq!(events[3].json(), json!({"html": "<p>Hello</p>\n"}));
    assert_eq!(events[5].json(), json!({"html": "<p>Hello, world</p>\n"}));
    let done = events[6].json();
    assert_eq!(done["finish_reason"], "stop");
    assert_eq!(
        done["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 3})
    );
    assert!(done["timings"]["ttft_ms"].is_u64());
    assert!(done["timings"]["total_ms"].is_u64());
    // The system prompt comes first, then the client's messages.
    let sent = provider
        .counters
        .last_request
        .lock()
        .expect("lock")
        .clone()
        .expect("a request");
    assert_eq!(sent.messages[0].role, Role::System);
    assert_eq!(sent.messages[1].content, "hello");
}

#[tokio::test]
async fn html_snapshots_are_sanitized_markdown_of_the_whole_answer() {
    let script = vec![
        Act::Delta("# Title\n\n<script>window.x=1</script>\n\n"),
        Act::Delta("[a](javascript:alert(1)) **b**"),
        Act::Done,
    ];
    let events = chat_events(script, &[]).await;
    let html: Vec<String> = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("html"))
        .map(|e| e.json()["html"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        html.last().map(String::as_str),
        Some(
            // Raw HTML is shown as text, never run (issue 11); the javascript: href is dropped.
            "<h1>Title</h1>\n<p>&lt;script&gt;window.x=1&lt;/script&gt;</p>\n<p><a target=\"_blank\" rel=\"noopener noreferrer\">a</a> <strong>b</strong></p>\n"
        ),
        "{events:?}"
    );
    // The deltas still carry the raw text; only the html is sanitized.
    assert_eq!(
        events[1].json()["text"],
        "# Title\n\n<script>window.x=1</script>\n\n"
    );
}

#[tokio::test]
async fn provider_errors_end_the_stream_with_an_error_event() {
    type Case = (fn() -> ProviderError, &'static str, bool);
    let cases: [Case; 4] = [
        (
            || ProviderError::Timeout(Duration::from_secs(3)),
            "upstream_timeout",
            true,
        ),
        (
            || ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
            },
            "rate_limited_upstream",
            true,
        ),
        (
            || ProviderError::Interrupted("cut".into()),
            "stream_interrupted",
            true,
        ),
        (
            || ProviderError::Misconfigured("no key".into()),
            "upstream_error",
            false,
        ),
    ];
    for (fail, code, retryable) in cases {
        let events = chat_events(vec![Act::Delta("par"), Act::Fail(fail)], &[]).await;
        assert_eq!(names(&events), ["meta", "delta", "html", "error"]);
        let err = events[3].json();
        assert_eq!(err["code"], code);
        assert_eq!(err["retryable"], retryable);
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn a_provider_stream_that_just_stops_is_an_interruption() {
    let events = chat_events(vec![Act::Delta("half")], &[]).await;
    assert_eq!(names(&events), ["meta", "delta", "html", "error"]);
    assert_eq!(events[3].json()["code"], "stream_interrupted");
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_flow_while_the_model_is_silent() {
    let script = vec![
        Act::Sleep(Duration::from_secs(35)),
        Act::Delta("late"),
        Act::Done,
    ];
    let events = chat_events(script, &["--keepalive-seconds", "10"]).await;
    let keepalives = events
        .iter()
        .filter(|e| e.comment.as_deref() == Some("keep-alive"))
        .count();
    assert_eq!(keepalives, 3, "one every 10 s over 35 s: {events:?}");
    assert_eq!(names(&events), ["meta", "delta", "html", "done"]);
}

#[tokio::test]
async fn dropping_the_client_drops_the_provider_stream_at_once() {
    let provider = Scripted::new(vec![Act::Delta("first"), Act::Hang]);
    let (router, _) = app(provider.clone(), &[]);
    let res = router
        .oneshot(post_json("/api/chat", HELLO))
        .await
        .expect("response");
    let mut body = res.into_body();
    // Read until the first delta, so the provider stream is surely running.
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        let frame = body.frame().await.expect("a frame").expect("ok frame");
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert_eq!(provider.counters.started(), 1);
    assert_eq!(provider.counters.dropped(), 0);
    drop(body);
    assert_eq!(
        provider.counters.dropped(),
        1,
        "the upstream is cancelled with the client"
    );
}

#[tokio::test]
async fn validation_errors_are_openai_shaped_and_name_field_and_limit() {
    let provider = Scripted::new(answer());
    let flags = [
        "--max-messages",
        "2",
        "--max-message-chars",
        "10",
        "--max-total-chars",
        "15",
        "--max-output-tokens",
        "100",
        "--max-body-bytes",
        "300",
        "--rate-limit-per-minute",
        "0",
    ];
    let (router, _) = app(provider.clone(), &flags);
    let cases: Vec<(&str, &str, StatusCode, Option<&str>, &str)> = vec![
        (
            "/api/chat",
            "{",
            StatusCode::BAD_REQUEST,
            None,
            "invalid_json",
        ),
        (
            "/api/chat",
            r#"{"messages":[]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages"),
            "empty_messages",
        ),
        (
            "/api/chat",
            r#"{}"#,
            StatusCode::BAD_REQUEST,
            Some("messages"),
            "missing_field",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":5}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[0].content"),
            "invalid_field",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"robot","content":"hi"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[0].role"),
            "invalid_role",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":" "}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[0].content"),
            "empty_content",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":"12345678901"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[0].content"),
            "message_too_long",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":"1234567890"},{"role":"user","content":"1234567890"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages"),
            "conversation_too_long",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"user","content":"c"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages"),
            "too_many_messages",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[1].role"),
            "last_message_not_user",
        ),
        (
            "/api/chat",
            r#"{"messages":[{"role":"user","content":"a"}],"max_tokens":101}"#,
            StatusCode::BAD_REQUEST,
            Some("max_tokens"),
            "max_tokens_too_large",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"x","messages":[{"role":"user","content":"a"}],"max_completion_tokens":1000}"#,
            StatusCode::BAD_REQUEST,
            Some("max_completion_tokens"),
            "max_tokens_too_large",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"x","messages":[{"role":"tool","content":"a"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[0].role"),
            "invalid_role",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
            StatusCode::BAD_REQUEST,
            Some("messages[0].content[0].type"),
            "unsupported_content",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"x","n":2,"messages":[{"role":"user","content":"a"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("n"),
            "unsupported_n",
        ),
    ];
    for (path, body, status, param, code) in cases {
        let (got, err) = error_of(router.clone(), post_json(path, body)).await;
        assert_eq!(got, status, "{body}: {err}");
        assert_eq!(err["param"].as_str(), param, "{body}: {err}");
        assert_eq!(err["code"], code, "{body}: {err}");
    }
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(400)
    );
    let (status, err) = error_of(router.clone(), post_json("/api/chat", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("300 bytes")),
        "{err}"
    );
    let plain = Request::post("/api/chat")
        .header("content-type", "text/plain")
        .body(Body::from(HELLO))
        .expect("req");
    let (status, err) = error_of(router.clone(), plain).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(err["param"], "Content-Type");
    let none = Request::post("/v1/chat/completions")
        .body(Body::from(HELLO))
        .expect("req");
    assert_eq!(
        error_of(router.clone(), none).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        provider.counters.started(),
        0,
        "no invalid request reaches the provider"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let (router, _) = app(Scripted::new(answer()), &[]);
    let (status, err) = error_of(router.clone(), get("/nope")).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = error_of(router.clone(), get("/api/chat")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

fn with_xff(xff: &str) -> Request<Body> {
    let mut req = post_json("/api/chat", HELLO);
    req.headers_mut()
        .insert("x-forwarded-for", xff.parse().expect("header"));
    req
}

#[tokio::test]
async fn rate_limit_keys_on_the_rightmost_forwarded_address() {
    let (router, _) = app(
        Scripted::new(answer()),
        &["--rate-limit-per-minute", "1", "--rate-limit-burst", "2"],
    );
    for _ in 0..2 {
        let res = router
            .clone()
            .oneshot(with_xff("6.6.6.6, 1.2.3.4"))
            .await
            .expect("res");
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A different forged left entry does not give the same client a new bucket.
    let res = router
        .clone()
        .oneshot(with_xff("7.7.7.7, 1.2.3.4"))
        .await
        .expect("res");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = body_json(res).await;
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    // Another client (rightmost entry) is not limited.
    let res = router
        .clone()
        .oneshot(with_xff("1.2.3.4, 5.6.7.8"))
        .await
        .expect("res");
    assert_eq!(res.status(), StatusCode::OK);
    // Health checks are never rate limited.
    for _ in 0..5 {
        let res = router.clone().oneshot(get("/health")).await.expect("res");
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn health_ready_version() {
    let (router, state) = app(
        Scripted::new(answer()),
        &[
            "--git-commit",
            "abc123",
            "--image-uri",
            "repo/greenlight:abc123",
        ],
    );
    let res = router.clone().oneshot(get("/health")).await.expect("res");
    assert_eq!(body_json(res).await, json!({"status": "ok"}));
    let res = router.clone().oneshot(get("/ready")).await.expect("res");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await, json!({"status": "ready"}));
    let res = router.clone().oneshot(get("/version")).await.expect("res");
    assert_eq!(
        body_json(res).await,
        json!({"version": env!("CARGO_PKG_VERSION"), "commit": "abc123", "image": "repo/greenlight:abc123", "provider": "scripted", "model": "scripted-model"})
    );
    // Draining: /ready says so and new chats are refused with 503 `draining`.
    state.drain().begin();
    let res = router.clone().oneshot(get("/ready")).await.expect("res");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body_json(res).await,
        json!({"status": "not_ready", "reasons": ["draining"]})
    );
    let (status, err) = error_of(router.clone(), post_json("/api/chat", HELLO)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("draining"))
    );
    let (status, _) = error_of(router, post_json("/v1/chat/completions", HELLO)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // A provider that is not ready gives its reason.
    let not_ready = std::sync::Arc::new(Scripted {
        script: vec![],
        counters: Default::default(),
        ready: Readiness::NotReady("knowledge base not loaded".into()),
    });
    let (router, _) = app(not_ready, &[]);
    let res = router.oneshot(get("/ready")).await.expect("res");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body_json(res).await["reasons"],
        json!(["knowledge base not loaded"])
    );
}

#[tokio::test]
async fn completions_non_streaming() {
    let (router, _) = app(Scripted::new(answer()), &[]);
    let body = r#"{"model":"whatever","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"unknown_field":{"a":1},"stream":false}"#;
    let res = router
        .oneshot(post_json("/v1/chat/completions", body))
        .await
        .expect("res");
    assert_eq!(res.status(), StatusCode::OK);
    let v = body_json(res).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "scripted-model");
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "Hello, world"})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
    );
}

#[tokio::test]
async fn completions_non_streaming_maps_provider_errors_to_statuses() {
    let completion = |fail| {
        send(
            vec![Act::Fail(fail)],
            &[],
            post_json("/v1/chat/completions", HELLO),
        )
    };
    let res = completion(|| ProviderError::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
    })
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "7");
    assert_eq!(
        body_json(res).await["error"]["code"],
        "rate_limited_upstream"
    );
    let res = completion(|| ProviderError::Timeout(Duration::from_secs(1))).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn completions_streaming_chunks_usage_and_done() {
    let (router, _) = app(Scripted::new(answer()), &[]);
    let body = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let res = router
        .oneshot(post_json("/v1/chat/completions", body))
        .await
        .expect("res");
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let events = parse_sse(&body_string(res).await);
    let data: Vec<&str> = events
        .iter()
        .filter(|e| e.comment.is_none())
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("json chunk"))
        .collect();
    assert!(
        events.iter().all(|e| e.event.is_none()),
        "OpenAI streams use unnamed events"
    );
    let id = chunks[0]["id"].clone();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert!(c["created"].is_u64());
        assert_eq!(c["model"], "scripted-model");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello, world");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 10);
}

#[tokio::test]
async fn completions_streaming_error_is_an_error_chunk_without_done() {
    let (router, _) = app(
        Scripted::new(vec![
            Act::Delta("a"),
            Act::Fail(|| ProviderError::Interrupted("cut".into())),
        ]),
        &[],
    );
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let res = router
        .oneshot(post_json("/v1/chat/completions", body))
        .await
        .expect("res");
    let events = parse_sse(&body_string(res).await);
    let last = events.last().expect("events");
    assert_eq!(last.json()["error"]["code"], "stream_interrupted");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn models_list_and_retrieve() {
    let (router, _) = app(Scripted::new(answer()), &[]);
    let res = router
        .clone()
        .oneshot(get("/v1/models"))
        .await
        .expect("res");
    let v = body_json(res).await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "scripted-model");
    assert_eq!(v["data"][0]["object"], "model");
    let res = router
        .clone()
        .oneshot(get("/v1/models/scripted-model"))
        .await
        .expect("res");
    assert_eq!(res.status(), StatusCode::OK);
    let (status, err) = error_of(router, get("/v1/models/gpt-9")).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("model_not_found"))
    );
}

#[tokio::test]
async fn the_page_is_served() {
    let (router, _) = app(Scripted::new(answer()), &[]);
    let res = router.clone().oneshot(get("/")).await.expect("res");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("content-security-policy"));
    assert!(body_string(res).await.contains("<html"));
    // Security headers cover API errors too.
    let res = router.oneshot(get("/nope")).await.expect("res");
    assert!(res.headers().contains_key("x-content-type-options"));
}

/// A provider whose stream panics: a bug in a backend must end the chat, not the server.
struct Panicking;

impl greenlight::provider::Provider for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn model(&self) -> &str {
        "m"
    }
    fn readiness(&self) -> Readiness {
        Readiness::Ready
    }
    fn stream(&self, _: greenlight::provider::ChatRequest) -> greenlight::provider::ProviderStream {
        Box::pin(futures_util::stream::poll_fn(
            |_| -> std::task::Poll<Option<_>> { panic!("provider bug") },
        ))
    }
}

#[tokio::test]
async fn a_panicking_provider_ends_the_chat_with_an_internal_error() {
    let state = greenlight::AppState::new(&config(&[]), std::sync::Arc::new(Panicking));
    let router = greenlight::router(state);
    let res = router
        .clone()
        .oneshot(post_json("/api/chat", HELLO))
        .await
        .expect("res");
    let events = parse_sse(&body_string(res).await);
    assert_eq!(names(&events), ["meta", "error"]);
    assert_eq!(events[1].json()["code"], "internal");
    let res = router.oneshot(get("/health")).await.expect("res");
    assert_eq!(res.status(), StatusCode::OK);
}
