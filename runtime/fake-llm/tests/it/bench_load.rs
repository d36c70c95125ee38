//! A smoke run of the `bench-load` generator against the fake upstream (tiny N).

// A test that cannot unwrap has failed: panicking is the point.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use greenlight_fake_llm::{Config, FakeLlm};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_load_measures_a_tiny_run() {
    let fake = FakeLlm::start(Config {
        tokens: 5,
        ..Config::default()
    })
    .await
    .unwrap();
    let url = fake.openai_base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bench-load"))
            .args(["--url", &url, "--concurrency", "3", "--requests", "9"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["answers"], 9);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["tokens"], 45);
    assert!(report["ttft_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(fake.stats().completed, 9);
}

#[test]
fn bench_load_refuses_non_loopback_targets() {
    let output = Command::new(env!("CARGO_BIN_EXE_bench-load"))
        .args(["--url", "http://10.0.0.1/v1", "--requests", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("this machine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_load_counts_errors() {
    let fake = FakeLlm::start(Config::default()).await.unwrap();
    let url = fake.openai_base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bench-load"))
            .args([
                "--url",
                &url,
                "--concurrency",
                "2",
                "--requests",
                "4",
                "--prompt",
                "[[cut]]",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["answers"], 0);
    assert_eq!(report["errors"], 4);
}
