//! The hook end to end against real parts: the real SDK clients talk to a moto server, the green
//! side is the real `greenlight` binary (and `fake-llm` as its upstream for the failure cases).
//!
//! Needs moto (tests/requirements.txt) and built `greenlight` and `fake-llm` binaries, so these
//! tests are #[ignore]d in `cargo test --workspace`; scripts/ci/hook.sh runs them with --ignored.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::support::{self, FakeLlm, Greenlight, create_alb_nodes, create_deployment, moto};
use aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent;
use greenlight_hook::{Aws, Hook, HookConfig, HookError, HookResponse};

const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:green";

fn event(deployment_id: &str, execution_id: &str) -> CodeDeployLifecycleEvent {
    serde_json::from_value(serde_json::json!({
        "DeploymentId": deployment_id,
        "LifecycleEventHookExecutionId": execution_id,
    }))
    .expect("a lifecycle event")
}

fn execution_id() -> String {
    format!("exec-{}", support::unique_number())
}

fn config(url: &str, extra: &[(&str, &str)]) -> HookConfig {
    let mut env: HashMap<String, String> = HashMap::from([
        ("TEST_LISTENER_URL".to_owned(), url.to_owned()),
        ("SMOKE_ROUNDS".to_owned(), "2".to_owned()),
        ("HOOK_DEADLINE_SECONDS".to_owned(), "30".to_owned()),
    ]);
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    HookConfig::from_lookup(|k| env.get(k).cloned()).expect("valid hook config")
}

/// Runs one invocation with a Lambda deadline `lambda_seconds` away.
async fn invoke(
    config: Result<HookConfig, greenlight_hook::config::ConfigError>,
    deployment_id: &str,
    execution_id: &str,
) -> Result<HookResponse, HookError> {
    let sdk = moto().sdk_config().await;
    let hook = Hook::new(Aws::new(&sdk), config);
    let lambda_deadline = SystemTime::now() + Duration::from_secs(120);
    hook.handle(event(deployment_id, execution_id), Some(lambda_deadline))
        .await
}

async fn deployment(image: &str) -> String {
    create_deployment(&moto().sdk_config().await, image).await
}

/// One invocation for a new deployment of [`IMAGE`] with `config`; checks that moto recorded the
/// status the hook returned, and returns the response with the deployment's ids.
async fn deploy(
    config: Result<HookConfig, greenlight_hook::config::ConfigError>,
) -> (HookResponse, String, String) {
    let deployment_id = deployment(IMAGE).await;
    let execution_id = execution_id();
    let response = invoke(config, &deployment_id, &execution_id)
        .await
        .expect("the hook reports");
    assert_recorded(&deployment_id, &execution_id, response.status).await;
    (response, deployment_id, execution_id)
}

/// The hook reported Failed, for a reason that says each of `fragments`.
async fn fails_saying(url: &str, settings: &[(&str, &str)], fragments: &[&str]) -> HookResponse {
    let (response, _, _) = deploy(Ok(config(url, settings))).await;
    assert_eq!(response.status, "Failed", "{response:#?}");
    for fragment in fragments {
        assert!(
            response.reason.contains(fragment),
            "{fragment:?} not in {}",
            response.reason
        );
    }
    response
}

async fn assert_recorded(deployment_id: &str, execution_id: &str, status: &str) {
    assert_eq!(
        moto()
            .status_of(deployment_id, execution_id)
            .await
            .as_deref(),
        Some(status)
    );
}

