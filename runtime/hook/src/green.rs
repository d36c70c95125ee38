//! Checking green, the same for both engines: once the image being rolled out is known, run the
//! smoke checks through the test listener (via the load balancer's private nodes when set) and
//! turn the report into a verdict.

use std::net::IpAddr;
use std::time::Duration;

use greenlight_smoke::Check;
use serde::Serialize;
use tokio::time::Instant;

use crate::aws::{Aws, AwsError, Target};
use crate::config::HookConfig;

/// The name smoke gives the entry it adds when a run ran out of time.
const DEADLINE_CHECK: &str = "deadline";

/// The checks' verdict, before it is reported (CodeDeploy) or returned (ECS).
#[derive(Debug)]
pub(crate) struct Verdict {
    pub passed: bool,
    pub reason: String,
    pub target: Option<Target>,
    pub checks: Vec<Check>,
    pub nodes: Vec<IpAddr>,
    /// The deployment (CodeDeploy) or revision (ECS) does not exist.
    pub unknown: bool,
    /// Every check that ran passed, but time ran out before all rounds did: a later
    /// invocation may go on (ECS), or it is a failure (CodeDeploy).
    pub out_of_time: bool,
}

impl Verdict {
    pub fn failed(reason: String) -> Self {
        Self {
            passed: false,
            reason,
            target: None,
            checks: Vec::new(),
            nodes: Vec::new(),
            unknown: false,
            out_of_time: false,
        }
    }

    /// A verdict reached without running the checks.
    pub fn passed_unchecked(reason: String, target: Target) -> Self {
        Self {
            passed: true,
            target: Some(target),
            ..Self::failed(reason)
        }
    }

    /// Why finding the image failed, as a verdict.
    pub fn lookup_failed(error: &AwsError) -> Self {
        let mut verdict = Self::failed(error.to_string());
        verdict.unknown = matches!(
            error,
            AwsError::UnknownDeployment { .. } | AwsError::UnknownRevision { .. }
        );
        verdict
    }

    /// Rounds whose every check passed (a round ends with its chat check; a run stops after
    /// the first round with a failure).
    pub fn rounds_passed(&self) -> u32 {
        let chats = self
            .checks
            .iter()
            .filter(|c| c.name == "chat" && c.passed)
            .count();
        u32::try_from(chats).unwrap_or(u32::MAX)
    }
}

/// Runs the rounds after the first `rounds_done` of the configured ones against the test
/// listener, expecting `target`'s image, until `run_until` at the latest. Rounds in the verdict
/// keep their numbers in the whole run (round `rounds_done + 1` first).
pub(crate) async fn check(
    aws: &Aws,
    config: &HookConfig,
    target: Target,
    rounds_done: u32,
    run_until: Instant,
) -> Verdict {
    let mut smoke = config.smoke.clone();
    smoke.expect_image = Some(target.image.clone());
    smoke.rounds = smoke.rounds.saturating_sub(rounds_done).max(1);
    if let Some(load_balancer) = &config.load_balancer {
        match aws.load_balancer_nodes(load_balancer).await {
            Ok(nodes) => smoke.connect_to = nodes,
            Err(e) => {
                let mut verdict = Verdict::failed(format!(
                    "cannot find the private addresses of load balancer {load_balancer}: {e}"
                ));
                verdict.target = Some(target);
                return verdict;
            }
        }
    }
    // Leave the smoke run a moment to write its report before the outer deadline cuts it.
    smoke.deadline = run_until
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_millis(100));
    if smoke.deadline.is_zero() {
        let mut verdict =
            Verdict::failed("no time was left for the checks before the whole-run deadline".into());
        verdict.target = Some(target);
        verdict.out_of_time = true;
        return verdict;
    }
    let mut report = greenlight_smoke::run(&smoke).await;
    for check in &mut report.checks {
        if check.round > 0 {
            check.round += rounds_done;
        }
    }
    let out_of_time = !report.passed
        && report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .all(|c| c.name == DEADLINE_CHECK);
    Verdict {
        passed: report.passed,
        reason: report.summary(),
        target: Some(target),
        checks: report.checks,
        nodes: smoke.connect_to,
        unknown: false,
        out_of_time,
    }
}

/// Per-check timings as compact JSON for the log line.
#[derive(Serialize)]
struct CheckTiming<'a> {
    check: &'a str,
    round: u32,
    passed: bool,
    ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<u64>,
}

pub(crate) fn timings_json(checks: &[Check]) -> String {
    let timings: Vec<CheckTiming<'_>> = checks
        .iter()
        .map(|c| CheckTiming {
            check: &c.name,
            round: c.round,
            passed: c.passed,
            ms: c.duration_ms,
            ttft_ms: c.ttft_ms,
        })
        .collect();
    serde_json::to_string(&timings).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, round: u32, passed: bool) -> Check {
        serde_json::from_value(serde_json::json!({
            "name": name, "round": round, "passed": passed, "duration_ms": 1, "detail": ""
        }))
        .expect("a check")
    }

    #[test]
    fn counts_rounds_that_passed_their_chat() {
        let mut verdict = Verdict::failed(String::new());
        verdict.checks = vec![
            check("health", 1, true),
            check("chat", 1, true),
            check("health", 2, true),
            check("chat", 2, false),
        ];
        assert_eq!(verdict.rounds_passed(), 1);
    }
}
