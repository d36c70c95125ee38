//! The AWS calls: what a deployment rolls out (a CodeDeploy deployment's appspec, or an ECS
//! service revision), the image its task definition runs, and reporting to CodeDeploy.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_codedeploy::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError;
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use tokio::time::Instant;

use crate::appspec::{self, AppSpecError};
use crate::load_balancer_nodes::{LoadBalancerNodes, NodesError};

/// What went wrong finding the image a deployment rolls out, or reporting.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("deployment {id} does not exist: {message}")]
    UnknownDeployment { id: String, message: String },
    #[error("GetDeployment {id} failed: {message}")]
    GetDeployment { id: String, message: String },
    #[error(
        "deployment {id} has no AppSpecContent revision (revision type {kind}); an ECS deployment carries its appspec inline"
    )]
    NoAppSpec { id: String, kind: String },
    #[error("deployment {id}: {source}")]
    AppSpec { id: String, source: AppSpecError },
    #[error("DescribeTaskDefinition {arn} failed: {message}")]
    TaskDefinition { arn: String, message: String },
    #[error("task definition {arn} has no container named {name:?} (containers: {found:?})")]
    NoContainer {
        arn: String,
        name: String,
        found: Vec<String>,
    },
    #[error("container {name:?} of task definition {arn} has no image")]
    NoImage { arn: String, name: String },
    #[error("service revision {arn} does not exist ({reason}{detail})")]
    UnknownRevision {
        arn: String,
        reason: String,
        detail: String,
    },
    #[error("DescribeServiceRevisions {arn} failed: {message}")]
    DescribeRevision { arn: String, message: String },
    #[error("service revision {arn} names no task definition")]
    RevisionWithoutTaskDefinition { arn: String },
    #[error("PutLifecycleEventHookExecutionStatus failed after {attempts} attempt(s): {message}")]
    Report { attempts: u32, message: String },
}

/// The image this deployment rolls out, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub task_definition: String,
    pub image: String,
}

/// How a report call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// The status was recorded now.
    Recorded,
    /// The execution already had a status (a Lambda retry after an earlier report): nothing to do.
    AlreadyCompleted,
}

/// Retries and time bounds for every AWS call: the SDK's standard retry covers throttling,
/// 5xx and transient network errors with exponential backoff and jitter.
pub fn configure(loader: ConfigLoader) -> ConfigLoader {
    loader
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(3)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
}

