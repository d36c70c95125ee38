//! What every handler shares.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::provider::Provider;
use crate::rate_limit::{ClientKey, ClientRateLimiter};
use crate::shutdown::Drain;
use crate::validation::Limits;
use crate::version_info::VersionInfo;

/// How often idle rate-limit keys are evicted.
const EVICT_EVERY: Duration = Duration::from_secs(60);

/// Cheap to clone: handlers get their own copy.
#[derive(Clone)]
pub struct AppState {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) limits: Limits,
    pub(crate) system_prompt: Arc<str>,
    pub(crate) drain: Drain,
    pub(crate) rate_limiter: Option<Arc<ClientRateLimiter>>,
    pub(crate) version: VersionInfo,
    pub(crate) keepalive: Duration,
    /// Unix seconds at start (`created` of `/v1/models`).
    pub(crate) started_unix: u64,
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

    /// The drain every open stream registers with (tests start a drain through it).
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// The client's tag for log lines: a keyed hash of its address, `None` when rate limiting is
    /// off (the tag comes from the limiter's key).
    pub(crate) fn client_tag(&self, client: Option<ClientKey>) -> Option<String> {
        let limiter = self.rate_limiter.as_ref()?;
        client.map(|c| limiter.client_tag(c))
    }
}
