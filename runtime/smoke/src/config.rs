//! What a smoke run checks and the limits it keeps, validated before anything is sent.

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

/// Defaults shared by the CLI and the hook (the hook's env table in docs/contract.md).
pub const DEFAULT_ROUNDS: u32 = 3;
pub const DEFAULT_TTFT_BUDGET_MS: u64 = 5_000;
pub const DEFAULT_TOTAL_BUDGET_MS: u64 = 20_000;
pub const DEFAULT_PROMPT: &str = "Reply with one short sentence: what is Greenlight?";
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_TOKENS: u32 = 128;

/// Upper bounds: a smoke run is a quick gate, not a load test.
pub const MAX_ROUNDS: u32 = 20;
pub const MAX_BUDGET_MS: u64 = 300_000;
pub const MAX_PROMPT_CHARS: usize = 4_000;
/// A CodeDeploy lifecycle hook times out after an hour: no run needs longer.
pub const MAX_DEADLINE_MS: u64 = 3_600_000;
/// More addresses than a load balancer has nodes (one per zone) is a mistake, not a setting.
pub const MAX_CONNECT_TO: usize = 16;

/// A smoke run's settings. Build with [`SmokeConfig::new`] and adjust fields, then [`SmokeConfig::validate`].
#[derive(Debug, Clone)]
pub struct SmokeConfig {
    /// Base URL of the server (the test listener for the hook).
    pub base_url: Url,
    /// Addresses to connect to instead of resolving the URL's host, like curl's `--resolve`:
    /// the Host header and the TLS server name stay the URL's. The hook uses it to reach an
    /// internet-facing load balancer's nodes by their private addresses from inside the VPC.
    /// Empty: resolve the host with DNS.
    pub connect_to: Vec<IpAddr>,
    /// When set, `/version`'s `image` must equal it.
    pub expect_image: Option<String>,
    /// Rounds of every check; each round uses fresh connections.
    pub rounds: u32,
    /// Time from sending the chat request to the first `delta` event.
    pub ttft_budget: Duration,
    /// Time from sending the chat request to the `done` event.
    pub total_budget: Duration,
    /// The chat prompt.
    pub prompt: String,
    /// `max_tokens` sent with the chat request.
    pub max_tokens: u32,
    /// Bound of each plain request (`/health`, `/ready`, `/version`).
    pub request_timeout: Duration,
    /// Whole-run deadline: the run returns a report by then, whatever hangs.
    pub deadline: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("url: {0}")]
    Url(String),
    #[error("rounds must be between 1 and {MAX_ROUNDS}, got {0}")]
    Rounds(u32),
    #[error("{field} must be between 1 and {max} ms, got {value} ms")]
    Budget {
        field: &'static str,
        max: u128,
        value: u128,
    },
    #[error("ttft budget ({ttft} ms) must not exceed the total budget ({total} ms)")]
    TtftOverTotal { ttft: u128, total: u128 },
    #[error("prompt must be 1 to {MAX_PROMPT_CHARS} characters, got {0}")]
    Prompt(usize),
    #[error("max_tokens must be between 1 and 4096, got {0}")]
    MaxTokens(u32),
    #[error("expect_image must not be empty")]
    EmptyImage,
    #[error("connect_to allows at most {MAX_CONNECT_TO} addresses, got {0}")]
    ConnectTo(usize),
    #[error("connect_to needs a URL with a host name, not the address {0}")]
    ConnectToIpHost(String),
}

