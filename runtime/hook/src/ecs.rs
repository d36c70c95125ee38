//! One invocation as an Amazon ECS deployment lifecycle hook (native blue/green).
//!
//! ECS invokes the function with `executionDetails.targetServiceRevisionArn` (green) and waits
//! for its answer: `{"hookStatus": "SUCCEEDED" | "FAILED" | "IN_PROGRESS", "callBackDelay": N}`.
//! There is nothing to report to; the answer is the report.
//!
//! - At `POST_TEST_TRAFFIC_SHIFT` (green has all test traffic, no production traffic) the hook
//!   learns green's image from the revision (DescribeServiceRevisions, DescribeTaskDefinition)
//!   and runs the smoke rounds through the test listener, as for CodeDeploy (crate::green).
//! - One invocation runs as many rounds as its budget allows (HOOK_DEADLINE_SECONDS, never past
//!   the Lambda's deadline minus a reserve). When time runs out with every check so far passed,
//!   it answers IN_PROGRESS with `callBackDelay` and its progress in `hookDetails.greenlight`;
//!   ECS passes that back on the next invocation, which goes on from the next round. So checks
//!   may outlast one invocation while no invocation runs near the Lambda's timeout, and
//!   HOOK_CHECK_WINDOW_SECONDS bounds the whole.
//! - On a rollback ECS invokes the hooks of the TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT
//!   stages again with the weights reversed (green at 0). The hook answers SUCCEEDED at once
//!   without checking: green is being abandoned, and a rollback must never wait on it. Greenlight
//!   registers the hook at POST_TEST_TRAFFIC_SHIFT only, which ECS does not re-invoke; this
//!   covers a hook registered at the traffic-shift stages as well.
//! - Any other stage is a registration mistake: the invocation fails (errorType
//!   UnsupportedStage), which makes ECS roll back, rather than green-lighting what it never
//!   checked.
//!
//! Payload and answer: <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html>.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use greenlight_smoke::Check;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use crate::config::HookConfig;
use crate::deadline;
use crate::green::{self, Verdict};
use crate::handler::{Hook, HookError};

/// The key of the hook's own state in `hookDetails`, apart from what the service defines.
pub const PROGRESS_KEY: &str = "greenlight";
/// Longest reason carried in `hookDetails` (the full one is in the log line).
const MAX_REASON_CHARS: usize = 1_000;

/// The lifecycle stages of an ECS service deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    ReconcileService,
    PreScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    PreProductionTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
}

impl Stage {
    const ALL: [Self; 8] = [
        Self::ReconcileService,
        Self::PreScaleUp,
        Self::PostScaleUp,
        Self::TestTrafficShift,
        Self::PostTestTrafficShift,
        Self::PreProductionTrafficShift,
        Self::ProductionTrafficShift,
        Self::PostProductionTrafficShift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReconcileService => "RECONCILE_SERVICE",
            Self::PreScaleUp => "PRE_SCALE_UP",
            Self::PostScaleUp => "POST_SCALE_UP",
            Self::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            Self::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            Self::PreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
            Self::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            Self::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The stages ECS invokes again, weights reversed, when it rolls back.
    fn recurs_on_rollback(self) -> bool {
        matches!(self, Self::TestTrafficShift | Self::ProductionTrafficShift)
    }
}

/// The event ECS invokes a lifecycle hook Lambda with.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsLifecycleEvent {
    #[serde(default)]
    pub execution_id: String,
    #[serde(default)]
    pub lifecycle_stage: String,
    /// The service deployment's ARN.
    #[serde(default)]
    pub resource_arn: String,
    #[serde(default)]
    pub execution_details: Option<ExecutionDetails>,
    /// What the service's hook configuration defines, merged with what the previous
    /// IN_PROGRESS answer of this execution returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_details: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDetails {
    #[serde(default)]
    pub service_arn: String,
    /// Green: the revision the deployment rolls out (also during its rollback).
    #[serde(default)]
    pub target_service_revision_arn: String,
    #[serde(default)]
    pub test_traffic_weights: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub production_traffic_weights: Option<BTreeMap<String, f64>>,
}

