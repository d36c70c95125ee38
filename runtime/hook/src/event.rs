//! Which engine invoked the hook: the same binary serves CodeDeploy's `AfterAllowTestTraffic`
//! hook and Amazon ECS's lifecycle hooks, told apart by the event's fields. An event that is
//! neither fails the invocation with a message naming what was expected.

use std::time::SystemTime;

use aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent;
use serde_json::Value;

use crate::ecs::EcsLifecycleEvent;
use crate::handler::{Hook, HookError};

/// Fields only a CodeDeploy lifecycle event has.
const CODEDEPLOY_FIELDS: [&str; 2] = ["DeploymentId", "LifecycleEventHookExecutionId"];
/// Fields only an ECS lifecycle hook event has.
const ECS_FIELDS: [&str; 3] = ["executionId", "lifecycleStage", "executionDetails"];

#[derive(Debug, Clone)]
pub enum LifecycleEvent {
    CodeDeploy(CodeDeployLifecycleEvent),
    Ecs(EcsLifecycleEvent),
}

impl LifecycleEvent {
    pub fn recognise(event: Value) -> Result<Self, HookError> {
        let Value::Object(fields) = &event else {
            return Err(HookError::UnknownEvent(format!(
                "the event is JSON {}, not an object",
                kind_of(&event)
            )));
        };
        let has_any = |names: &[&str]| names.iter().any(|n| fields.contains_key(*n));
        match (has_any(&CODEDEPLOY_FIELDS), has_any(&ECS_FIELDS)) {
            (true, false) => serde_json::from_value(event)
                .map(Self::CodeDeploy)
                .map_err(|e| HookError::MalformedEvent {
                    engine: "CodeDeploy",
                    message: e.to_string(),
                }),
            (false, true) => serde_json::from_value(event).map(Self::Ecs).map_err(|e| {
                HookError::MalformedEvent {
                    engine: "ECS",
                    message: e.to_string(),
                }
            }),
            (true, true) => Err(HookError::UnknownEvent(
                "the event has both CodeDeploy and ECS fields".to_owned(),
            )),
            (false, false) => {
                let mut names: Vec<&str> = fields.keys().map(String::as_str).take(10).collect();
                names.sort_unstable();
                Err(HookError::UnknownEvent(format!(
                    "the event's fields are {names:?}"
                )))
            }
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Hook {
    /// One Lambda invocation of either engine; the answer is the engine's response as JSON.
    pub async fn invoke(
        &self,
        event: Value,
        lambda_deadline: Option<SystemTime>,
    ) -> Result<Value, HookError> {
        let answer = match LifecycleEvent::recognise(event).inspect_err(|e| {
            tracing::error!(error = %e, kind = e.kind(), "unrecognised invocation");
        })? {
            LifecycleEvent::CodeDeploy(event) => {
                serde_json::to_value(self.handle(event, lambda_deadline).await?)
            }
            LifecycleEvent::Ecs(event) => {
                serde_json::to_value(self.handle_ecs(event, lambda_deadline).await?)
            }
        };
        // Both responses are structs of strings, numbers and lists: they always serialize.
        Ok(answer.unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tells_the_engines_apart() {
        let codedeploy = LifecycleEvent::recognise(json!({
            "DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"
        }));
        assert!(matches!(codedeploy, Ok(LifecycleEvent::CodeDeploy(_))));
        let ecs = LifecycleEvent::recognise(json!({
            "executionId": "e", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
            "resourceArn": "arn", "executionDetails": {"targetServiceRevisionArn": "r"}
        }));
        assert!(matches!(ecs, Ok(LifecycleEvent::Ecs(_))));
    }

    #[test]
    fn anything_else_fails_clearly() {
        let e = LifecycleEvent::recognise(json!({"Records": []})).expect_err("an S3 event");
        assert_eq!(e.kind(), "UnknownEvent");
        assert!(
            e.to_string()
                .contains("the event's fields are [\"Records\"]"),
            "{e}"
        );
        assert!(e.to_string().contains("Amazon ECS (executionId"), "{e}");
        let e = LifecycleEvent::recognise(json!("hello")).expect_err("a string");
        assert!(
            e.to_string().contains("JSON a string, not an object"),
            "{e}"
        );
        let e = LifecycleEvent::recognise(json!({"DeploymentId": "d-1"})).expect_err("half");
        assert_eq!(e.kind(), "MalformedEvent");
        assert!(
            e.to_string().contains("LifecycleEventHookExecutionId"),
            "{e}"
        );
        let e = LifecycleEvent::recognise(json!({"executionId": 7})).expect_err("bad type");
        assert_eq!(e.kind(), "MalformedEvent");
        let e = LifecycleEvent::recognise(json!({"DeploymentId": "d", "executionId": "e"}))
            .expect_err("both");
        assert_eq!(e.kind(), "UnknownEvent");
    }
}