/// Parses and checks a base URL: http or https, with a host, no query or fragment.
pub fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::Url(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Url(format!("{raw:?} must use http or https")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::Url(format!("{raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Url(format!(
            "{raw:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

impl SmokeConfig {
    /// Settings with the defaults for everything but the URL. The deadline defaults to what
    /// the worst case of every round needs, plus slack.
    pub fn new(base_url: Url) -> Self {
        let mut config = Self {
            base_url,
            connect_to: Vec::new(),
            expect_image: None,
            rounds: DEFAULT_ROUNDS,
            ttft_budget: Duration::from_millis(DEFAULT_TTFT_BUDGET_MS),
            total_budget: Duration::from_millis(DEFAULT_TOTAL_BUDGET_MS),
            prompt: DEFAULT_PROMPT.to_owned(),
            max_tokens: DEFAULT_MAX_TOKENS,
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            deadline: Duration::ZERO,
        };
        config.deadline = config.worst_case();
        config
    }

    /// The longest a run of these settings can take when every check uses its whole bound
    /// (at most [`MAX_DEADLINE_MS`]).
    pub fn worst_case(&self) -> Duration {
        let worst =
            (self.request_timeout * 3 + self.total_budget) * self.rounds + Duration::from_secs(5);
        worst.min(Duration::from_millis(MAX_DEADLINE_MS))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            return Err(ConfigError::Rounds(self.rounds));
        }
        for (field, value) in [
            ("ttft budget", self.ttft_budget),
            ("total budget", self.total_budget),
            ("request timeout", self.request_timeout),
            ("deadline", self.deadline),
        ] {
            let ms = value.as_millis();
            // The deadline may be longer than one budget: it spans every round.
            let max = u128::from(if field == "deadline" {
                MAX_DEADLINE_MS
            } else {
                MAX_BUDGET_MS
            });
            if ms == 0 || ms > max {
                return Err(ConfigError::Budget {
                    field,
                    max,
                    value: ms,
                });
            }
        }
        if self.ttft_budget > self.total_budget {
            return Err(ConfigError::TtftOverTotal {
                ttft: self.ttft_budget.as_millis(),
                total: self.total_budget.as_millis(),
            });
        }
        let chars = self.prompt.chars().count();
        if self.prompt.trim().is_empty() || chars > MAX_PROMPT_CHARS {
            return Err(ConfigError::Prompt(chars));
        }
        if !(1..=4096).contains(&self.max_tokens) {
            return Err(ConfigError::MaxTokens(self.max_tokens));
        }
        if self
            .expect_image
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err(ConfigError::EmptyImage);
        }
        if self.connect_to.len() > MAX_CONNECT_TO {
            return Err(ConfigError::ConnectTo(self.connect_to.len()));
        }
        // An override replaces name resolution; a URL naming an address has none to replace.
        if !self.connect_to.is_empty()
            && !matches!(self.base_url.host(), Some(url::Host::Domain(_)))
        {
            return Err(ConfigError::ConnectToIpHost(
                self.base_url.host_str().unwrap_or_default().to_owned(),
            ));
        }
        Ok(())
    }

    /// `base_url` joined with an absolute path, keeping any path prefix of the base.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmokeConfig {
        SmokeConfig::new(parse_base_url("http://127.0.0.1:8080").expect("valid url"))
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_urls_naming_the_problem() {
        assert!(
            matches!(parse_base_url("ftp://x"), Err(ConfigError::Url(m)) if m.contains("http or https"))
        );
        assert!(
            matches!(parse_base_url("not a url"), Err(ConfigError::Url(m)) if m.contains("not a URL"))
        );
        assert!(
            matches!(parse_base_url("http://x/?a=b"), Err(ConfigError::Url(m)) if m.contains("query"))
        );
    }

    #[test]
    fn connect_to_needs_a_host_name_and_few_addresses() {
        let local = IpAddr::from([127, 0, 0, 1]);
        let mut c = config();
        c.connect_to = vec![local];
        assert_eq!(
            c.validate(),
            Err(ConfigError::ConnectToIpHost("127.0.0.1".into()))
        );
        let mut c = SmokeConfig::new(parse_base_url("http://alb.example:8080").expect("valid"));
        c.connect_to = vec![local];
        assert_eq!(c.validate(), Ok(()));
        c.connect_to = vec![local; MAX_CONNECT_TO + 1];
        assert_eq!(
            c.validate(),
            Err(ConfigError::ConnectTo(MAX_CONNECT_TO + 1))
        );
        assert!(
            c.validate()
                .expect_err("too many")
                .to_string()
                .contains("at most 16")
        );
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let c = SmokeConfig::new(parse_base_url("http://h:1/prefix/").expect("valid url"));
        assert_eq!(c.endpoint("/health"), "http://h:1/prefix/health");
    }

    #[test]
    fn rejects_out_of_range_values() {
        let mut c = config();
        c.rounds = 0;
        assert_eq!(c.validate(), Err(ConfigError::Rounds(0)));
        let mut c = config();
        c.ttft_budget = Duration::from_millis(30_000);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TtftOverTotal { .. })
        ));
        let mut c = config();
        c.total_budget = Duration::ZERO;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Budget {
                field: "total budget",
                ..
            })
        ));
        let mut c = config();
        c.rounds = MAX_ROUNDS;
        c.request_timeout = Duration::from_millis(MAX_BUDGET_MS);
        c.total_budget = Duration::from_millis(MAX_BUDGET_MS);
        c.deadline = c.worst_case();
        assert_eq!(
            c.validate(),
            Ok(()),
            "the largest settings have a valid default deadline"
        );
        let mut c = config();
        c.prompt = "  ".into();
        assert_eq!(c.validate(), Err(ConfigError::Prompt(2)));
        let mut c = config();
        c.expect_image = Some(String::new());
        assert_eq!(c.validate(), Err(ConfigError::EmptyImage));
    }
}