impl ExecutionDetails {
    /// When the weights move back from green (green at 0, another revision above 0), the
    /// revision traffic returns to.
    fn rolling_back_to(&self) -> Option<&str> {
        let green = self.target_service_revision_arn.as_str();
        [&self.production_traffic_weights, &self.test_traffic_weights]
            .into_iter()
            .flatten()
            .find_map(|weights| {
                let green_weight = weights.get(green).copied()?;
                (green_weight <= 0.0)
                    .then(|| {
                        weights
                            .iter()
                            .find(|(arn, w)| arn.as_str() != green && **w > 0.0)
                    })
                    .flatten()
                    .map(|(arn, _)| arn.as_str())
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    Succeeded,
    Failed,
    InProgress,
}

impl HookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::InProgress => "IN_PROGRESS",
        }
    }
}

/// The hook's state across the invocations of one execution, kept by ECS in `hookDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The green revision these rounds checked; progress for another one does not count.
    pub revision: String,
    /// When the first invocation of this execution started (ms since the Unix epoch).
    pub started_at_ms: u64,
    pub invocations: u32,
    pub rounds_passed: u32,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_image: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookDetails {
    pub greenlight: Progress,
}

/// The answer to ECS. Only the documented fields are serialized; the rest is for callers
/// (tests) and the log line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsHookResponse {
    pub hook_status: HookStatus,
    /// Seconds until ECS invokes the hook again; with IN_PROGRESS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_back_delay: Option<u64>,
    pub hook_details: HookDetails,
    #[serde(skip)]
    pub task_definition: Option<String>,
    #[serde(skip)]
    pub load_balancer_nodes: Vec<IpAddr>,
    #[serde(skip)]
    pub checks: Vec<Check>,
}

