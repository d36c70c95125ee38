//! A response body played from a plan of steps, so every answer (OpenAI or Bedrock, streamed or
//! not) shares the same timing, cut and cancellation behaviour.

use std::io;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;

use crate::stats::{AnswerGuard, Outcome};

/// One step of an answer.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Wait(Duration),
    Send(Bytes),
    /// Abort the connection without finishing the body (no terminating chunk, no `[DONE]`).
    Cut,
}

const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

/// Plays `steps` as a streamed body. The guard lives inside the body: hyper drops the body when
/// the client goes away, which counts the answer as cancelled.
pub(crate) fn play(steps: Vec<Step>, guard: AnswerGuard) -> Body {
    let state = (steps.into_iter(), guard);
    let body = stream::unfold(state, |(mut steps, mut guard)| async move {
        loop {
            match steps.next() {
                Some(Step::Wait(pause)) => {
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                Some(Step::Send(bytes)) => return Some((Ok(bytes), (steps, guard))),
                Some(Step::Cut) => {
                    // Let hyper flush what was sent (it writes when the body is pending), so the
                    // client sees a stream that started and then broke.
                    tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                    guard.finish(Outcome::Cut);
                    let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "[[cut]]");
                    // Nothing follows: an error ends the body and hyper drops the connection.
                    return Some((Err(cut), (Vec::new().into_iter(), guard)));
                }
                None => {
                    guard.finish(Outcome::Completed);
                    return None;
                }
            }
        }
    });
    Body::from_stream(body)
}

/// `[[hang]]`: accepts the request and never answers. The guard counts the request as
/// cancelled when the client gives up and hyper drops this future.
pub(crate) async fn hang(guard: AnswerGuard) -> axum::response::Response {
    let _guard = guard;
    let never = std::future::pending::<std::convert::Infallible>().await;
    match never {}
}
