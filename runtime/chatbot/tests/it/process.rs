//! The real binary: configuration errors, start, health check, /version sources, SIGTERM exit.

use std::time::{Duration, Instant};

use crate::common::*;

fn fails_naming(env: &[(&str, &str)], variable: &str) {
    let out = command(env).output().expect("run greenlight");
    assert_eq!(out.status.code(), Some(2), "{env:?} exits 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("invalid configuration: {variable}")),
        "{env:?}: {stderr}"
    );
}

#[test]
fn bad_configuration_fails_at_start_naming_the_variable() {
    fails_naming(&[("PORT", "abc")], "PORT");
    fails_naming(&[("LLM_PROVIDER", "foo")], "LLM_PROVIDER");
    fails_naming(
        &[
            ("LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", "localhost:8000"),
        ],
        "OPENAI_BASE_URL",
    );
    fails_naming(&[("MAX_MESSAGES", "0")], "MAX_MESSAGES");
    fails_naming(&[("DRAIN_SECONDS", "-1")], "DRAIN_SECONDS");
    fails_naming(&[("LOG_FORMAT", "xml")], "LOG_FORMAT");
    // Checked by the providers themselves, still at start.
    fails_naming(&[("LLM_PROVIDER", "openai")], "OPENAI_API_KEY");
    fails_naming(&[("LLM_PROVIDER", "bedrock")], "LLM_MODEL");
    fails_naming(
        &[("LLM_PROVIDER", "bedrock"), ("LLM_MODEL", " ")],
        "LLM_MODEL",
    );
}

#[tokio::test]
async fn starts_fast_serves_health_and_exits_0_on_sigterm() {
    let started = Instant::now();
    let mut server = Process::start(&[("GIT_COMMIT", "feedbeef")]);
    let startup = started.elapsed();
    // Generous for a debug build on a shared CI machine; the release target is far lower.
    assert!(startup < Duration::from_secs(5), "{startup:?}");
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    let version: serde_json::Value = reqwest::get(format!("{}/version", server.url))
        .await
        .expect("GET /version")
        .json()
        .await
        .expect("json");
    assert_eq!(version["commit"], "feedbeef");
    assert_eq!(version["image"], "unknown");
    assert_eq!(version["provider"], "offline");

    let port = server.port().to_string();
    let ok = command(&[("PORT", &port)])
        .arg("healthcheck")
        .status()
        .expect("healthcheck");
    assert!(ok.success(), "healthcheck passes against a live server");

    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let bad = command(&[("PORT", &port)])
        .arg("healthcheck")
        .status()
        .expect("healthcheck");
    assert_eq!(
        bad.code(),
        Some(1),
        "healthcheck fails once the server is gone"
    );
}

#[tokio::test]
async fn image_comes_from_the_ecs_task_metadata_endpoint() {
    // A stand-in for the ECS agent's metadata endpoint (ours is the only client of it here).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({
                "DockerId": "x", "Name": "greenlight",
                "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:abc123",
                "Labels": {}
            }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = Process::start(&[("ECS_CONTAINER_METADATA_URI_V4", &format!("http://{addr}"))]);
    let mut image = String::new();
    for _ in 0..100 {
        let v: serde_json::Value = reqwest::get(format!("{}/version", server.url))
            .await
            .expect("GET /version")
            .json()
            .await
            .expect("json");
        image = v["image"].as_str().unwrap_or_default().to_owned();
        if image != "unknown" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        image,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:abc123"
    );
}

/// A chat refused before it starts is logged once, by the chat routes' rejection layer, with the
/// route the router matched, the client's tag and the code; other routes' errors are not chats.
#[tokio::test]
async fn refused_chats_are_logged_once_with_route_client_and_code() {
    let server = Process::start(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "2")]);
    let client = reqwest::Client::new();
    let post = |path: &str, body: &'static str| {
        client
            .post(format!("{}{path}", server.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let bad_json = post("/api/chat", "{").await.expect("POST /api/chat");
    assert_eq!(bad_json.status(), 400);
    let empty = post("/v1/chat/completions", r#"{"messages":[]}"#)
        .await
        .expect("POST /v1/chat/completions");
    assert_eq!(empty.status(), 400);
    let limited = post("/api/chat", HELLO).await.expect("POST /api/chat");
    assert_eq!(limited.status(), 429);
    let missing = client
        .get(format!("{}/nowhere", server.url))
        .send()
        .await
        .expect("GET /nowhere");
    assert_eq!(missing.status(), 404);

    let expected = [
        ("/api/chat", 400, "invalid_json"),
        ("/v1/chat/completions", 400, "empty_messages"),
        ("/api/chat", 429, "rate_limit_exceeded"),
    ];
    let until = Instant::now() + Duration::from_secs(5);
    let rejected = loop {
        let logs = server.chat_logs();
        if logs.len() >= expected.len() || Instant::now() > until {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen: Vec<(&str, u64, &str)> = rejected
        .iter()
        .map(|l| {
            assert_eq!(l["outcome"], "rejected", "{l}");
            assert_eq!(l["provider"], "offline", "{l}");
            let tag = l["client"].as_str().unwrap_or_default();
            assert!(
                tag.len() == 16 && tag.chars().all(|c| c.is_ascii_hexdigit()),
                "a hashed client tag in {l}"
            );
            (
                l["route"].as_str().unwrap_or_default(),
                l["status"].as_u64().unwrap_or_default(),
                l["error_code"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(seen, expected);
}
