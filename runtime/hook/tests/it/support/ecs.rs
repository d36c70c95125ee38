//! ECS resources for the hook's ECS-engine tests, created through the real Rust SDK client in
//! the moto server (whose service revisions and deployments tests/moto/server.py adds).

use aws_config::SdkConfig;
use aws_sdk_ecs::types::ContainerDefinition;
use serde_json::{Value, json};

/// A service that was deployed twice: blue (the first revision), then green.
pub struct EcsService {
    pub service_arn: String,
    pub green_revision: String,
    pub blue_revision: String,
}

async fn task_definition(ecs: &aws_sdk_ecs::Client, image: &str) -> String {
    ecs.register_task_definition()
        .family("greenlight")
        .container_definitions(
            ContainerDefinition::builder()
                .name("greenlight")
                .image(image)
                .memory(512)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTaskDefinition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("task definition arn")
}

/// Creates a cluster and a service running `blue_image`, then updates it to `green_image`, and
/// finds both revisions as an operator would: ListServiceDeployments, newest first.
pub async fn deploy_service(config: &SdkConfig, blue_image: &str, green_image: &str) -> EcsService {
    let ecs = aws_sdk_ecs::Client::new(config);
    let cluster = format!("greenlight-{}", super::unique_number());
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("CreateCluster");
    let blue = task_definition(&ecs, blue_image).await;
    let service_arn = ecs
        .create_service()
        .cluster(&cluster)
        .service_name("greenlight")
        .task_definition(blue)
        .desired_count(1)
        .send()
        .await
        .expect("CreateService")
        .service
        .and_then(|s| s.service_arn)
        .expect("service arn");
    let green = task_definition(&ecs, green_image).await;
    ecs.update_service()
        .cluster(&cluster)
        .service("greenlight")
        .task_definition(green)
        .send()
        .await
        .expect("UpdateService");
    let deployments = ecs
        .list_service_deployments()
        .cluster(&cluster)
        .service("greenlight")
        .send()
        .await
        .expect("ListServiceDeployments");
    let revisions: Vec<String> = deployments
        .service_deployments()
        .iter()
        .filter_map(|d| d.target_service_revision_arn().map(str::to_owned))
        .collect();
    let [green_revision, blue_revision] = revisions.as_slice() else {
        panic!("two deployments expected, got {revisions:?}");
    };
    EcsService {
        service_arn,
        green_revision: green_revision.clone(),
        blue_revision: blue_revision.clone(),
    }
}

/// The event ECS invokes a lifecycle hook with (developer guide, "Lambda hooks for Amazon ECS
/// service deployments"), with `hook_details` from a previous IN_PROGRESS answer if any.
pub fn ecs_event(
    service: &EcsService,
    stage: &str,
    production_weights: &[(&str, u32)],
    test_weights: &[(&str, u32)],
    hook_details: Option<&Value>,
) -> Value {
    let weights = |pairs: &[(&str, u32)]| {
        pairs
            .iter()
            .map(|(arn, w)| ((*arn).to_owned(), json!(w)))
            .collect::<serde_json::Map<_, _>>()
    };
    let mut event = json!({
        "executionId": format!("exec-{}", super::unique_number()),
        "lifecycleStage": stage,
        "resourceArn": service.service_arn.replace(":service/", ":service-deployment/") + "/EZe5RNVLH6PP",
        "executionDetails": {
            "serviceArn": service.service_arn,
            "targetServiceRevisionArn": service.green_revision,
            "testTrafficWeights": weights(test_weights),
            "productionTrafficWeights": weights(production_weights),
        },
    });
    if let Some(details) = hook_details {
        event["hookDetails"] = details.clone();
    }
    event
}
