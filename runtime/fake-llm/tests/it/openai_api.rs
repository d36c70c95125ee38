//! The fake upstream's OpenAI surface, driven over real HTTP.

// A test that cannot unwrap has failed: panicking is the point.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use greenlight_fake_llm::{Config, FakeLlm};
use serde_json::{Value, json};

fn chat(content: &str, stream: bool) -> Value {
    json!({
        "model": "m",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": content}],
    })
}

async fn post(fake: &FakeLlm, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.openai_base_url()))
        .json(body)
        .send()
        .await
        .expect("request reaches fake-llm")
}

/// The `data:` payloads of an SSE body.
fn data_lines(body: &str) -> Vec<&str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

fn content_of(lines: &[&str]) -> String {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn streams_like_openai_with_quirks_usage_and_done() {
    let fake = FakeLlm::start(Config {
        tokens: 5,
        ..Config::default()
    })
    .await
    .unwrap();
    let response = post(&fake, &chat("hello", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let lines = data_lines(&body);
    assert_eq!(lines.last(), Some(&"[DONE]"));
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["choices"][0]["finish_reason"], "");
    assert_eq!(first["usage"], json!({}));
    assert_eq!(content_of(&lines).split(' ').count(), 5);
    let finish: Value = serde_json::from_str(lines[lines.len() - 3]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage: Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    fake.wait_for(Duration::from_secs(2), |s| {
        s.completed == 1 && s.active == 0
    })
    .await;
    assert_eq!(fake.stats().requests, 1);
}

#[tokio::test]
async fn answers_whole_completions_and_lists_models() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let body: Value = post(&fake, &chat("[[echo]] say <b>this</b>", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "say <b>this</b>");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let models: Value = reqwest::get(format!("{}/models", fake.openai_base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "fake-model");
}

#[tokio::test]
async fn max_tokens_truncates_with_length() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let mut request = chat("hi", false);
    request["max_tokens"] = json!(3);
    let body: Value = post(&fake, &request).await.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn status_markers_and_fail_next() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let limited = post(&fake, &chat("[[429]]", true)).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(post(&fake, &chat("[[500]]", true)).await.status(), 500);

    let control = reqwest::Client::new()
        .post(format!("{}/_control/fail-next", fake.base_url()))
        .json(&json!({"count": 2, "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), 200);
    assert_eq!(post(&fake, &chat("hi", true)).await.status(), 503);
    assert_eq!(post(&fake, &chat("hi", true)).await.status(), 503);
    assert_eq!(post(&fake, &chat("hi", true)).await.status(), 200);

    let bad = reqwest::Client::new()
        .post(format!("{}/_control/fail-next", fake.base_url()))
        .json(&json!({"count": 1, "status": 404}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let stats: Value = reqwest::get(format!("{}/_stats", fake.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 5);
    assert_eq!(stats["failed"], 4);
}

#[tokio::test]
async fn cut_ends_the_body_without_done() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let response = post(&fake, &chat("[[cut]]", true)).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => failed = true,
        }
    }
    assert!(failed, "the body must end with a transport error");
    assert!(!text.contains("[DONE]"));
    assert!(content_of(&data_lines(&text)).split(' ').count() >= 3);
    fake.wait_for(Duration::from_secs(2), |s| s.cut == 1).await;
}

#[tokio::test]
async fn malformed_sends_a_non_json_data_line() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let body = post(&fake, &chat("[[malformed]]", true))
        .await
        .text()
        .await
        .unwrap();
    let bad = data_lines(&body)
        .into_iter()
        .filter(|l| *l != "[DONE]" && serde_json::from_str::<Value>(l).is_err())
        .count();
    assert_eq!(bad, 1);
}

#[tokio::test]
async fn slow_and_hang_delay_the_answer() {
    let fake = FakeLlm::start(Config {
        slow_ms: 300,
        ..Config::default()
    })
    .await
    .unwrap();
    let started = Instant::now();
    let body = post(&fake, &chat("[[slow]]", true))
        .await
        .text()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(body.contains("[DONE]"));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let hung = client
        .post(format!("{}/chat/completions", fake.openai_base_url()))
        .json(&chat("[[hang]]", true))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));
    fake.wait_for(Duration::from_secs(2), |s| {
        s.cancelled == 1 && s.active == 0
    })
    .await;
}

#[tokio::test]
async fn dropping_a_long_stream_counts_as_cancelled() {
    let fake = FakeLlm::start(Config {
        long_delay_ms: 20,
        ..Config::default()
    })
    .await
    .unwrap();
    let response = post(&fake, &chat("[[long]]", true)).await;
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    assert_eq!(fake.stats().active, 1);
    drop(stream);
    fake.wait_for(Duration::from_secs(2), |s| {
        s.cancelled == 1 && s.active == 0
    })
    .await;
    assert_eq!(fake.stats().completed, 0);
}

#[tokio::test]
async fn markdown_and_hostile_answers() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let markdown = content_of(&data_lines(
        &post(&fake, &chat("[[markdown]]", true))
            .await
            .text()
            .await
            .unwrap(),
    ));
    for needle in [
        "## ",
        "\n1. ",
        "| --- |",
        "](https://",
        "`greenlight smoke`",
        "```bash",
    ] {
        assert!(markdown.contains(needle), "markdown lacks {needle:?}");
    }
    let hostile = content_of(&data_lines(
        &post(&fake, &chat("[[hostile]]", true))
            .await
            .text()
            .await
            .unwrap(),
    ));
    for needle in [
        "<script>",
        "onerror=",
        "onclick=",
        "](javascript:",
        "<svg onload",
        "<iframe",
        "data:text/html",
    ] {
        assert!(hostile.contains(needle), "hostile lacks {needle:?}");
    }
}

#[tokio::test]
async fn invalid_json_gets_an_openai_error() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.openai_base_url()))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}
