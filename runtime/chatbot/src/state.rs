//! What every handler shares.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::provider::Provider;
use crate::rate_limit::ClientRateLimiter;
use crate::shutdown::Drain;
use crate::validation::Limits;
use crate::version_info::VersionInfo;

/// How often idle rate-limit keys are evicted.
const EVICT_EVERY: Duration = Duration::from_secs(60);

/// Cheap to clone: handlers get their own copy.
#[derive(Clone)]
pub struct AppState {
    pub provider: Arc<dyn Provider>,
    pub limits: Limits,
    pub system_prompt: Arc<str>,
    pub drain: Drain,
    pub rate_limiter: Option<Arc<ClientRateLimiter>>,
    pub version: VersionInfo,
    pub keepalive: Duration,
    /// Unix seconds at start (`created` of `/v1/models`).
    pub started_unix: u64,
}

impl AppState {
    /// Must run inside a tokio runtime (it starts the rate limiter's eviction task).
    pub fn new(config: &Config, provider: Arc<dyn Provider>) -> Self {
        let rate_limiter =
            ClientRateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst);
        if let Some(limiter) = &rate_limiter {
            limiter.spawn_eviction(EVICT_EVERY);
        }
        Self {
            provider,
            limits: Limits::from_config(config),
            system_prompt: Arc::from(config.system_prompt.as_str()),
            drain: Drain::new(config.drain_window()),
            rate_limiter,
            version: VersionInfo::new(config.git_commit.as_deref(), config.image_uri.as_deref()),
            keepalive: config.keepalive(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}