impl EcsHookResponse {
    pub fn reason(&self) -> &str {
        &self.hook_details.greenlight.reason
    }
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn truncated(reason: &str) -> String {
    if reason.chars().count() <= MAX_REASON_CHARS {
        reason.to_owned()
    } else {
        let mut cut: String = reason.chars().take(MAX_REASON_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// This execution's progress from `hookDetails`, if it is for `revision`.
fn progress_from(hook_details: Option<&Value>, revision: &str) -> Option<Progress> {
    let value = hook_details?.get(PROGRESS_KEY)?;
    match serde_json::from_value::<Progress>(value.clone()) {
        Ok(p) if p.revision == revision => Some(p),
        Ok(p) => {
            tracing::warn!(
                previous = p.revision,
                revision,
                "hookDetails hold progress for another revision; starting over"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "hookDetails.{PROGRESS_KEY} is unreadable; starting over");
            None
        }
    }
}

impl Hook {
    /// Answers one ECS lifecycle hook invocation.
    pub async fn handle_ecs(
        &self,
        event: EcsLifecycleEvent,
        lambda_deadline: Option<SystemTime>,
    ) -> Result<EcsHookResponse, HookError> {
        let started = Instant::now();
        let now = SystemTime::now();
        let execution_id = event.execution_id.trim().to_owned();
        if execution_id.is_empty() {
            return Err(HookError::BadEvent("executionId"));
        }
        let stage_name = event.lifecycle_stage.trim();
        let stage = Stage::parse(stage_name).ok_or_else(|| {
            HookError::UnknownEvent(format!(
                "lifecycleStage {stage_name:?} is not an ECS lifecycle stage"
            ))
        })?;
        let details = event
            .execution_details
            .as_ref()
            .ok_or(HookError::BadEvent("executionDetails"))?;
        let revision = details.target_service_revision_arn.trim().to_owned();
        if revision.is_empty() {
            return Err(HookError::BadEvent(
                "executionDetails.targetServiceRevisionArn",
            ));
        }

        if stage.recurs_on_rollback() {
            if let Some(back_to) = details.rolling_back_to() {
                let mut progress = Progress {
                    revision,
                    started_at_ms: epoch_ms(now),
                    invocations: 1,
                    ..Progress::default()
                };
                progress.reason = format!(
                    "rollback: traffic returns to {back_to}; the abandoned green revision is not checked"
                );
                let response = answer(HookStatus::Succeeded, None, progress, None);
                log_ecs(
                    &execution_id,
                    stage,
                    &event.resource_arn,
                    &response,
                    started,
                );
                return Ok(response);
            }
        }
        if stage != Stage::PostTestTrafficShift {
            tracing::error!(
                execution_id,
                stage = stage.as_str(),
                "invoked at a stage the hook does not check at"
            );
            return Err(HookError::UnsupportedStage(stage.as_str().to_owned()));
        }

        let mut progress =
            progress_from(event.hook_details.as_ref(), &revision).unwrap_or(Progress {
                revision: revision.clone(),
                started_at_ms: epoch_ms(now),
                ..Progress::default()
            });
        progress.invocations = progress.invocations.saturating_add(1);
        let (status, verdict) = match &self.config {
            Err(e) => (
                HookStatus::Failed,
                Verdict::failed(format!("the hook is misconfigured: {e}")),
            ),
            Ok(config) => {
                self.check_ecs(config, &mut progress, lambda_deadline, now, started)
                    .await
            }
        };
        progress.reason = truncated(&verdict.reason);
        if let Some(target) = &verdict.target {
            progress.expected_image = Some(target.image.clone());
        }
        let delay = match (status, &self.config) {
            (HookStatus::InProgress, Ok(config)) => Some(config.callback_delay.as_secs()),
            _ => None,
        };
        let response = answer(status, delay, progress, Some(&verdict));
        log_ecs(
            &execution_id,
            stage,
            &event.resource_arn,
            &response,
            started,
        );
        Ok(response)
    }

    /// The checks of one invocation at POST_TEST_TRAFFIC_SHIFT, going on from `progress`.
    async fn check_ecs(
        &self,
        config: &HookConfig,
        progress: &mut Progress,
        lambda_deadline: Option<SystemTime>,
        now: SystemTime,
        started: Instant,
    ) -> (HookStatus, Verdict) {
        let rounds = config.smoke.rounds;
        let window_ends_ms = progress
            .started_at_ms
            .saturating_add(u64::try_from(config.check_window.as_millis()).unwrap_or(u64::MAX));
        let window_left = Duration::from_millis(window_ends_ms.saturating_sub(epoch_ms(now)));
        let out_of_window = |progress: &Progress, last: &str| {
            Verdict::failed(format!(
                "green did not pass all {rounds} rounds within the check window of {} s ({} passed over {} invocations); last: {last}",
                config.check_window.as_secs(),
                progress.rounds_passed,
                progress.invocations,
            ))
        };
        if window_left.is_zero() {
            let last = progress.reason.clone();
            return (HookStatus::Failed, out_of_window(progress, &last));
        }
        let lambda_deadline = deadline::usable(lambda_deadline, now);
        let budget = self.budget(lambda_deadline, now).min(window_left);
        let run_until = started + budget;

        let lookup = timeout_at(
            run_until,
            self.aws
                .revision_target(&progress.revision, &config.container_name),
        )
        .await;
        let mut verdict = match lookup {
            Ok(Ok(target)) if is_bootstrap(config, &target.task_definition) => {
                let reason = format!(
                    "green runs the bootstrap placeholder ({}), the stack's first revision before any image was pushed: nothing to check",
                    target.task_definition
                );
                progress.rounds_passed = rounds;
                return (
                    HookStatus::Succeeded,
                    Verdict::passed_unchecked(reason, target),
                );
            }
            Ok(Ok(target)) => {
                green::check(&self.aws, config, target, progress.rounds_passed, run_until).await
            }
            Ok(Err(e)) => Verdict::lookup_failed(&e),
            Err(_) => {
                let mut v = Verdict::failed(format!(
                    "the invocation's deadline of {} ms passed before green's image was known",
                    budget.as_millis()
                ));
                v.out_of_time = true;
                v
            }
        };
        progress.rounds_passed = progress
            .rounds_passed
            .saturating_add(verdict.rounds_passed())
            .min(rounds);
        if verdict.passed {
            verdict.reason = format!(
                "all {rounds} rounds passed over {} invocation(s); last: {}",
                progress.invocations, verdict.reason
            );
            return (HookStatus::Succeeded, verdict);
        }
        if !verdict.out_of_time {
            return (HookStatus::Failed, verdict);
        }
        let again_at = SystemTime::now() + config.callback_delay;
        if epoch_ms(again_at) >= window_ends_ms {
            let last = verdict.reason.clone();
            let mut failed = out_of_window(progress, &last);
            failed.target = verdict.target.take();
            failed.checks = std::mem::take(&mut verdict.checks);
            return (HookStatus::Failed, failed);
        }
        verdict.reason = format!(
            "{}/{rounds} rounds passed so far; going on in {} s: {}",
            progress.rounds_passed,
            config.callback_delay.as_secs(),
            verdict.reason
        );
        (HookStatus::InProgress, verdict)
    }
}

/// Whether `task_definition` (an ARN or `family:revision`) is of the bootstrap family.
fn is_bootstrap(config: &HookConfig, task_definition: &str) -> bool {
    let Some(bootstrap) = config.bootstrap_family.as_deref() else {
        return false;
    };
    let family_revision = task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition);
    let family = family_revision
        .rsplit_once(':')
        .map_or(family_revision, |(family, _)| family);
    family == bootstrap
}

fn answer(
    status: HookStatus,
    call_back_delay: Option<u64>,
    progress: Progress,
    verdict: Option<&Verdict>,
) -> EcsHookResponse {
    EcsHookResponse {
        hook_status: status,
        call_back_delay,
        hook_details: HookDetails {
            greenlight: progress,
        },
        task_definition: verdict
            .and_then(|v| v.target.as_ref())
            .map(|t| t.task_definition.clone()),
        load_balancer_nodes: verdict.map(|v| v.nodes.clone()).unwrap_or_default(),
        checks: verdict.map(|v| v.checks.clone()).unwrap_or_default(),
    }
}

/// The one structured line per ECS invocation.
fn log_ecs(
    execution_id: &str,
    stage: Stage,
    service_deployment: &str,
    response: &EcsHookResponse,
    started: Instant,
) {
    let progress = &response.hook_details.greenlight;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let outcome = response.hook_status.as_str();
    let revision = progress.revision.as_str();
    let expected_image = progress.expected_image.as_deref().unwrap_or("");
    let task_definition = response.task_definition.as_deref().unwrap_or("");
    let checks = green::timings_json(&response.checks);
    match response.hook_status {
        HookStatus::Failed => tracing::warn!(
            execution_id,
            stage = stage.as_str(),
            service_deployment,
            revision,
            outcome,
            reason = %progress.reason,
            task_definition,
            expected_image,
            invocations = progress.invocations,
            rounds_passed = progress.rounds_passed,
            duration_ms,
            checks,
            "green-light hook finished"
        ),
        _ => tracing::info!(
            execution_id,
            stage = stage.as_str(),
            service_deployment,
            revision,
            outcome,
            reason = %progress.reason,
            task_definition,
            expected_image,
            invocations = progress.invocations,
            rounds_passed = progress.rounds_passed,
            duration_ms,
            checks,
            "green-light hook finished"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREEN: &str = "arn:aws:ecs:eu-west-1:1:service-revision/c/s/2";
    const BLUE: &str = "arn:aws:ecs:eu-west-1:1:service-revision/c/s/1";

    fn details(production: &[(&str, f64)], test: &[(&str, f64)]) -> ExecutionDetails {
        let map = |pairs: &[(&str, f64)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        ExecutionDetails {
            service_arn: "arn:aws:ecs:eu-west-1:1:service/c/s".into(),
            target_service_revision_arn: GREEN.into(),
            production_traffic_weights: map(production),
            test_traffic_weights: map(test),
        }
    }

    #[test]
    fn weights_moving_back_from_green_are_a_rollback() {
        let back = details(&[(GREEN, 0.0), (BLUE, 100.0)], &[]);
        assert_eq!(back.rolling_back_to(), Some(BLUE));
        let test_back = details(&[], &[(GREEN, 0.0), (BLUE, 100.0)]);
        assert_eq!(test_back.rolling_back_to(), Some(BLUE));
        let forward = details(&[(GREEN, 100.0), (BLUE, 0.0)], &[]);
        assert_eq!(forward.rolling_back_to(), None);
        let canary = details(&[(GREEN, 10.0), (BLUE, 90.0)], &[]);
        assert_eq!(canary.rolling_back_to(), None);
        assert_eq!(details(&[], &[]).rolling_back_to(), None);
    }

    #[test]
    fn stages_round_trip_and_unknown_ones_are_refused() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::parse("AfterAllowTestTraffic"), None);
        assert!(Stage::TestTrafficShift.recurs_on_rollback());
        assert!(!Stage::PostTestTrafficShift.recurs_on_rollback());
    }

    #[test]
    fn the_answer_has_only_documented_fields() {
        let response = EcsHookResponse {
            hook_status: HookStatus::InProgress,
            call_back_delay: Some(10),
            hook_details: HookDetails {
                greenlight: Progress {
                    revision: GREEN.into(),
                    started_at_ms: 1,
                    invocations: 1,
                    rounds_passed: 1,
                    reason: "r".into(),
                    expected_image: None,
                },
            },
            task_definition: Some("td".into()),
            load_balancer_nodes: Vec::new(),
            checks: Vec::new(),
        };
        let value = serde_json::to_value(&response).expect("serializes");
        assert_eq!(
            value,
            serde_json::json!({
                "hookStatus": "IN_PROGRESS",
                "callBackDelay": 10,
                "hookDetails": {"greenlight": {
                    "revision": GREEN, "startedAtMs": 1, "invocations": 1,
                    "roundsPassed": 1, "reason": "r"
                }}
            })
        );
    }

    #[test]
    fn only_the_bootstrap_family_is_the_bootstrap() {
        let config = HookConfig::from_lookup(|k| match k {
            "TEST_LISTENER_URL" => Some("http://h:8080".into()),
            "BOOTSTRAP_TASK_FAMILY" => Some("greenlight-bootstrap".into()),
            _ => None,
        })
        .expect("valid");
        let arn = |family: &str| format!("arn:aws:ecs:eu-west-1:1:task-definition/{family}:3");
        assert!(is_bootstrap(&config, &arn("greenlight-bootstrap")));
        assert!(is_bootstrap(&config, "greenlight-bootstrap:3"));
        assert!(!is_bootstrap(&config, &arn("greenlight")));
        assert!(!is_bootstrap(&config, &arn("greenlight-bootstrap-2")));
        let unset = HookConfig::from_lookup(|k| {
            (k == "TEST_LISTENER_URL").then(|| "http://h:8080".to_owned())
        })
        .expect("valid");
        assert!(!is_bootstrap(&unset, &arn("greenlight-bootstrap")));
    }

    #[test]
    fn progress_for_another_revision_does_not_count() {
        let details = serde_json::json!({
            "S3_BUCKET": "kept by ECS",
            "greenlight": {"revision": BLUE, "startedAtMs": 5, "invocations": 2, "roundsPassed": 1}
        });
        assert_eq!(progress_from(Some(&details), GREEN), None);
        let mine = progress_from(Some(&details), BLUE).expect("progress");
        assert_eq!(mine.rounds_passed, 1);
        assert_eq!(
            progress_from(Some(&serde_json::json!({"greenlight": 3})), BLUE),
            None
        );
        assert_eq!(progress_from(None, BLUE), None);
    }
}
