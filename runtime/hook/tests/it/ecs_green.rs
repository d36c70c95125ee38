//! The hook as an Amazon ECS lifecycle hook, end to end against real parts: the real SDK client
//! reads service revisions from a moto server (tests/moto/server.py adds them), the green side
//! is the real `greenlight` binary, `fake-llm` its upstream for the slow cases.
//!
//! #[ignore]d in `cargo test --workspace`; scripts/ci/hook.sh runs them with --ignored.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::support::ecs::{EcsService, deploy_service, ecs_event};
use crate::support::{self, FakeLlm, Greenlight, moto};
use greenlight_hook::{EcsHookResponse, Hook, HookConfig, HookError, HookStatus, LifecycleEvent};
use serde_json::{Value, json};

const GREEN: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:ecs-green";
const BLUE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:ecs-blue";
const CHECK_STAGE: &str = "POST_TEST_TRAFFIC_SHIFT";

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

async fn service() -> EcsService {
    deploy_service(&moto().sdk_config().await, BLUE, GREEN).await
}

/// One invocation of `event` (as the Lambda runtime would pass it), with a Lambda deadline two
/// minutes away.
async fn invoke(config: HookConfig, event: Value) -> Result<EcsHookResponse, HookError> {
    let hook = Hook::new(
        greenlight_hook::Aws::new(&moto().sdk_config().await),
        Ok(config),
    );
    let LifecycleEvent::Ecs(event) = LifecycleEvent::recognise(event)? else {
        panic!("an ECS event is recognised as one");
    };
    hook.handle_ecs(event, Some(SystemTime::now() + Duration::from_secs(120)))
        .await
}

async fn check(
    config: HookConfig,
    service: &EcsService,
    details: Option<&Value>,
) -> EcsHookResponse {
    invoke(config, ecs_event(service, CHECK_STAGE, &[], &[], details))
        .await
        .expect("the hook answers")
}

fn assert_failed_saying(response: &EcsHookResponse, fragments: &[&str]) {
    assert_eq!(response.hook_status, HookStatus::Failed, "{response:#?}");
    assert_eq!(response.call_back_delay, None);
    for fragment in fragments {
        assert!(
            response.reason().contains(fragment),
            "{fragment:?} not in {}",
            response.reason()
        );
    }
}

#[tokio::test]
#[ignore = "needs moto and the greenlight binary: run by scripts/ci/hook.sh"]
async fn healthy_green_succeeds() {
    let green = Greenlight::start(&[("IMAGE_URI", GREEN)]);
    let service = service().await;
    let response = check(config(&green.url, &[]), &service, None).await;
    assert_eq!(response.hook_status, HookStatus::Succeeded, "{response:#?}");
    let progress = &response.hook_details.greenlight;
    assert_eq!(progress.revision, service.green_revision);
    assert_eq!(progress.expected_image.as_deref(), Some(GREEN));
    assert_eq!((progress.invocations, progress.rounds_passed), (1, 2));
    assert!(
        response
            .task_definition
            .as_deref()
            .is_some_and(|t| t.contains("task-definition/greenlight:")),
        "{response:#?}"
    );
    // 2 rounds of health, ready, version, chat.
    assert_eq!(response.checks.len(), 8, "{response:#?}");
    assert!(response.checks.iter().all(|c| c.passed));
    let answer = serde_json::to_value(&response).expect("serializes");
    assert_eq!(answer["hookStatus"], "SUCCEEDED");
    assert!(answer.get("callBackDelay").is_none(), "{answer:#}");
}

