//! Server configuration: every setting is an environment variable with a same-named `--flag`.
//!
//! clap parses the syntax (numbers, enums); [`Config::validate`] checks what clap cannot (URLs,
//! ranges, combinations) and names the variable in every error.

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

/// The system prompt used when `SYSTEM_PROMPT` is not set.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are Greenlight's assistant. Answer briefly and \
accurately. When passages are provided, ground the answer in them and cite them as [1], [2].";

/// Which LLM backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// Retrieval over the bundled docs: no network, no model.
    Offline,
    /// Any OpenAI-compatible API.
    Openai,
    /// Amazon Bedrock ConverseStream.
    Bedrock,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Openai => "openai",
            Self::Bedrock => "bedrock",
        }
    }
}

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (CloudWatch Logs Insights reads it as is).
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Everything `greenlight serve` reads from its flags and environment.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (the container sets 0.0.0.0).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free port (the real one is logged).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// The LLM backend.
    #[arg(long, env = "LLM_PROVIDER", value_enum, default_value_t = ProviderKind::Offline)]
    pub llm_provider: ProviderKind,
    /// Model name (OpenAI) or model id (Bedrock); each provider has a default.
    #[arg(long, env = "LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Base URL of the OpenAI-compatible API, as the OpenAI SDKs read it.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_base_url: String,
    /// API key of the OpenAI-compatible API (optional for local servers).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Bedrock region; the default AWS chain when absent.
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// Bedrock endpoint override, only for tests against a local endpoint.
    #[arg(long, env = "BEDROCK_ENDPOINT_URL")]
    pub bedrock_endpoint_url: Option<String>,
    /// System prompt put before every conversation.
    #[arg(long, env = "SYSTEM_PROMPT", default_value = DEFAULT_SYSTEM_PROMPT, hide_default_value = true)]
    pub system_prompt: String,

    /// Milliseconds between the streamed pieces of an offline answer; 0 sends it at once.
    #[arg(long, env = "OFFLINE_PACING_MS", default_value_t = 3)]
    pub offline_pacing_ms: u64,

    /// Seconds in-flight streams may keep running after SIGTERM.
    #[arg(long, env = "DRAIN_SECONDS", default_value_t = 25)]
    pub drain_seconds: u64,
    /// Seconds between SSE keep-alive comments (well under the ALB's 60 s idle timeout).
    #[arg(long, env = "KEEPALIVE_SECONDS", default_value_t = 15)]
    pub keepalive_seconds: u64,

    /// Largest request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 262_144)]
    pub max_body_bytes: usize,
    /// Most messages in one request.
    #[arg(long, env = "MAX_MESSAGES", default_value_t = 50)]
    pub max_messages: usize,
    /// Most characters in one message.
    #[arg(long, env = "MAX_MESSAGE_CHARS", default_value_t = 16_000)]
    pub max_message_chars: usize,
    /// Most characters in all messages of one request together.
    #[arg(long, env = "MAX_TOTAL_CHARS", default_value_t = 64_000)]
    pub max_total_chars: usize,
    /// Most output tokens a request may ask for (also the default when it asks for none).
    #[arg(long, env = "MAX_OUTPUT_TOKENS", default_value_t = 1024)]
    pub max_output_tokens: u32,

    /// Chat requests per minute per client address; 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 60)]
    pub rate_limit_per_minute: u32,
    /// Chat requests a client may send at once before the per-minute rate applies.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 10)]
    pub rate_limit_burst: u32,

    /// Milliseconds to connect to the upstream model API.
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub upstream_connect_timeout_ms: u64,
    /// Milliseconds from sending a request upstream to its first token.
    #[arg(
        long,
        env = "UPSTREAM_FIRST_TOKEN_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub upstream_first_token_timeout_ms: u64,
    /// Longest silence between two upstream chunks once streaming, in milliseconds.
    #[arg(long, env = "UPSTREAM_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    pub upstream_idle_timeout_ms: u64,
    /// Upstream retries, only before the first token was sent.
    #[arg(long, env = "UPSTREAM_MAX_RETRIES", default_value_t = 2)]
    pub upstream_max_retries: u32,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Write metrics to stdout in CloudWatch Embedded Metric Format, aggregated per interval
    /// (`true`/`false`; on in the task definition).
    #[arg(
        long,
        env = "METRICS_EMF",
        default_value_t = false,
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new()
    )]
    pub metrics_emf: bool,
    /// Seconds between two EMF flushes (each flush writes one record per label set).
    #[arg(long, env = "METRICS_EMF_INTERVAL_SECONDS", default_value_t = 60)]
    pub metrics_emf_interval_seconds: u64,
    /// CloudWatch namespace of the EMF metrics.
    #[arg(long, env = "METRICS_EMF_NAMESPACE", default_value = crate::metrics::emf::DEFAULT_NAMESPACE)]
    pub metrics_emf_namespace: String,
    /// Value of the EMF records' `service` dimension, the stable set alarms and scaling watch
    /// (the task definition sets the task family, unique per service).
    #[arg(long, env = "METRICS_EMF_SERVICE", default_value = "greenlight")]
    pub metrics_emf_service: String,
    /// Port of the Prometheus `GET /metrics` listener (on HOST), separate from PORT; off when
    /// unset. 0 picks a free port (logged).
    #[arg(long, env = "METRICS_PORT")]
    pub metrics_port: Option<u16>,

    /// Commit shown by /version (else the build-time value).
    #[arg(long, env = "GIT_COMMIT")]
    pub git_commit: Option<String>,
    /// Image shown by /version (else the ECS task metadata).
    #[arg(long, env = "IMAGE_URI")]
    pub image_uri: Option<String>,
    /// ECS task metadata endpoint (set by ECS), read once at start for the image.
    #[arg(long, env = "ECS_CONTAINER_METADATA_URI_V4")]
    pub ecs_container_metadata_uri_v4: Option<String>,
}

