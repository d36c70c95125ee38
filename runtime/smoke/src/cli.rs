//! The `greenlight smoke` arguments (behind the `clap` feature so the hook does not pull clap).

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;

use crate::config::{self, ConfigError, SmokeConfig};

/// Check a running Greenlight server: /health, /ready, /version and a streamed chat.
#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8080
    #[arg(long, env = "SMOKE_URL")]
    pub url: String,
    /// Connect to this address instead of resolving the URL's host (repeatable; the Host
    /// header and TLS name stay the URL's), e.g. a load balancer node's private address.
    #[arg(long = "connect-to", value_name = "IP")]
    pub connect_to: Vec<IpAddr>,
    /// Fail unless /version reports this image.
    #[arg(long)]
    pub expect_image: Option<String>,
    /// Rounds of every check, each on fresh connections; every round must pass.
    #[arg(long, default_value_t = config::DEFAULT_ROUNDS)]
    pub rounds: u32,
    /// Budget from sending the chat to its first token, in milliseconds.
    #[arg(long, default_value_t = config::DEFAULT_TTFT_BUDGET_MS)]
    pub ttft_budget_ms: u64,
    /// Budget from sending the chat to its done event, in milliseconds.
    #[arg(long, default_value_t = config::DEFAULT_TOTAL_BUDGET_MS)]
    pub total_budget_ms: u64,
    /// The chat prompt.
    #[arg(long, default_value = config::DEFAULT_PROMPT)]
    pub prompt: String,
    /// Bound of each /health, /ready and /version request, in milliseconds.
    #[arg(long, default_value_t = config::DEFAULT_REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
    /// Whole-run deadline in seconds (default: what every round may take at worst).
    #[arg(long)]
    pub deadline_seconds: Option<u64>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SmokeArgs {
    /// The validated settings these arguments describe.
    pub fn to_config(&self) -> Result<SmokeConfig, ConfigError> {
        let mut config = SmokeConfig::new(config::parse_base_url(&self.url)?);
        config.connect_to = self.connect_to.clone();
        config.expect_image = self.expect_image.clone();
        config.rounds = self.rounds;
        config.ttft_budget = Duration::from_millis(self.ttft_budget_ms);
        config.total_budget = Duration::from_millis(self.total_budget_ms);
        config.prompt = self.prompt.clone();
        config.request_timeout = Duration::from_millis(self.request_timeout_ms);
        config.deadline = match self.deadline_seconds {
            Some(s) => Duration::from_secs(s),
            None => config.worst_case(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Runs the checks and prints the report. Returns the process exit code: 0 when every check
    /// passed, 1 when one failed, 2 for invalid arguments (as clap does for unparsable ones).
    pub async fn run(&self) -> u8 {
        let config = match self.to_config() {
            Ok(config) => config,
            Err(e) => {
                eprintln!("greenlight smoke: {e}");
                return 2;
            }
        };
        let report = crate::run(&config).await;
        if self.json {
            println!("{}", report.to_json());
        } else {
            print!("{}", report.render_text());
        }
        if report.passed { 0 } else { 1 }
    }
}