/// The SDK config of the Lambda: the default chain (region, role credentials) with [`configure`].
pub async fn load_sdk_config() -> SdkConfig {
    configure(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await
}

#[derive(Clone)]
pub struct Aws {
    codedeploy: aws_sdk_codedeploy::Client,
    ecs: aws_sdk_ecs::Client,
    nodes: LoadBalancerNodes,
}

impl Aws {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            nodes: LoadBalancerNodes::new(config),
        }
    }

    /// The private addresses of the nodes of the load balancer named `full_name`.
    pub async fn load_balancer_nodes(
        &self,
        full_name: &str,
    ) -> Result<Vec<std::net::IpAddr>, NodesError> {
        self.nodes.addresses(full_name).await
    }

    /// GetDeployment → the revision's appspec → DescribeTaskDefinition → the container's image.
    pub async fn target(&self, deployment_id: &str, container: &str) -> Result<Target, AwsError> {
        let task_definition = self.task_definition(deployment_id).await?;
        self.target_of(task_definition, container).await
    }

    /// DescribeServiceRevisions → the revision's task definition → DescribeTaskDefinition → the
    /// container's image: what an ECS deployment's green (target) revision runs.
    ///
    /// The task definition, not the revision's `containerImages`, is the source: it holds the
    /// image as the pipeline wrote it (what green's IMAGE_URI, and so `/version`, says), while
    /// `containerImages` may carry the digest ECS resolved it to.
    pub async fn revision_target(
        &self,
        revision_arn: &str,
        container: &str,
    ) -> Result<Target, AwsError> {
        let output = self
            .ecs
            .describe_service_revisions()
            .service_revision_arns(revision_arn)
            .send()
            .await
            .map_err(|e| AwsError::DescribeRevision {
                arn: revision_arn.to_owned(),
                message: describe(&e),
            })?;
        // An unknown ARN is not an error response: ECS lists it under `failures` (reason MISSING).
        if let Some(failure) = output.failures().first() {
            return Err(AwsError::UnknownRevision {
                arn: failure.arn().unwrap_or(revision_arn).to_owned(),
                reason: failure.reason().unwrap_or("no reason given").to_owned(),
                detail: failure
                    .detail()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default(),
            });
        }
        let revision = output
            .service_revisions()
            .iter()
            .find(|r| r.service_revision_arn() == Some(revision_arn))
            .ok_or_else(|| AwsError::UnknownRevision {
                arn: revision_arn.to_owned(),
                reason: "not in the answer".to_owned(),
                detail: String::new(),
            })?;
        let task_definition = revision
            .task_definition()
            .map(str::to_owned)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AwsError::RevisionWithoutTaskDefinition {
                arn: revision_arn.to_owned(),
            })?;
        self.target_of(task_definition, container).await
    }

    async fn target_of(
        &self,
        task_definition: String,
        container: &str,
    ) -> Result<Target, AwsError> {
        let image = self.image(&task_definition, container).await?;
        Ok(Target {
            task_definition,
            image,
        })
    }

    async fn task_definition(&self, id: &str) -> Result<String, AwsError> {
        let output = self
            .codedeploy
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetDeploymentError::DeploymentDoesNotExistException(inner)) => {
                    AwsError::UnknownDeployment {
                        id: id.to_owned(),
                        message: inner
                            .message()
                            .unwrap_or("DeploymentDoesNotExistException")
                            .to_owned(),
                    }
                }
                Some(GetDeploymentError::InvalidDeploymentIdException(inner)) => {
                    AwsError::UnknownDeployment {
                        id: id.to_owned(),
                        message: inner
                            .message()
                            .unwrap_or("InvalidDeploymentIdException")
                            .to_owned(),
                    }
                }
                _ => AwsError::GetDeployment {
                    id: id.to_owned(),
                    message: describe(&e),
                },
            })?;
        let revision = output.deployment_info().and_then(|d| d.revision());
        let content = revision
            .and_then(|r| r.app_spec_content())
            .and_then(|a| a.content())
            // A `String` revision also carries the appspec inline (older ECS deployments).
            .or_else(|| revision.and_then(|r| r.string()).and_then(|s| s.content()))
            .ok_or_else(|| AwsError::NoAppSpec {
                id: id.to_owned(),
                kind: revision
                    .and_then(|r| r.revision_type())
                    .map_or_else(|| "none".to_owned(), |t| t.as_str().to_owned()),
            })?;
        appspec::task_definition(content).map_err(|source| AwsError::AppSpec {
            id: id.to_owned(),
            source,
        })
    }

    async fn image(&self, arn: &str, container: &str) -> Result<String, AwsError> {
        let output = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| AwsError::TaskDefinition {
                arn: arn.to_owned(),
                message: describe(&e),
            })?;
        let containers = output
            .task_definition()
            .map(|t| t.container_definitions())
            .unwrap_or_default();
        let found = containers
            .iter()
            .find(|c| c.name() == Some(container))
            .ok_or_else(|| AwsError::NoContainer {
                arn: arn.to_owned(),
                name: container.to_owned(),
                found: containers
                    .iter()
                    .filter_map(|c| c.name().map(str::to_owned))
                    .collect(),
            })?;
        found
            .image()
            .map(str::to_owned)
            .filter(|i| !i.is_empty())
            .ok_or_else(|| AwsError::NoImage {
                arn: arn.to_owned(),
                name: container.to_owned(),
            })
    }

    /// Reports the hook's status. The SDK already retries throttling and 5xx with backoff; on
    /// top, while `until` allows, whole calls are retried (after the SDK gave up, e.g. a longer
    /// throttling burst), since a hook that never reports stalls the deployment for an hour.
    pub async fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        succeeded: bool,
        until: Instant,
    ) -> Result<Reported, AwsError> {
        let status = if succeeded {
            LifecycleEventStatus::Succeeded
        } else {
            LifecycleEventStatus::Failed
        };
        let mut attempts = 0;
        let mut pause = Duration::from_millis(500);
        loop {
            attempts += 1;
            let result = self
                .codedeploy
                .put_lifecycle_event_hook_execution_status()
                .deployment_id(deployment_id)
                .lifecycle_event_hook_execution_id(execution_id)
                .status(status.clone())
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Reported::Recorded),
                Err(e) => e,
            };
            let service_error = error.as_service_error();
            if matches!(
                service_error,
                Some(PutLifecycleEventHookExecutionStatusError::LifecycleEventAlreadyCompletedException(_))
            ) {
                return Ok(Reported::AlreadyCompleted);
            }
            // A modelled error (bad id, unsupported deployment type) will not change on retry.
            let permanent = service_error.is_some_and(|e| {
                e.is_deployment_does_not_exist_exception()
                    || e.is_deployment_id_required_exception()
                    || e.is_invalid_deployment_id_exception()
                    || e.is_invalid_lifecycle_event_hook_execution_id_exception()
                    || e.is_invalid_lifecycle_event_hook_execution_status_exception()
                    || e.is_unsupported_action_for_deployment_type_exception()
            });
            let message = describe(&error);
            if permanent || attempts >= 3 || Instant::now() + pause >= until {
                return Err(AwsError::Report { attempts, message });
            }
            tracing::warn!(attempts, error = %message, "report call failed; retrying");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

/// A one-line description of an SDK error: the service's code and message when it answered,
/// else the error chain (timeouts, connection errors) without the raw response.
fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(e) => {
            let err = e.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("unknown error code"),
                err.message().unwrap_or("no message")
            )
        }
        other => DisplayErrorContext(other).to_string(),
    }
}
