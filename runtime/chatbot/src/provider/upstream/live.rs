//! The life of a network provider's answer: open it (retried, until the first token), then read
//! the upstream's events under an idle timeout until `Done` or an error. Each provider only says
//! how to read its upstream's next item and what that item means ([`EventSource`]).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream;
use tokio::time::{Instant, Sleep};

use crate::provider::{ProviderError, ProviderEvent, ProviderStream};

/// An upstream's event stream: where its items come from and what they mean.
pub(crate) trait EventSource: Send + 'static {
    /// One read from the upstream (it includes the stream's end and transport errors).
    type Item: Send;

    /// Reads the next item. Must be cancel-safe: the idle timeout may drop it.
    fn next_item(&mut self) -> impl Future<Output = Self::Item> + Send;

    /// What one item says. An error ends the answer.
    fn decode(&mut self, item: Self::Item) -> Result<Decoded, ProviderError>;

    /// The closing `Done` event, asked for once, after an item said the answer is whole.
    fn finish(&mut self) -> ProviderEvent;
}

/// What one upstream item says: some text, and whether the answer is now whole.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) delta: Option<String>,
    pub(crate) finished: bool,
}

/// An answer whose first token already arrived: it yields the rest, ending with `Done` or an
/// error. It owns the upstream connection, so dropping it cancels the upstream work.
pub(crate) struct Live<S> {
    source: S,
    /// At most a delta and `Done`: an item gives one of each at most.
    pending: VecDeque<ProviderEvent>,
    idle_timeout: Duration,
    /// One timer for the whole answer, moved forward only when it fires early (see
    /// [`Live::next_item_within_idle`]), instead of a `tokio::time::timeout` per upstream item:
    /// that registered and removed a timer in tokio's timer wheel on every token.
    idle: Pin<Box<Sleep>>,
    ended: bool,
}

/// One attempt: `connect` (the request up to the response headers), then the wait for the first
/// token (or an empty but whole answer), all within `first_token_timeout`. Errors here are before
/// the first token, so the caller may retry them.
pub(crate) async fn open_answer<S, C>(
    first_token_timeout: Duration,
    idle_timeout: Duration,
    connect: C,
) -> Result<Live<S>, ProviderError>
where
    S: EventSource,
    C: Future<Output = Result<S, ProviderError>>,
{
    let attempt = async {
        let mut live = Live {
            source: connect.await?,
            pending: VecDeque::new(),
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            ended: false,
        };
        // No idle timeout yet: the first-token budget bounds this wait.
        while live.pending.is_empty() {
            let item = live.source.next_item().await;
            live.on_item(item)?;
        }
        Ok(live)
    };
    tokio::time::timeout(first_token_timeout, attempt)
        .await
        .map_err(|_| ProviderError::Timeout(first_token_timeout))?
}

impl<S: EventSource> Live<S> {
    fn on_item(&mut self, item: S::Item) -> Result<(), ProviderError> {
        let Decoded { delta, finished } = self.source.decode(item)?;
        if let Some(text) = delta {
            self.pending.push_back(ProviderEvent::Delta(text));
        }
        if finished && !self.ended {
            self.ended = true;
            self.pending.push_back(self.source.finish());
        }
        Ok(())
    }

    /// The next event; `None` after `Done`.
    async fn next_event(&mut self) -> Option<Result<ProviderEvent, ProviderError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            let Some(item) = self.next_item_within_idle().await else {
                return Some(Err(ProviderError::Timeout(self.idle_timeout)));
            };
            if let Err(error) = self.on_item(item) {
                return Some(Err(error));
            }
        }
    }
}

impl<S: EventSource> Live<S> {
    /// The upstream's next item, or `None` when it stays silent for the idle timeout, counted
    /// from this call as `tokio::time::timeout` would. The timer is not re-armed per item: when it
    /// fires at a deadline of an earlier wait, it is moved to this wait's deadline and waited on
    /// again, so a steady stream touches the timer once per idle period, not once per token.
    async fn next_item_within_idle(&mut self) -> Option<S::Item> {
        // The timer's own deadline is that of an earlier wait (or of the answer's start), so never
        // later than this one: it can fire early, never late.
        let deadline = Instant::now() + self.idle_timeout;
        let Self { source, idle, .. } = self;
        let mut next = std::pin::pin!(source.next_item());
        loop {
            tokio::select! {
                biased;
                item = &mut next => return Some(item),
                () = idle.as_mut() => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    idle.as_mut().reset(deadline);
                }
            }
        }
    }
}