#[tokio::test]
#[ignore = "needs moto and the greenlight binary: run by scripts/ci/hook.sh"]
async fn all_good_reports_succeeded_and_a_retry_does_no_harm() {
    let green = Greenlight::start(&[("IMAGE_URI", IMAGE)]);
    let deployment_id = deployment(IMAGE).await;
    let execution_id = execution_id();

    let response = invoke(Ok(config(&green.url, &[])), &deployment_id, &execution_id)
        .await
        .expect("the hook succeeds");
    assert_eq!(response.status, "Succeeded", "{response:#?}");
    assert_eq!(response.reported, "recorded");
    assert_eq!(response.expected_image.as_deref(), Some(IMAGE));
    assert!(
        response
            .task_definition
            .as_deref()
            .is_some_and(|t| t.contains("task-definition/greenlight:"))
    );
    // 2 rounds of health, ready, version, chat, every one passed and timed.
    assert_eq!(response.checks.len(), 8, "{response:#?}");
    assert!(response.checks.iter().all(|c| c.passed));
    assert!(
        response
            .checks
            .iter()
            .filter(|c| c.name == "chat")
            .all(|c| c.ttft_ms.is_some())
    );
    assert_recorded(&deployment_id, &execution_id, "Succeeded").await;

    // Lambda retries the same execution: the status is already set, which is no error.
    let again = invoke(Ok(config(&green.url, &[])), &deployment_id, &execution_id)
        .await
        .expect("a retried invocation succeeds too");
    assert_eq!(again.status, "Succeeded");
    assert_eq!(again.reported, "already_completed");
    assert_recorded(&deployment_id, &execution_id, "Succeeded").await;
}

