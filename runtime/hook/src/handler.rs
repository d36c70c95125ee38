//! The hook, and one CodeDeploy invocation: find the image being rolled out, check green
//! (crate::green), report Succeeded or Failed to CodeDeploy, and log the outcome as one JSON
//! line. The ECS engine's invocation is in crate::ecs; crate::event tells them apart.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent;
use greenlight_smoke::Check;
use serde::Serialize;
use tokio::time::{Instant, timeout_at};

use crate::aws::{Aws, AwsError, Reported};
use crate::config::{ConfigError, HookConfig};
use crate::deadline;
use crate::green::{self, Verdict};

/// Why an invocation itself failed (returned to Lambda after logging).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the lifecycle event has no {0}")]
    BadEvent(&'static str),
    #[error(
        "not a lifecycle event this hook knows: {0}; it serves CodeDeploy (DeploymentId, LifecycleEventHookExecutionId) and Amazon ECS (executionId, lifecycleStage, executionDetails) lifecycle hooks"
    )]
    UnknownEvent(String),
    #[error("the {engine} lifecycle event is malformed: {message}")]
    MalformedEvent {
        engine: &'static str,
        message: String,
    },
    #[error(
        "the hook was invoked at ECS lifecycle stage {0}; it checks green only at POST_TEST_TRAFFIC_SHIFT (all test traffic, no production traffic yet): register it there"
    )]
    UnsupportedStage(String),
    #[error("{reason} (reporting Failed: {reported})")]
    UnknownDeployment { reason: String, reported: String },
    #[error("checks {status}: {reason}; but {source}")]
    ReportFailed {
        status: &'static str,
        reason: String,
        source: AwsError,
    },
}

impl HookError {
    /// A stable name for Lambda's errorType.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadEvent(_) => "BadEvent",
            Self::UnknownEvent(_) => "UnknownEvent",
            Self::MalformedEvent { .. } => "MalformedEvent",
            Self::UnsupportedStage(_) => "UnsupportedStage",
            Self::UnknownDeployment { .. } => "UnknownDeployment",
            Self::ReportFailed { .. } => "ReportFailed",
        }
    }
}

/// What the invocation returns (and `cargo lambda invoke` prints).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookResponse {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
    /// `Succeeded` or `Failed`, as reported.
    pub status: &'static str,
    /// `recorded`, or `already_completed` when a previous invocation had reported.
    pub reported: &'static str,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_image: Option<String>,
    /// The load balancer nodes the checks connected to (empty: the URL's DNS answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_nodes: Vec<IpAddr>,
    pub duration_ms: u64,
    pub checks: Vec<Check>,
}

pub struct Hook {
    pub(crate) aws: Aws,
    /// A bad configuration does not stop the runtime: every invocation reports Failed naming it,
    /// so the deployment fails at once instead of waiting for the hook's hour-long timeout.
    pub(crate) config: Result<HookConfig, ConfigError>,
}

impl Hook {
    pub fn new(aws: Aws, config: Result<HookConfig, ConfigError>) -> Self {
        Self { aws, config }
    }

    pub async fn handle(
        &self,
        event: CodeDeployLifecycleEvent,
        lambda_deadline: Option<SystemTime>,
    ) -> Result<HookResponse, HookError> {
        let started = Instant::now();
        let deployment_id = event.deployment_id.trim().to_owned();
        let execution_id = event.lifecycle_event_hook_execution_id.trim().to_owned();
        if execution_id.is_empty() {
            tracing::error!(
                deployment_id,
                "the lifecycle event has no lifecycleEventHookExecutionId"
            );
            return Err(HookError::BadEvent("lifecycleEventHookExecutionId"));
        }
        if deployment_id.is_empty() {
            tracing::error!(execution_id, "the lifecycle event has no deploymentId");
            return Err(HookError::BadEvent("deploymentId"));
        }

        let now = SystemTime::now();
        let lambda_deadline = deadline::usable(lambda_deadline, now);
        let budget = self.budget(lambda_deadline, now);
        let run_until = started + budget;
        let verdict = match &self.config {
            Err(e) => Verdict::failed(format!("the hook is misconfigured: {e}")),
            Ok(config) => {
                match timeout_at(run_until, self.evaluate(config, &deployment_id, run_until)).await
                {
                    Ok(verdict) => verdict,
                    Err(_) => Verdict::failed(format!(
                        "the whole-run deadline of {} ms passed before the deployment's image was known",
                        budget.as_millis()
                    )),
                }
            }
        };

        let report_until =
            Instant::now() + deadline::report_budget(lambda_deadline, SystemTime::now());
        let reported = self
            .aws
            .report(&deployment_id, &execution_id, verdict.passed, report_until)
            .await;
        let status = if verdict.passed {
            "Succeeded"
        } else {
            "Failed"
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        log_outcome(
            &deployment_id,
            &execution_id,
            status,
            &reported,
            &verdict,
            duration_ms,
        );

        if verdict.unknown {
            return Err(HookError::UnknownDeployment {
                reason: verdict.reason,
                reported: match &reported {
                    Ok(_) => "recorded".to_owned(),
                    Err(e) => e.to_string(),
                },
            });
        }
        let reported = reported.map_err(|source| HookError::ReportFailed {
            status,
            reason: verdict.reason.clone(),
            source,
        })?;
        Ok(HookResponse {
            deployment_id,
            lifecycle_event_hook_execution_id: execution_id,
            status,
            reported: reported_label(reported),
            reason: verdict.reason,
            task_definition: verdict.target.as_ref().map(|t| t.task_definition.clone()),
            expected_image: verdict.target.map(|t| t.image),
            load_balancer_nodes: verdict.nodes,
            duration_ms,
            checks: verdict.checks,
        })
    }

    /// The run's budget: none when misconfigured (the verdict is known at once).
    pub(crate) fn budget(&self, lambda_deadline: Option<SystemTime>, now: SystemTime) -> Duration {
        match &self.config {
            Ok(config) => deadline::run_budget(config.deadline, lambda_deadline, now),
            Err(_) => Duration::ZERO,
        }
    }

    async fn evaluate(
        &self,
        config: &HookConfig,
        deployment_id: &str,
        run_until: Instant,
    ) -> Verdict {
        match self.aws.target(deployment_id, &config.container_name).await {
            Ok(target) => green::check(&self.aws, config, target, 0, run_until).await,
            Err(e) => Verdict::lookup_failed(&e),
        }
    }
}

fn reported_label(reported: Reported) -> &'static str {
    match reported {
        Reported::Recorded => "recorded",
        Reported::AlreadyCompleted => "already_completed",
    }
}

/// The one structured line per invocation that says what happened and why.
fn log_outcome(
    deployment_id: &str,
    execution_id: &str,
    outcome: &str,
    reported: &Result<Reported, AwsError>,
    verdict: &Verdict,
    duration_ms: u64,
) {
    let checks = green::timings_json(&verdict.checks);
    let task_definition = verdict
        .target
        .as_ref()
        .map_or("", |t| t.task_definition.as_str());
    let expected_image = verdict.target.as_ref().map_or("", |t| t.image.as_str());
    match reported {
        Ok(r) => tracing::info!(
            deployment_id,
            execution_id,
            outcome,
            reported = reported_label(*r),
            reason = %verdict.reason,
            task_definition,
            expected_image,
            duration_ms,
            checks,
            "green-light hook finished"
        ),
        Err(e) => tracing::error!(
            deployment_id,
            execution_id,
            outcome,
            reported = %e,
            reason = %verdict.reason,
            task_definition,
            expected_image,
            duration_ms,
            checks,
            "green-light hook finished but could not report"
        ),
    }
}
