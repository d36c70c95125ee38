//! The real binary: configuration errors, start, health check, /version sources, SIGTERM exit.

mod common;

use std::time::{Duration, Instant};

use common::*;

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
