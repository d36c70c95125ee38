//! The real bootstrap binary under the Lambda runtime API: `cargo lambda watch` runs it (built
//! with the workspace's debug profile and target dir) and `cargo lambda invoke` sends it the
//! CodeDeploy lifecycle event and the ECS lifecycle hook event. AWS is the moto server, the green
//! side the real `greenlight`.
//!
//! #[ignore]d in `cargo test --workspace`; scripts/ci/hook.sh runs it with --ignored.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, Greenlight, create_deployment, moto, root};
use serde_json::{Value, json};

const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:lambda";

fn cargo_lambda() -> PathBuf {
    let venv = root().join(".venv/bin/cargo-lambda");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("cargo-lambda")
    }
}

/// `cargo lambda watch` in its own process group, so the function it starts is stopped with it.
struct Watch {
    child: Child,
    port: u16,
}

impl Watch {
    fn start(env: &[(&str, &str)]) -> Self {
        let port = support::free_port();
        let mut command = Command::new(cargo_lambda());
        command
            .current_dir(root())
            .args(["lambda", "watch", "--quiet", "--ignore-changes"])
            .args(["--package", "greenlight-hook", "--bin", "greenlight-hook"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        for (k, v) in env {
            command.arg("--env-var").arg(format!("{k}={v}"));
        }
        let child = command
            .spawn()
            .expect("start cargo lambda watch (pip install cargo-lambda)");
        let watch = Self { child, port };
        let until = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "cargo lambda watch did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        watch
    }

    fn invoke(&self, payload: &Value) -> Output {
        Command::new(cargo_lambda())
            .current_dir(root())
            .args([
                "lambda",
                "invoke",
                "greenlight-hook",
                "--output-format",
                "json",
            ])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
            ])
            .arg("--data-ascii")
            .arg(payload.to_string())
            .output()
            .expect("run cargo lambda invoke")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The whole group: cargo lambda watch, and the function process it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs moto, cargo-lambda and the greenlight binary: run by scripts/ci/hook.sh"]
async fn the_bootstrap_reports_through_the_lambda_runtime_api() {
    let green = Greenlight::start(&[("IMAGE_URI", IMAGE)]);
    let deployment_id = create_deployment(&moto().sdk_config().await, IMAGE).await;
    let watch = Watch::start(&[
        ("AWS_ENDPOINT_URL", &moto().endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", support::REGION),
        ("TEST_LISTENER_URL", &green.url),
        // cargo lambda's emulator sets CONTAINER_NAME to a random name of its own.
        ("CONTAINER_NAME", "greenlight"),
        ("SMOKE_ROUNDS", "2"),
        ("HOOK_DEADLINE_SECONDS", "20"),
        ("RUST_LOG", "info"),
    ]);

    let output = watch.invoke(&json!({
        "DeploymentId": deployment_id,
        "LifecycleEventHookExecutionId": "exec-lambda-1",
    }));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: Value =
        serde_json::from_str(stdout.trim()).expect("the function's JSON response");
    assert_eq!(response["status"], "Succeeded", "{response:#}");
    assert_eq!(response["reported"], "recorded", "{response:#}");
    assert_eq!(response["expectedImage"], IMAGE);
    assert_eq!(
        response["checks"].as_array().map(Vec::len),
        Some(8),
        "{response:#}"
    );
    assert_eq!(
        moto()
            .status_of(&deployment_id, "exec-lambda-1")
            .await
            .as_deref(),
        Some("Succeeded")
    );

    // An unknown deployment fails the invocation with a clear error type and message.
    let output = watch.invoke(&json!({
        "DeploymentId": "d-NOSUCHDEPLOY",
        "LifecycleEventHookExecutionId": "exec-lambda-2",
    }));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("UnknownDeployment"), "{text}");
    assert!(
        text.contains("deployment d-NOSUCHDEPLOY does not exist"),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "needs moto, cargo-lambda and the greenlight binary: run by scripts/ci/hook.sh"]
async fn the_bootstrap_answers_ecs_lifecycle_hooks() {
    let green = Greenlight::start(&[("IMAGE_URI", IMAGE)]);
    let service = support::ecs::deploy_service(
        &moto().sdk_config().await,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:old",
        IMAGE,
    )
    .await;
    let watch = Watch::start(&[
        ("AWS_ENDPOINT_URL", &moto().endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", support::REGION),
        ("TEST_LISTENER_URL", &green.url),
        ("CONTAINER_NAME", "greenlight"),
        ("SMOKE_ROUNDS", "2"),
        ("HOOK_DEADLINE_SECONDS", "20"),
        ("RUST_LOG", "info"),
    ]);
    let answer = |payload: &Value| {
        let output = watch.invoke(payload);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "invoke failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str::<Value>(stdout.trim()).expect("the function's JSON answer")
    };

    let event = support::ecs::ecs_event(&service, "POST_TEST_TRAFFIC_SHIFT", &[], &[], None);
    let response = answer(&event);
    assert_eq!(response["hookStatus"], "SUCCEEDED", "{response:#}");
    assert_eq!(
        response["hookDetails"]["greenlight"]["expectedImage"],
        IMAGE
    );
    assert_eq!(response["hookDetails"]["greenlight"]["roundsPassed"], 2);

    // An unknown revision: FAILED, saying so.
    let mut event = event;
    event["executionDetails"]["targetServiceRevisionArn"] =
        json!(service.green_revision.replace("/greenlight/", "/gone/"));
    let response = answer(&event);
    assert_eq!(response["hookStatus"], "FAILED", "{response:#}");
    let reason = response["hookDetails"]["greenlight"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("does not exist (MISSING)"), "{reason}");

    // The rollback invocation, weights reversed: SUCCEEDED without checks.
    let reversed = [
        (service.green_revision.as_str(), 0),
        (service.blue_revision.as_str(), 100),
    ];
    let rollback =
        support::ecs::ecs_event(&service, "PRODUCTION_TRAFFIC_SHIFT", &reversed, &[], None);
    assert_eq!(answer(&rollback)["hookStatus"], "SUCCEEDED");

    // Neither engine's event: the invocation fails with a clear error type and message.
    let output = watch.invoke(&json!({"Records": []}));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("UnknownEvent"), "{text}");
    assert!(
        text.contains("not a lifecycle event this hook knows"),
        "{text}"
    );
}
