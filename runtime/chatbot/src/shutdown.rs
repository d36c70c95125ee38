//! Draining on SIGTERM/SIGINT: `/ready` turns 503 and new chats are refused at once, open streams
//! keep going for the drain window, then get a final event; the server then stops and exits 0.

use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::metrics;

/// Shared drain state. Cloning is cheap and every clone sees the same state.
#[derive(Clone)]
pub struct Drain {
    /// Cancelled when draining starts.
    draining: CancellationToken,
    /// Cancelled when the drain window is over: streams still open end with a final event.
    deadline: CancellationToken,
    /// Counts open chat streams (each holds a token while it runs).
    streams: TaskTracker,
    window: Duration,
}

impl Drain {
    pub fn new(window: Duration) -> Self {
        Self {
            draining: CancellationToken::new(),
            deadline: CancellationToken::new(),
            streams: TaskTracker::new(),
            window,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Registers an open stream; `None` once draining (the caller refuses the chat).
    pub fn stream_token(&self) -> Option<TaskTrackerToken> {
        (!self.is_draining()).then(|| self.streams.token())
    }

    /// Resolves when the drain window is over.
    pub fn deadline(&self) -> WaitForCancellationFutureOwned {
        self.deadline.clone().cancelled_owned()
    }

    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Starts draining (idempotent).
    pub fn begin(&self) {
        self.draining.cancel();
        self.streams.close();
    }

    /// Ends the drain window now: open streams send their final event.
    pub fn expire(&self) {
        self.begin();
        self.deadline.cancel();
    }

    /// Begins draining and returns once every stream has ended: on its own within the window, or
    /// with a final event after it (given `grace` to flush that event).
    pub async fn run(&self, grace: Duration) {
        ::metrics::counter!(metrics::DRAIN_EVENTS, "event" => "started").increment(1);
        self.begin();
        if tokio::time::timeout(self.window, self.streams.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open_streams = self.open_streams(),
                "drain window over; ending open streams"
            );
            ::metrics::counter!(metrics::DRAIN_EVENTS, "event" => "deadline").increment(1);
            self.deadline.cancel();
            if tokio::time::timeout(grace, self.streams.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    open_streams = self.open_streams(),
                    "streams did not end within the grace period"
                );
            }
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested; draining"),
        () = term => tracing::info!(signal = "SIGTERM", "shutdown requested; draining"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_streams_then_expires_them() {
        let drain = Drain::new(Duration::from_secs(10));
        let token = drain.stream_token().expect("not draining yet");
        let deadline = drain.deadline();
        let d = drain.clone();
        let run = tokio::spawn(async move { d.run(Duration::from_secs(1)).await });
        tokio::task::yield_now().await;
        assert!(drain.is_draining());
        assert!(
            drain.stream_token().is_none(),
            "no new streams while draining"
        );
        // The open stream ends only when the deadline fires, like a long answer would.
        tokio::spawn(async move {
            deadline.await;
            drop(token);
        });
        run.await.expect("drain finishes");
        assert_eq!(drain.open_streams(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn returns_at_once_without_streams() {
        let drain = Drain::new(Duration::from_secs(3600));
        tokio::time::timeout(Duration::from_secs(1), drain.run(Duration::from_secs(1)))
            .await
            .expect("no stream: no wait");
    }
}