/// A provider stream: `open` (which retries, then waits for the first token) and then the live
/// answer. The stream ends after `Done` or the first error.
pub(crate) fn answer_stream<S, F>(open: F) -> ProviderStream
where
    S: EventSource,
    F: Future<Output = Result<Live<S>, ProviderError>> + Send + 'static,
{
    enum Phase<F, L> {
        Opening(Pin<Box<F>>),
        Live(L),
        Ended,
    }
    let answer = stream::unfold(Phase::Opening(Box::pin(open)), |phase| async move {
        let mut live = match phase {
            Phase::Ended => return None,
            Phase::Opening(open) => match open.await {
                Ok(live) => live,
                Err(error) => return Some((Err(error), Phase::Ended)),
            },
            Phase::Live(live) => live,
        };
        let item = live.next_event().await?;
        let more = matches!(
            item,
            Ok(ProviderEvent::Delta(_) | ProviderEvent::Sources(_))
        );
        Some((
            item,
            if more {
                Phase::Live(live)
            } else {
                Phase::Ended
            },
        ))
    });
    Box::pin(answer)
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::provider::{FinishReason, Usage};

    /// A scripted upstream: each item is `Some((text, finished))` or `None` for a silent upstream.
    struct Script {
        items: VecDeque<Option<(&'static str, bool)>>,
        finishes: u32,
        /// Silence before each item.
        gap: Duration,
    }

    impl EventSource for Script {
        type Item = Option<(&'static str, bool)>;

        async fn next_item(&mut self) -> Self::Item {
            tokio::time::sleep(self.gap).await;
            match self.items.pop_front() {
                Some(Some(item)) => Some(item),
                Some(None) => std::future::pending().await,
                None => None,
            }
        }

        fn decode(&mut self, item: Self::Item) -> Result<Decoded, ProviderError> {
            let (text, finished) =
                item.ok_or_else(|| ProviderError::Interrupted("the script ran out".to_owned()))?;
            Ok(Decoded {
                delta: Some(text.to_owned()).filter(|t| !t.is_empty()),
                finished,
            })
        }

        fn finish(&mut self) -> ProviderEvent {
            self.finishes += 1;
            ProviderEvent::Done {
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    prompt_tokens: 1,
                    completion_tokens: self.finishes,
                },
            }
        }
    }

    fn answer(items: &[Option<(&'static str, bool)>]) -> ProviderStream {
        answer_with_gaps(items, Duration::ZERO)
    }

    fn answer_with_gaps(items: &[Option<(&'static str, bool)>], gap: Duration) -> ProviderStream {
        let script = Script {
            items: items.iter().copied().collect(),
            finishes: 0,
            gap,
        };
        let idle = Duration::from_millis(50);
        answer_stream(open_answer(Duration::from_millis(100), idle, async {
            Ok(script)
        }))
    }

    async fn events(stream: ProviderStream) -> Vec<Result<ProviderEvent, String>> {
        stream
            .map(|item| item.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    fn timeout(ms: u64) -> Result<ProviderEvent, String> {
        Err(ProviderError::Timeout(Duration::from_millis(ms)).to_string())
    }

    fn delta(text: &str) -> Result<ProviderEvent, String> {
        Ok(ProviderEvent::Delta(text.to_owned()))
    }

    fn done() -> Result<ProviderEvent, String> {
        Ok(ProviderEvent::Done {
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 1,
            },
        })
    }

    #[tokio::test(start_paused = true)]
    async fn deltas_then_one_done_and_nothing_after() {
        let got = events(answer(&[
            Some(("", false)),
            Some(("a", false)),
            Some(("b", true)),
            Some(("never read", true)),
        ]))
        .await;
        assert_eq!(got, vec![delta("a"), delta("b"), done()]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_but_whole_answer_is_only_done() {
        assert_eq!(events(answer(&[Some(("", true))])).await, vec![done()]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_first_token_within_the_budget_is_a_timeout() {
        let got = events(answer(&[Some(("", false)), None])).await;
        assert_eq!(got, vec![timeout(100)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_after_the_first_token_hits_the_idle_timeout() {
        let got = events(answer(&[Some(("a", false)), None])).await;
        assert_eq!(got, vec![delta("a"), timeout(50)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_timeout_counts_from_each_wait_not_from_the_first() {
        // 40 ms between items under a 50 ms idle timeout: 200 ms in all, never 50 ms of silence.
        let items = [
            Some(("a", false)),
            Some(("b", false)),
            Some(("c", false)),
            Some(("d", false)),
            Some(("e", true)),
        ];
        let got = events(answer_with_gaps(&items, Duration::from_millis(40))).await;
        assert_eq!(
            got,
            vec![
                delta("a"),
                delta("b"),
                delta("c"),
                delta("d"),
                delta("e"),
                done()
            ]
        );
        // 60 ms of silence after the first item (which came within the 100 ms first-token
        // budget) is an idle timeout.
        let got = events(answer_with_gaps(&items, Duration::from_millis(60))).await;
        assert_eq!(got, vec![delta("a"), timeout(50)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_decode_error_ends_the_stream() {
        let got = events(answer(&[Some(("a", false))])).await;
        assert_eq!(
            got,
            vec![
                delta("a"),
                Err(ProviderError::Interrupted("the script ran out".to_owned()).to_string())
            ]
        );
    }
}
