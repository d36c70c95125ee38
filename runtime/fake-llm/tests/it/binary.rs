//! The `fake-llm` binary prints where it listens on its first stdout line and serves there.

// A test that cannot unwrap has failed: panicking is the point.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_its_url_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-llm"))
        .args(["--port", "0", "--tokens", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("fake-llm starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("first line")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let models = reqwest::get(format!("{url}/v1/models")).await.unwrap();
    assert_eq!(models.status(), 200);
    let stats: serde_json::Value = reqwest::get(format!("{url}/_stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 0);
    child.kill().unwrap();
    child.wait().unwrap();
}
