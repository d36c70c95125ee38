//! greenlight-smoke: the green-light checks of a Greenlight server, shared by the
//! `greenlight smoke` CLI and the CodeDeploy hook Lambda.
//!
//! A run checks `/health`, `/ready`, `/version` (optionally the image) and a real streamed chat,
//! for several rounds on fresh connections, and always returns a [`Report`] by its deadline.

mod chat;
#[cfg(feature = "clap")]
pub mod cli;
pub mod config;
mod http;
mod probes;
pub mod report;

use tokio::time::{Instant, timeout};

pub use config::{ConfigError, SmokeConfig, parse_base_url};
pub use http::{describe as describe_error, excerpt, tls_roots};
pub use report::{Check, Report, ServerVersion};

/// What a run has done so far; kept outside the run's future so a deadline cannot lose it.
#[derive(Default)]
struct Progress {
    checks: Vec<Check>,
    server: Option<ServerVersion>,
    current: Option<String>,
}

/// Runs every check and returns the report; never takes longer than `config.deadline`
/// (plus scheduling noise). Call [`SmokeConfig::validate`] first.
pub async fn run(config: &SmokeConfig) -> Report {
    let start = Instant::now();
    let mut progress = Progress::default();
    let finished = timeout(config.deadline, run_rounds(config, &mut progress))
        .await
        .is_ok();
    if !finished {
        let during = progress.current.take().unwrap_or_else(|| "the run".into());
        progress.checks.push(Check::new(
            "deadline",
            0,
            false,
            start.elapsed(),
            format!(
                "the run's deadline of {} ms passed during {during}",
                config.deadline.as_millis()
            ),
        ));
    }
    Report {
        url: config.base_url.to_string(),
        expect_image: config.expect_image.clone(),
        passed: finished && !progress.checks.is_empty() && progress.checks.iter().all(|c| c.passed),
        rounds: config.rounds,
        duration_ms: report::millis(start.elapsed()),
        server: progress.server,
        checks: progress.checks,
    }
}

/// Every round in turn; stops after the first round with a failure, since the outcome is
/// then known and a broken server should not hold a deployment up for more rounds.
async fn run_rounds(config: &SmokeConfig, progress: &mut Progress) {
    for round in 1..=config.rounds {
        let client = match http::client(config, round) {
            Ok(client) => client,
            Err(e) => {
                let detail = format!("cannot build the HTTP client: {}", http::describe(&e));
                progress.checks.push(Check::new(
                    "client",
                    round,
                    false,
                    Default::default(),
                    detail,
                ));
                return;
            }
        };
        progress.current = Some(format!("round {round} health"));
        progress
            .checks
            .push(probes::health(&client, config, round).await);
        progress.current = Some(format!("round {round} ready"));
        progress
            .checks
            .push(probes::ready(&client, config, round).await);
        progress.current = Some(format!("round {round} version"));
        let (check, seen) = probes::version(&client, config, round).await;
        progress.checks.push(check);
        if progress.server.is_none() {
            progress.server = seen;
        }
        progress.current = Some(format!("round {round} chat"));
        progress
            .checks
            .push(chat::check(&client, config, round).await);
        progress.current = None;
        if progress.checks.iter().any(|c| !c.passed) {
            return;
        }
    }
}