#[tokio::test]
#[ignore = "needs moto and the greenlight binary: run by scripts/ci/hook.sh"]
async fn the_wrong_image_fails() {
    // The test listener still reaches blue: green's image never answered.
    let blue = Greenlight::start(&[("IMAGE_URI", BLUE)]);
    let service = service().await;
    let response = check(config(&blue.url, &[]), &service, None).await;
    assert_failed_saying(&response, &["image mismatch", ":ecs-blue"]);
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn dead_green_fails() {
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let service = service().await;
    let response = check(config(&url, &[]), &service, None).await;
    assert_failed_saying(&response, &["round 1 health failed"]);
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn an_unknown_revision_fails_with_a_clear_reason() {
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let mut service = service().await;
    service.green_revision = service.green_revision.replace("/greenlight/", "/gone/");
    let response = check(config(&url, &[]), &service, None).await;
    assert_failed_saying(
        &response,
        &[&format!(
            "service revision {} does not exist (MISSING)",
            service.green_revision
        )],
    );
    assert!(response.checks.is_empty(), "nothing was checked");
}

fn green_on_fake_llm(fake: &FakeLlm) -> Greenlight {
    Greenlight::start(&[
        ("IMAGE_URI", GREEN),
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", &fake.base_url),
        ("OPENAI_API_KEY", "test-key"),
        ("LLM_MODEL", "fake-model"),
    ])
}

/// Each round's chat takes 1.2 s and an invocation may run 2 s: round 1 passes, round 2 does
/// not fit.
fn slow_settings() -> [(&'static str, &'static str); 4] {
    [
        ("SMOKE_PROMPT", "[[slow]] hello"),
        ("SMOKE_TTFT_BUDGET_MS", "3000"),
        ("HOOK_DEADLINE_SECONDS", "2"),
        ("HOOK_CALLBACK_DELAY_SECONDS", "7"),
    ]
}

#[tokio::test]
#[ignore = "needs moto, greenlight and fake-llm: run by scripts/ci/hook.sh"]
async fn slow_green_goes_on_in_the_next_invocation_then_succeeds() {
    let fake = FakeLlm::start(&["--slow-ms", "1200"]);
    let green = green_on_fake_llm(&fake);
    let service = service().await;

    let first = check(config(&green.url, &slow_settings()), &service, None).await;
    assert_eq!(first.hook_status, HookStatus::InProgress, "{first:#?}");
    assert_eq!(first.call_back_delay, Some(7));
    assert_eq!(first.hook_details.greenlight.rounds_passed, 1, "{first:#?}");
    assert!(
        first
            .reason()
            .starts_with("1/2 rounds passed so far; going on in 7 s"),
        "{}",
        first.reason()
    );
    let answer = serde_json::to_value(&first).expect("serializes");
    assert_eq!(answer["hookStatus"], "IN_PROGRESS");
    assert_eq!(answer["callBackDelay"], 7);

    // ECS passes hookDetails back (merged with the service's own) on the next invocation,
    // which runs round 2 only.
    let mut details = answer["hookDetails"].clone();
    details["SERVICE_DEFINED"] = json!("kept");
    let second = check(
        config(&green.url, &slow_settings()),
        &service,
        Some(&details),
    )
    .await;
    assert_eq!(second.hook_status, HookStatus::Succeeded, "{second:#?}");
    let progress = &second.hook_details.greenlight;
    assert_eq!((progress.invocations, progress.rounds_passed), (2, 2));
    assert!(
        second.checks.iter().all(|c| c.round == 2),
        "only round 2 ran: {second:#?}"
    );
    assert!(
        progress
            .reason
            .starts_with("all 2 rounds passed over 2 invocation(s)")
    );
}

#[tokio::test]
#[ignore = "needs moto, greenlight and fake-llm: run by scripts/ci/hook.sh"]
async fn slow_green_fails_once_the_check_window_has_passed() {
    let fake = FakeLlm::start(&["--slow-ms", "1200"]);
    let green = green_on_fake_llm(&fake);
    let service = service().await;
    let mut settings = slow_settings().to_vec();
    settings.push(("HOOK_CHECK_WINDOW_SECONDS", "60"));

    let first = check(config(&green.url, &settings), &service, None).await;
    assert_eq!(first.hook_status, HookStatus::InProgress, "{first:#?}");
    // A minute later (the window), ECS invokes again: the hook gives up without checking.
    let mut details = serde_json::to_value(&first).expect("serializes")["hookDetails"].clone();
    let started = details["greenlight"]["startedAtMs"]
        .as_u64()
        .expect("started");
    details["greenlight"]["startedAtMs"] = json!(started - 61_000);
    let last = check(config(&green.url, &settings), &service, Some(&details)).await;
    assert_failed_saying(
        &last,
        &[
            "green did not pass all 2 rounds within the check window of 60 s (1 passed over 2 invocations)",
            "1/2 rounds passed so far",
        ],
    );
    assert!(last.checks.is_empty(), "{last:#?}");
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn a_rollback_with_reversed_weights_succeeds_without_checking() {
    // Green is dead: were it checked, the answer would be FAILED.
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let service = service().await;
    let (green, blue) = (
        service.green_revision.as_str(),
        service.blue_revision.as_str(),
    );
    let reversed = vec![(green, 0), (blue, 100)];
    for (stage, production, test) in [
        ("PRODUCTION_TRAFFIC_SHIFT", reversed.clone(), Vec::new()),
        ("TEST_TRAFFIC_SHIFT", Vec::new(), reversed.clone()),
    ] {
        let event = ecs_event(&service, stage, &production, &test, None);
        let response = invoke(config(&url, &[]), event).await.expect("answers");
        assert_eq!(
            response.hook_status,
            HookStatus::Succeeded,
            "{stage}: {response:#?}"
        );
        assert!(response.checks.is_empty(), "{stage}: nothing checked");
        assert!(
            response
                .reason()
                .starts_with(&format!("rollback: traffic returns to {blue}")),
            "{}",
            response.reason()
        );
    }
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn a_forward_stage_without_test_traffic_is_refused() {
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let service = service().await;
    let green = service.green_revision.as_str();
    let blue = service.blue_revision.as_str();
    for (stage, production) in [
        ("PRE_SCALE_UP", vec![]),
        ("PRODUCTION_TRAFFIC_SHIFT", vec![(green, 100), (blue, 0)]),
    ] {
        let event = ecs_event(&service, stage, &production, &[], None);
        let error = invoke(config(&url, &[]), event)
            .await
            .expect_err("a stage the hook does not check at");
        assert_eq!(error.kind(), "UnsupportedStage");
        assert!(error.to_string().contains(stage), "{error}");
        assert!(
            error.to_string().contains("POST_TEST_TRAFFIC_SHIFT"),
            "{error}"
        );
    }
    let event = ecs_event(&service, "AfterAllowTestTraffic", &[], &[], None);
    let error = invoke(config(&url, &[]), event)
        .await
        .expect_err("unknown stage");
    assert_eq!(error.kind(), "UnknownEvent");
    assert!(
        error
            .to_string()
            .contains("\"AfterAllowTestTraffic\" is not an ECS lifecycle stage"),
        "{error}"
    );
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn a_misconfigured_hook_answers_failed() {
    let service = service().await;
    let hook = Hook::new(
        greenlight_hook::Aws::new(&moto().sdk_config().await),
        HookConfig::from_lookup(|_| None),
    );
    let answer = hook
        .invoke(ecs_event(&service, CHECK_STAGE, &[], &[], None), None)
        .await
        .expect("answers");
    assert_eq!(answer["hookStatus"], "FAILED", "{answer:#}");
    let reason = answer["hookDetails"]["greenlight"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("TEST_LISTENER_URL is required"), "{reason}");
}

#[tokio::test]
#[ignore = "needs moto: run by scripts/ci/hook.sh"]
async fn the_bootstrap_revision_passes_without_checks() {
    // The stack's first revision runs the placeholder, which has no /version to check. The test
    // service's family is `greenlight`; named as the bootstrap family, it is not checked (green
    // is dead here: a check would fail).
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let service = service().await;
    let response = check(
        config(&url, &[("BOOTSTRAP_TASK_FAMILY", "greenlight")]),
        &service,
        None,
    )
    .await;
    assert_eq!(response.hook_status, HookStatus::Succeeded, "{response:#?}");
    assert!(response.checks.is_empty());
    assert!(
        response.reason().contains("bootstrap placeholder"),
        "{}",
        response.reason()
    );
    // Another family is checked as usual.
    let response = check(
        config(&url, &[("BOOTSTRAP_TASK_FAMILY", "greenlight-bootstrap")]),
        &service,
        None,
    )
    .await;
    assert_failed_saying(&response, &["round 1 health failed"]);
}
