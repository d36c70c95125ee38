//! Greenlight's chat server: a streaming chat API and browser UI in front of an LLM provider.
//!
//! The library is the `greenlight` binary's body; its public surface is what the binary, the
//! integration tests and fuzz targets use. Everything else stays private, so the modules can change
//! without a caller noticing.
//!
//! Dependencies between the modules point one way: the HTTP layer (`app`, `api`) calls the chat
//! engine (`engine`), which calls a `provider`; `error`, `rate_limit` and `shutdown` know nothing
//! of chats, and `metrics` (names and exporters) knows nothing of the rest.

mod api;
mod app;
mod cli;
mod config;
mod engine;
mod error;
// The fuzz targets' entry points in one place (runtime/fuzz); only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod healthcheck;
/// Every metric's name in one table (docs/metrics.json for the CDK side), and the exporters.
pub mod metrics;
pub mod provider;
mod rate_limit;
mod render;
mod server;
mod shutdown;
mod state;
mod telemetry;
mod validation;
mod version_info;
mod web;

// The binary: parse the command line, then serve, check health or run the smoke checks.
pub use cli::{Cli, Command};
pub use config::{Config, ConfigError, LogFormat, ProviderKind};
pub use healthcheck::{HealthcheckArgs, check as healthcheck};
pub use server::run;
pub use telemetry::init as init_logging;

// The integration tests: the router in process, and the server on a test-owned listener.
pub use app::router;
pub use server::serve;
pub use shutdown::Drain;
pub use state::AppState;

// The error codes of the API contract, which docs/contract.md lists.
pub use error::{ErrorCode, ErrorType};

// Pure functions of untrusted input, for fuzz targets: the request checks and the markdown
// renderer, whole and streamed (the parser of an upstream's streamed chunks is
// `provider::OpenAiChunkReader`).
pub use render::{HtmlSnapshots, markdown_to_html};
pub use validation::{Limits, RawChat, RawMessage, validate};
