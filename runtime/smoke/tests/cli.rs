//! `greenlight smoke` end to end: the real greenlight binary checks another real greenlight.
//!
//! Needs the built `greenlight` binary (GREENLIGHT_BIN or target/debug/greenlight), so these
//! tests are #[ignore]d in `cargo test --workspace`; scripts/ci/hook.sh runs them with --include-ignored.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use greenlight_smoke::Report;

const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:cli";

fn greenlight_bin() -> PathBuf {
    let path = std::env::var_os("GREENLIGHT_BIN").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(
                    || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
                    PathBuf::from,
                )
                .join("debug/greenlight")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} not found: cargo build -p greenlight, or set GREENLIGHT_BIN",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `greenlight serve` killed when dropped.
struct Server {
    url: String,
    child: Child,
}

impl Server {
    fn start(image: &str) -> Self {
        let port = free_port();
        let child = Command::new(greenlight_bin())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("IMAGE_URI", image)
            .env_remove("LLM_PROVIDER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start greenlight");
        let server = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut reply = String::new();
                let _ = s.read_to_string(&mut reply);
                if reply.starts_with("HTTP/1.1 200") {
                    return server;
                }
            }
            assert!(Instant::now() < until, "greenlight did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smoke(args: &[&str]) -> Output {
    Command::new(greenlight_bin())
        .arg("smoke")
        .args(args)
        .env_remove("SMOKE_URL")
        .output()
        .expect("run greenlight smoke")
}

/// The report of a run that exited 0 (else the test fails with its output).
fn passed(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
#[ignore = "needs the greenlight binary: run by scripts/ci/hook.sh"]
fn passes_and_prints_a_timed_report() {
    let server = Server::start(IMAGE);
    let out = smoke(&[
        "--url",
        &server.url,
        "--expect-image",
        IMAGE,
        "--rounds",
        "2",
    ]);
    let text = passed(&out);
    assert!(text.contains(&format!("image {IMAGE}")), "{text}");
    for check in [
        "round 1 health",
        "round 1 ready",
        "round 2 version",
        "round 2 chat",
    ] {
        assert!(
            text.contains(&format!("PASS {check}")),
            "{check} missing:\n{text}"
        );
    }
    assert!(text.contains(" ms"), "{text}");
    assert!(text.contains("PASSED: 8/8 checks passed"), "{text}");
}

#[test]
#[ignore = "needs the greenlight binary: run by scripts/ci/hook.sh"]
fn wrong_image_fails_with_a_json_report() {
    let server = Server::start("greenlight:old");
    let out = smoke(&["--url", &server.url, "--expect-image", IMAGE, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Report = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(!report.passed);
    let failed = report.first_failure().expect("a failed check");
    assert_eq!((failed.name.as_str(), failed.round), ("version", 1));
    assert!(
        failed.detail.contains("image mismatch"),
        "{}",
        failed.detail
    );
    assert_eq!(
        report.server.map(|s| s.image).as_deref(),
        Some("greenlight:old")
    );
}

#[test]
#[ignore = "needs the greenlight binary: run by scripts/ci/hook.sh"]
fn a_stopped_server_fails_fast() {
    let started = Instant::now();
    let out = smoke(&["--url", &format!("http://127.0.0.1:{}", free_port())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL round 1 health"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
#[ignore = "needs the greenlight binary: run by scripts/ci/hook.sh"]
fn bad_arguments_name_the_setting() {
    let out = smoke(&["--url", "http://127.0.0.1:1", "--rounds", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rounds must be between 1 and 20, got 0"),
        "{err}"
    );
}

#[test]
#[ignore = "needs the greenlight binary: run by scripts/ci/hook.sh"]
fn connect_to_reaches_a_host_name_dns_does_not_know() {
    let server = Server::start(IMAGE);
    let port = server.url.rsplit(':').next().expect("a port");
    // `.invalid` never resolves (RFC 6761): only the override can reach the server. 127.0.0.2
    // refuses (the server listens on 127.0.0.1 only), so every round also proves the fallback.
    let url = format!("http://greenlight.invalid:{port}");
    let out = smoke(&[
        "--url",
        &url,
        "--connect-to",
        "127.0.0.2",
        "--connect-to",
        "127.0.0.1",
        "--rounds",
        "2",
    ]);
    let text = passed(&out);
    assert!(text.contains("PASSED: 8/8 checks passed"), "{text}");
    assert!(text.contains("greenlight.invalid"), "{text}");

    let out = smoke(&["--url", &server.url, "--connect-to", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connect_to needs a URL with a host name"),
        "{err}"
    );
}
