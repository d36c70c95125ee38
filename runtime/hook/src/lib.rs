//! greenlight-hook: the CodeDeploy `AfterAllowTestTraffic` hook of Greenlight's ECS blue/green
//! deployments. It checks the green tasks through the test listener and lets production traffic
//! shift only when every check passed.

pub mod appspec;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod handler;
pub mod load_balancer_nodes;

pub use aws::Aws;
pub use config::HookConfig;
pub use handler::{Hook, HookError, HookResponse};
