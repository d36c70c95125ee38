//! The ECS AppSpec of a deployment's revision: where the task definition being rolled out is named.
//!
//! CodeDeploy accepts YAML or JSON; YAML 1.2 is a superset of JSON, so one YAML parser reads both.

use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppSpecError {
    #[error("the appspec is not valid YAML/JSON: {0}")]
    Syntax(String),
    #[error("the appspec has no Resources entry of Type AWS::ECS::Service")]
    NoEcsService,
    #[error("the appspec has {0} AWS::ECS::Service resources; expected exactly one")]
    ManyEcsServices(usize),
    #[error("the appspec's ECS service resource {0:?} has no Properties.TaskDefinition")]
    NoTaskDefinition(String),
}

#[derive(Deserialize)]
struct AppSpec {
    #[serde(rename = "Resources", default)]
    resources: Vec<std::collections::BTreeMap<String, Resource>>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Properties")]
    properties: Option<Properties>,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(rename = "TaskDefinition")]
    task_definition: Option<String>,
}

/// The task definition (ARN or family:revision) of the appspec's one ECS service.
pub fn task_definition(content: &str) -> Result<String, AppSpecError> {
    let spec: AppSpec =
        serde_norway::from_str(content).map_err(|e| AppSpecError::Syntax(e.to_string()))?;
    let services: Vec<(String, Resource)> = spec
        .resources
        .into_iter()
        .flatten()
        .filter(|(_, r)| r.kind.as_deref() == Some("AWS::ECS::Service"))
        .collect();
    match services.len() {
        0 => Err(AppSpecError::NoEcsService),
        1 => {
            let (name, resource) = services
                .into_iter()
                .next()
                .ok_or(AppSpecError::NoEcsService)?;
            resource
                .properties
                .and_then(|p| p.task_definition)
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or(AppSpecError::NoTaskDefinition(name))
        }
        n => Err(AppSpecError::ManyEcsServices(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/greenlight:7";

    #[test]
    fn reads_yaml() {
        let yaml = format!(
            "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{ARN}\"\n        LoadBalancerInfo:\n          ContainerName: greenlight\n          ContainerPort: 8080\nHooks:\n  - AfterAllowTestTraffic: hook\n"
        );
        assert_eq!(task_definition(&yaml), Ok(ARN.to_owned()));
    }

    #[test]
    fn reads_json() {
        let json = format!(
            r#"{{"version":0.0,"Resources":[{{"TargetService":{{"Type":"AWS::ECS::Service","Properties":{{"TaskDefinition":"{ARN}"}}}}}}]}}"#
        );
        assert_eq!(task_definition(&json), Ok(ARN.to_owned()));
    }

    #[test]
    fn names_what_is_missing() {
        assert_eq!(
            task_definition("version: 0.0\n"),
            Err(AppSpecError::NoEcsService)
        );
        assert!(matches!(
            task_definition("Resources: [oops"),
            Err(AppSpecError::Syntax(_))
        ));
        let no_td = "Resources:\n  - Svc:\n      Type: AWS::ECS::Service\n      Properties: {}\n";
        assert_eq!(
            task_definition(no_td),
            Err(AppSpecError::NoTaskDefinition("Svc".into()))
        );
        let two = "Resources:\n  - A:\n      Type: AWS::ECS::Service\n  - B:\n      Type: AWS::ECS::Service\n";
        assert_eq!(task_definition(two), Err(AppSpecError::ManyEcsServices(2)));
    }
}
