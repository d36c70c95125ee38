//! End to end through the real binary with `LLM_PROVIDER=openai` against the fake upstream
//! (`greenlight-fake-llm`): upstream failures, client disconnect, SIGTERM drain.

use std::time::{Duration, Instant};

use crate::common::upstream::fake_llm;
use crate::common::*;
use greenlight_fake_llm::{Config as FakeConfig, FakeLlm};
use serde_json::{Value, json};

fn greenlight(fake: &FakeLlm, extra: &[(&str, &str)]) -> Process {
    let base = fake.openai_base_url();
    let mut env = vec![
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("LLM_MODEL", "fake-model"),
        ("UPSTREAM_FIRST_TOKEN_TIMEOUT_MS", "1000"),
        ("UPSTREAM_IDLE_TIMEOUT_MS", "1000"),
        ("UPSTREAM_MAX_RETRIES", "0"),
        ("RATE_LIMIT_PER_MINUTE", "0"),
    ];
    env.extend_from_slice(extra);
    Process::start(&env)
}

fn chat_body(prompt: &str) -> String {
    json!({"messages": [{"role": "user", "content": prompt}]}).to_string()
}

async fn post(url: &str, path: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST")
}

/// Reads a stream until its first `delta` event; returns the response to keep reading.
async fn until_first_delta(res: reqwest::Response) -> (reqwest::Response, String) {
    let mut res = res;
    let mut seen = String::new();
    // `/v1` streams open with a role-only chunk before the upstream answers: wait for a second.
    while !seen.contains("event: delta") && seen.matches("chat.completion.chunk").count() < 2 {
        let chunk = res
            .chunk()
            .await
            .expect("chunk")
            .expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    (res, seen)
}

async fn rest(res: reqwest::Response, seen: String) -> Vec<SseEvent> {
    let mut text = seen;
    let mut res = res;
    while let Some(chunk) = res.chunk().await.expect("chunk") {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    parse_sse(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_end_with_a_clear_error_event_and_the_server_stays_healthy() {
    let fake = fake_llm(FakeConfig::default()).await;
    let server = greenlight(&fake, &[]);
    let cases = [
        ("[[429]]", "rate_limited_upstream"),
        ("[[500]]", "upstream_error"),
        ("[[cut]]", "stream_interrupted"),
        ("[[malformed]]", "upstream_error"),
        ("[[hang]]", "upstream_timeout"),
    ];
    for (marker, code) in cases {
        let res = post(
            &server.url,
            "/api/chat",
            chat_body(&format!("hello {marker}")),
        )
        .await;
        assert_eq!(res.status(), 200, "{marker}");
        let events = read_stream(res).await;
        let named = names(&events);
        assert_eq!(named.first().map(String::as_str), Some("meta"), "{marker}");
        assert_eq!(
            named.last().map(String::as_str),
            Some("error"),
            "{marker}: {named:?}"
        );
        let err = events.last().expect("events").json();
        assert_eq!(err["code"], code, "{marker}: {err}");
        assert!(!named.contains(&"done".to_owned()), "{marker}");
    }
    // The non-streaming OpenAI route gives the upstream's 429 with its Retry-After.
    let body = json!({"model": "x", "messages": [{"role": "user", "content": "hi [[429]]"}]});
    let res = post(&server.url, "/v1/chat/completions", body.to_string()).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["error"]["code"], "rate_limited_upstream");

    // Still healthy, and a normal chat works.
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let events = read_stream(post(&server.url, "/api/chat", chat_body("hello")).await).await;
    assert_eq!(names(&events).last().map(String::as_str), Some("done"));
    let logs = server.chat_logs();
    assert!(
        logs.iter()
            .any(|l| l["outcome"] == "ok" && l["provider"] == "openai")
    );
    assert!(
        logs.iter()
            .any(|l| l["outcome"] == "error" && l["error_code"] == "upstream_timeout")
    );
    for line in &logs {
        let text = line.to_string();
        assert!(!text.contains("hello"), "prompts are never logged: {text}");
        for key in [
            "route", "provider", "model", "status", "outcome", "total_ms",
        ] {
            assert!(line.get(key).is_some(), "{key} in {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_cancels_the_upstream_request() {
    let fake = fake_llm(FakeConfig::default()).await;
    let server = greenlight(&fake, &[]);
    for path in ["/api/chat", "/v1/chat/completions"] {
        let before = fake.stats().cancelled;
        let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "go [[long]]"}]});
        let (res, _) = until_first_delta(post(&server.url, path, body.to_string()).await).await;
        drop(res);
        let until = Instant::now() + Duration::from_secs(5);
        while fake.stats().cancelled == before {
            assert!(
                Instant::now() < until,
                "{path}: the upstream saw no cancel: {:?}",
                fake.stats()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let until = Instant::now() + Duration::from_secs(5);
    while server
        .chat_logs()
        .iter()
        .filter(|l| l["outcome"] == "cancelled")
        .count()
        < 2
    {
        assert!(
            Instant::now() < until,
            "logged as cancelled: {:?}",
            server.chat_logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_open_streams_finish_then_exits_0() {
    let fake = fake_llm(FakeConfig {
        tokens: 30,
        token_delay_ms: 40,
        ..FakeConfig::default()
    })
    .await;
    let mut server = greenlight(&fake, &[("DRAIN_SECONDS", "20")]);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            until_first_delta(post(&server.url, "/api/chat", chat_body("tell me")).await).await,
        );
    }
    let v1 =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "tell me"}]});
    let v1_open =
        until_first_delta(post(&server.url, "/v1/chat/completions", v1.to_string()).await).await;

    server.sigterm();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = reqwest::get(format!("{}/ready", server.url))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert!(
        ready["reasons"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("draining")))
    );
    let refused = post(&server.url, "/api/chat", chat_body("too late")).await;
    assert_eq!(refused.status(), 503);
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(refused["error"]["code"], "draining");

    for (res, seen) in open {
        let events = rest(res, seen).await;
        assert_eq!(
            names(&events).last().map(String::as_str),
            Some("done"),
            "{events:?}"
        );
    }
    let events = rest(v1_open.0, v1_open.1).await;
    assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit 0 after the drain");
    assert_eq!(fake.stats().cancelled, 0, "no answer was cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_longer_than_the_drain_window_get_a_final_event() {
    let fake = fake_llm(FakeConfig::default()).await;
    let mut server = greenlight(&fake, &[("DRAIN_SECONDS", "1")]);
    let (res, seen) =
        until_first_delta(post(&server.url, "/api/chat", chat_body("go [[long]]")).await).await;
    let started = Instant::now();
    server.sigterm();
    let events = rest(res, seen).await;
    let last = events.last().expect("events");
    assert_eq!(last.event.as_deref(), Some("error"));
    assert_eq!(last.json()["code"], "draining");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(
        fake.stats().cancelled,
        1,
        "the upstream request was cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_is_chosen_by_configuration() {
    let fake = fake_llm(FakeConfig::default()).await;
    let endpoint = fake.base_url();
    let server = Process::start(&[
        ("LLM_PROVIDER", "bedrock"),
        ("LLM_MODEL", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("BEDROCK_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "eu-west-1"),
        // The fake does not check signatures; the SDK only needs some credentials to sign with.
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let events = read_stream(post(&server.url, "/api/chat", chat_body("hello")).await).await;
    assert_eq!(events[0].json()["provider"], "bedrock");
    assert_eq!(
        names(&events).last().map(String::as_str),
        Some("done"),
        "{events:?}"
    );
}
