//! Command-line / in-process configuration of the fake upstream.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How the fake upstream behaves when a request carries no marker.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "fake-llm",
    about = "A local OpenAI / Bedrock ConverseStream upstream that misbehaves on demand.\n\
             Markers in the last user message: [[slow]] [[429]] [[500]] [[cut]] [[malformed]] \
             [[hang]] [[long]] [[markdown]] [[hostile]] [[echo]]."
)]
pub struct Config {
    /// Address to listen on (loopback only unless you mean it).
    #[arg(long, env = "FAKE_LLM_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on the first stdout line).
    #[arg(long, env = "FAKE_LLM_PORT", default_value_t = 0)]
    pub port: u16,
    /// Tokens in the default answer.
    #[arg(long, default_value_t = 20)]
    pub tokens: usize,
    /// Delay between two tokens of the default answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub token_delay_ms: u64,
    /// Delay before the first token of a `[[slow]]` answer, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub slow_ms: u64,
    /// Delay before the first token of every answer without `[[slow]]`, in milliseconds: a slow
    /// model for a whole process (the cutover rehearsal's broken green).
    #[arg(long, default_value_t = 0)]
    pub first_token_delay_ms: u64,
    /// Tokens in a `[[long]]` answer.
    #[arg(long, default_value_t = 400)]
    pub long_tokens: usize,
    /// Delay between two tokens of a `[[long]]` answer, in milliseconds.
    #[arg(long, default_value_t = 25)]
    pub long_delay_ms: u64,
    /// The model name reported when a request names none.
    #[arg(long, default_value = "fake-model")]
    pub model: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tokens: 20,
            token_delay_ms: 0,
            slow_ms: 3000,
            first_token_delay_ms: 0,
            long_tokens: 400,
            long_delay_ms: 25,
            model: "fake-model".to_owned(),
        }
    }
}

impl Config {
    pub(crate) fn token_delay(&self) -> Duration {
        Duration::from_millis(self.token_delay_ms)
    }
    pub(crate) fn slow(&self) -> Duration {
        Duration::from_millis(self.slow_ms)
    }
    pub(crate) fn first_token_delay(&self) -> Duration {
        Duration::from_millis(self.first_token_delay_ms)
    }
    pub(crate) fn long_delay(&self) -> Duration {
        Duration::from_millis(self.long_delay_ms)
    }
}
