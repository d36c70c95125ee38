//! Counters that tests read through `GET /_stats` or [`crate::FakeLlmHandle::stats`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Chat requests received (OpenAI and Bedrock, including failed ones).
    pub requests: u64,
    /// Answers delivered to the end.
    pub completed: u64,
    /// Answers whose client went away before the end.
    pub cancelled: u64,
    /// Answers in flight right now.
    pub active: u64,
    /// Requests answered with a deliberate error status (`[[429]]`, `[[500]]`, fail-next).
    pub failed: u64,
    /// Answers deliberately cut (`[[cut]]`).
    pub cut: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    active: AtomicU64,
    failed: AtomicU64,
    cut: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::SeqCst),
            completed: self.completed.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            active: self.active.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            cut: self.cut.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::SeqCst);
    }
}

/// How an answer ended; set on the guard before it drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Cut,
}

/// Lives as long as one answer (inside the response body), so dropping the body because the
/// client went away is what counts it as cancelled.
#[derive(Debug)]
pub(crate) struct AnswerGuard {
    counters: Arc<Counters>,
    outcome: Option<Outcome>,
}

impl AnswerGuard {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        counters.active.fetch_add(1, Ordering::SeqCst);
        Self {
            counters,
            outcome: None,
        }
    }

    pub(crate) fn finish(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        let counter = match self.outcome {
            Some(Outcome::Completed) => &self.counters.completed,
            Some(Outcome::Cut) => &self.counters.cut,
            None => &self.counters.cancelled,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.counters.active.fetch_sub(1, Ordering::SeqCst);
    }
}