#[tokio::test]
#[ignore = "needs moto and the greenlight binary: run by scripts/ci/hook.sh"]
async fn checks_run_through_the_load_balancers_private_nodes() {
    let green = Greenlight::start(&[("IMAGE_URI", IMAGE)]);
    let port = green.url.rsplit(':').next().expect("a port");
    // 127.0.0.2 refuses (green listens on 127.0.0.1 only): a node that is gone must not fail
    // the checks while another answers. The URL's name never resolves (RFC 6761 `.invalid`), so
    // passing proves the checks went to the addresses EC2 listed.
    let load_balancer = create_alb_nodes(&["127.0.0.2", "127.0.0.1"]);
    let url = format!("http://greenlight-alb.invalid:{port}");
    let settings = [("TEST_LISTENER_LOAD_BALANCER", load_balancer.as_str())];
    let (response, _, _) = deploy(Ok(config(&url, &settings))).await;
    assert_eq!(response.status, "Succeeded", "{response:#?}");
    assert_eq!(
        response.load_balancer_nodes,
        ["127.0.0.2", "127.0.0.1"].map(|ip| ip.parse::<std::net::IpAddr>().expect("ip"))
    );
    assert_eq!(response.checks.len(), 8, "{response:#?}");
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn a_load_balancer_without_nodes_reports_failed() {
    let name = "app/greenlight-gone/0123456789abcdef";
    let response = fails_saying(
        "http://greenlight-alb.invalid:8080",
        &[("TEST_LISTENER_LOAD_BALANCER", name)],
        &[&format!(
            "cannot find the private addresses of load balancer {name}: no network interface is described \"ELB {name}\""
        )],
    )
    .await;
    assert!(response.checks.is_empty(), "no check ran: {response:#?}");
}

#[tokio::test]
#[ignore = "needs moto and the greenlight binary: run by scripts/ci/hook.sh"]
async fn green_down_reports_failed() {
    let url = format!("http://127.0.0.1:{}", support::free_port());
    fails_saying(&url, &[], &["round 1 health failed"]).await;
}

#[tokio::test]
#[ignore = "needs moto and the greenlight binary: run by scripts/ci/hook.sh"]
async fn wrong_image_reports_failed() {
    // Blue still answers on the test listener: it runs the previous image.
    let blue = Greenlight::start(&[(
        "IMAGE_URI",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:blue",
    )]);
    fails_saying(&blue.url, &[], &["image mismatch", ":blue"]).await;
}

fn green_on_fake_llm(fake: &FakeLlm) -> Greenlight {
    Greenlight::start(&[
        ("IMAGE_URI", IMAGE),
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", &fake.base_url),
        ("OPENAI_API_KEY", "test-key"),
        ("LLM_MODEL", "fake-model"),
    ])
}

#[tokio::test]
#[ignore = "needs moto, greenlight and fake-llm: run by scripts/ci/hook.sh"]
async fn slow_first_token_reports_failed() {
    let fake = FakeLlm::start(&["--slow-ms", "3000"]);
    let green = green_on_fake_llm(&fake);
    let settings = [
        ("SMOKE_PROMPT", "[[slow]] hello"),
        ("SMOKE_TTFT_BUDGET_MS", "1000"),
    ];
    let expected = ["round 1 chat failed", "ttft budget of 1000 ms"];
    fails_saying(&green.url, &settings, &expected).await;
}

#[tokio::test]
#[ignore = "needs moto, greenlight and fake-llm: run by scripts/ci/hook.sh"]
async fn upstream_500_reports_failed() {
    let fake = FakeLlm::start(&[]);
    let green = green_on_fake_llm(&fake);
    let settings = [("SMOKE_PROMPT", "[[500]] hello")];
    fails_saying(&green.url, &settings, &["round 1 chat failed"]).await;
}

#[tokio::test]
#[ignore = "needs moto, greenlight and fake-llm: run by scripts/ci/hook.sh"]
async fn hanging_checks_report_failed_by_the_deadline() {
    let fake = FakeLlm::start(&[]);
    let green = green_on_fake_llm(&fake);
    let deployment_id = deployment(IMAGE).await;
    let execution_id = execution_id();
    // The chat budgets are far longer than the whole-run deadline: only the deadline can end it.
    let settings = [
        ("SMOKE_PROMPT", "[[hang]] hello"),
        ("SMOKE_TTFT_BUDGET_MS", "60000"),
        ("SMOKE_TOTAL_BUDGET_MS", "60000"),
        ("HOOK_DEADLINE_SECONDS", "3"),
    ];
    let started = Instant::now();
    let response = invoke(
        Ok(config(&green.url, &settings)),
        &deployment_id,
        &execution_id,
    )
    .await
    .expect("the hook reports");
    let took = started.elapsed();
    assert_eq!(response.status, "Failed");
    assert!(response.reason.contains("deadline"), "{}", response.reason);
    assert!(took < Duration::from_secs(6), "reported after {took:?}");
    assert_recorded(&deployment_id, &execution_id, "Failed").await;
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn a_throttled_report_is_retried_and_recorded() {
    // Green is down, so the checks fail fast: this test is about the report call.
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let deployment_id = deployment(IMAGE).await;
    let execution_id = execution_id();
    moto().throttle(&deployment_id, 1).await;
    let response = invoke(
        Ok(config(&url, &[("SMOKE_ROUNDS", "1")])),
        &deployment_id,
        &execution_id,
    )
    .await
    .expect("the hook reports after a retry");
    assert_eq!(response.status, "Failed", "{response:#?}");
    assert_eq!(response.reported, "recorded");
    assert_eq!(
        moto().calls(&deployment_id).await,
        (2, 1),
        "one throttled call, then one recorded"
    );
    assert_recorded(&deployment_id, &execution_id, "Failed").await;
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn an_unknown_deployment_is_a_clear_error() {
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let error = invoke(Ok(config(&url, &[])), "d-DOESNOTEXIST", &execution_id())
        .await
        .expect_err("an unknown deployment fails the invocation");
    assert_eq!(error.kind(), "UnknownDeployment");
    let message = error.to_string();
    assert!(
        message.contains("deployment d-DOESNOTEXIST does not exist"),
        "{message}"
    );
    // The report was attempted and refused for the same reason.
    assert!(
        message.contains("reporting Failed: PutLifecycleEventHookExecutionStatus failed"),
        "{message}"
    );
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn a_misconfigured_hook_still_reports_failed() {
    let (response, _, _) = deploy(HookConfig::from_lookup(|_| None)).await;
    assert_eq!(response.status, "Failed");
    assert!(
        response.reason.contains("TEST_LISTENER_URL is required"),
        "{}",
        response.reason
    );
}
