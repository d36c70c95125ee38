//! State shared by the handlers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Config;
use crate::scenario::Scenario;
use crate::stats::Counters;

/// Requests that must fail before the next ones succeed (`POST /_control/fail-next`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FailNext {
    pub count: u32,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
    fail_next: Arc<Mutex<FailNext>>,
    next_id: Arc<AtomicU64>,
}

/// What to do with one chat request.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Answer with this error status.
    Fail(u16),
    Answer(Scenario),
}

impl AppState {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            counters: Arc::default(),
            fail_next: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    pub(crate) fn set_fail_next(&self, fail: FailNext) {
        *self
            .fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fail;
    }

    /// Counts the request and decides between a deliberate failure and an answer.
    pub(crate) fn judge(&self, last_user_text: &str) -> Verdict {
        self.counters.request();
        {
            let mut fail = self
                .fail_next
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if fail.count > 0 {
                fail.count -= 1;
                self.counters.failed();
                return Verdict::Fail(fail.status);
            }
        }
        let scenario = Scenario::from_last_user_message(last_user_text);
        match scenario.fail {
            Some(status) => {
                self.counters.failed();
                Verdict::Fail(status)
            }
            None => Verdict::Answer(scenario),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A rough token count (4 characters a token), as real tokenizers average on English text.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}
