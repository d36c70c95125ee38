//! greenlight-hook: the green-light hook of Greenlight's ECS blue/green deployments, for both
//! engines: CodeDeploy's `AfterAllowTestTraffic` hook and Amazon ECS's native blue/green
//! `POST_TEST_TRAFFIC_SHIFT` lifecycle hook. It checks the green tasks through the test listener
//! and lets production traffic shift only when every check passed.

pub mod appspec;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod ecs;
pub mod event;
mod green;
pub mod handler;
pub mod load_balancer_nodes;

pub use aws::Aws;
pub use config::HookConfig;
pub use ecs::{EcsHookResponse, EcsLifecycleEvent, HookStatus};
pub use event::LifecycleEvent;
pub use handler::{Hook, HookError, HookResponse};