/// A setting that cannot work, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Checks that `value` is an absolute http(s) URL with a host.
fn check_http_url(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(value)
        .map_err(|e| bad(variable, format!("{value:?} is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(
            variable,
            format!("{value:?} must start with http:// or https://"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(variable, format!("{value:?} has no host")));
    }
    Ok(())
}

impl Config {
    /// Checks everything clap cannot; the error names the variable and what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(bad("HOST", "must not be empty"));
        }
        if self.llm_provider == ProviderKind::Openai {
            check_http_url("OPENAI_BASE_URL", &self.openai_base_url)?;
        }
        if let Some(url) = &self.bedrock_endpoint_url {
            check_http_url("BEDROCK_ENDPOINT_URL", url)?;
        }
        if self
            .llm_model
            .as_deref()
            .is_some_and(|m| m.trim().is_empty())
        {
            return Err(bad("LLM_MODEL", "must not be empty when set"));
        }
        if self.offline_pacing_ms > 1000 {
            return Err(bad("OFFLINE_PACING_MS", "must be at most 1000"));
        }
        if self.drain_seconds > 3600 {
            return Err(bad("DRAIN_SECONDS", "must be at most 3600"));
        }
        if !(1..=3600).contains(&self.keepalive_seconds) {
            return Err(bad("KEEPALIVE_SECONDS", "must be between 1 and 3600"));
        }
        let positive: [(&'static str, u64); 7] = [
            ("MAX_BODY_BYTES", self.max_body_bytes as u64),
            ("MAX_MESSAGES", self.max_messages as u64),
            ("MAX_MESSAGE_CHARS", self.max_message_chars as u64),
            ("MAX_TOTAL_CHARS", self.max_total_chars as u64),
            ("MAX_OUTPUT_TOKENS", u64::from(self.max_output_tokens)),
            (
                "UPSTREAM_FIRST_TOKEN_TIMEOUT_MS",
                self.upstream_first_token_timeout_ms,
            ),
            ("UPSTREAM_IDLE_TIMEOUT_MS", self.upstream_idle_timeout_ms),
        ];
        for (variable, value) in positive {
            if value == 0 {
                return Err(bad(variable, "must be greater than 0"));
            }
        }
        if self.upstream_connect_timeout_ms == 0 {
            return Err(bad("UPSTREAM_CONNECT_TIMEOUT_MS", "must be greater than 0"));
        }
        if self.rate_limit_per_minute > 0 && self.rate_limit_burst == 0 {
            return Err(bad(
                "RATE_LIMIT_BURST",
                "must be greater than 0 when RATE_LIMIT_PER_MINUTE is set",
            ));
        }
        if !(1..=3600).contains(&self.metrics_emf_interval_seconds) {
            return Err(bad(
                "METRICS_EMF_INTERVAL_SECONDS",
                "must be between 1 and 3600",
            ));
        }
        let namespace = self.metrics_emf_namespace.as_str();
        if namespace.trim().is_empty() || namespace.chars().count() > 255 {
            return Err(bad(
                "METRICS_EMF_NAMESPACE",
                "must have between 1 and 255 characters",
            ));
        }
        // CloudWatch reserves the AWS/ prefix for AWS services.
        if namespace.starts_with("AWS/") {
            return Err(bad("METRICS_EMF_NAMESPACE", "must not start with AWS/"));
        }
        // A CloudWatch dimension value: 1 to 1024 characters, not only whitespace.
        let service = self.metrics_emf_service.as_str();
        if service.trim().is_empty()
            || service.chars().count() > 1024
            || service.chars().any(char::is_control)
        {
            return Err(bad(
                "METRICS_EMF_SERVICE",
                "must have between 1 and 1024 characters, not only spaces, no control characters",
            ));
        }
        if self.metrics_port.is_some_and(|p| p != 0 && p == self.port) {
            return Err(bad(
                "METRICS_PORT",
                format!("{} is PORT too; metrics need their own port", self.port),
            ));
        }
        if self.max_message_chars > self.max_total_chars {
            return Err(bad(
                "MAX_MESSAGE_CHARS",
                format!(
                    "{} is above MAX_TOTAL_CHARS ({})",
                    self.max_message_chars, self.max_total_chars
                ),
            ));
        }
        Ok(())
    }

    pub fn drain_window(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_seconds)
    }

    pub fn metrics_emf_interval(&self) -> Duration {
        Duration::from_secs(self.metrics_emf_interval_seconds)
    }

    pub fn offline_pacing(&self) -> Duration {
        Duration::from_millis(self.offline_pacing_ms)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Config {
        let mut argv = vec!["greenlight"];
        argv.extend_from_slice(args);
        Wrapper::try_parse_from(argv)
            .expect("arguments parse")
            .config
    }

    #[test]
    fn defaults_are_valid() {
        parse(&[]).validate().expect("defaults are valid");
    }

    #[test]
    fn openai_needs_a_http_base_url() {
        let err = parse(&["--llm-provider", "openai", "--openai-base-url", "ftp://x"])
            .validate()
            .expect_err("ftp is rejected");
        assert_eq!(err.variable, "OPENAI_BASE_URL");
        let err = parse(&["--llm-provider", "openai", "--openai-base-url", "not a url"])
            .validate()
            .expect_err("garbage is rejected");
        assert_eq!(err.variable, "OPENAI_BASE_URL");
        assert!(err.to_string().contains("OPENAI_BASE_URL"), "{err}");
    }

    #[test]
    fn zero_limits_are_rejected() {
        let err = parse(&["--max-messages", "0"])
            .validate()
            .expect_err("zero");
        assert_eq!(err.variable, "MAX_MESSAGES");
        let err = parse(&["--keepalive-seconds", "0"])
            .validate()
            .expect_err("zero");
        assert_eq!(err.variable, "KEEPALIVE_SECONDS");
    }

    #[test]
    fn metrics_settings_are_checked() {
        let config = parse(&[]);
        assert!(!config.metrics_emf);
        assert_eq!(config.metrics_port, None);
        assert_eq!(config.metrics_emf_interval(), Duration::from_secs(60));
        assert!(parse(&["--metrics-emf", "true"]).metrics_emf);
        let err = parse(&["--port", "9000", "--metrics-port", "9000"])
            .validate()
            .expect_err("same port");
        assert_eq!(err.variable, "METRICS_PORT");
        let err = parse(&["--metrics-emf-interval-seconds", "0"])
            .validate()
            .expect_err("zero");
        assert_eq!(err.variable, "METRICS_EMF_INTERVAL_SECONDS");
        let err = parse(&["--metrics-emf-namespace", "AWS/ECS"])
            .validate()
            .expect_err("reserved");
        assert_eq!(err.variable, "METRICS_EMF_NAMESPACE");
        assert_eq!(parse(&[]).metrics_emf_service, "greenlight");
        let err = parse(&["--metrics-emf-service", " "])
            .validate()
            .expect_err("blank service");
        assert_eq!(err.variable, "METRICS_EMF_SERVICE");
    }

    #[test]
    fn offline_pacing_is_bounded() {
        assert_eq!(parse(&[]).offline_pacing(), Duration::from_millis(3));
        let err = parse(&["--offline-pacing-ms", "5000"])
            .validate()
            .expect_err("too slow");
        assert_eq!(err.variable, "OFFLINE_PACING_MS");
    }
}
