//! How long the checks may run so that the hook still reports before the Lambda is stopped.

use std::time::{Duration, SystemTime};

/// Kept back from the Lambda's own deadline for the report call (with its retries) and the log.
pub const REPORT_RESERVE: Duration = Duration::from_secs(10);
/// Used when neither HOOK_DEADLINE_SECONDS nor a Lambda deadline is known.
pub const FALLBACK: Duration = Duration::from_secs(120);

/// The invocation's deadline if it is still ahead. One already past at the start is no
/// deadline (Lambda would have stopped us); local emulators send one. Then
/// HOOK_DEADLINE_SECONDS or [`FALLBACK`] bounds the run.
pub fn usable(lambda_deadline: Option<SystemTime>, now: SystemTime) -> Option<SystemTime> {
    lambda_deadline.filter(|d| {
        let usable = *d > now;
        if !usable {
            tracing::warn!("the invocation's deadline is already past; ignoring it");
        }
        usable
    })
}

/// The checks' whole-run budget: HOOK_DEADLINE_SECONDS when set, never past the Lambda's
/// deadline minus [`REPORT_RESERVE`] (half the time left when even that is short).
pub fn run_budget(
    configured: Option<Duration>,
    lambda_deadline: Option<SystemTime>,
    now: SystemTime,
) -> Duration {
    let by_lambda = lambda_deadline.map(|deadline| {
        let left = deadline.duration_since(now).unwrap_or(Duration::ZERO);
        if left > REPORT_RESERVE * 2 {
            left - REPORT_RESERVE
        } else {
            left / 2
        }
    });
    match (configured, by_lambda) {
        (Some(c), Some(l)) => c.min(l),
        (Some(c), None) => c,
        (None, Some(l)) => l,
        (None, None) => FALLBACK,
    }
}

/// How long the report call (and its retries) may take after the checks' budget.
pub fn report_budget(lambda_deadline: Option<SystemTime>, now: SystemTime) -> Duration {
    match lambda_deadline {
        Some(deadline) => deadline
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
            .saturating_sub(Duration::from_secs(1))
            .min(REPORT_RESERVE),
        None => REPORT_RESERVE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn takes_the_tighter_of_the_setting_and_the_lambda() {
        let now = SystemTime::UNIX_EPOCH + S(1_000);
        assert_eq!(run_budget(Some(S(60)), Some(now + S(300)), now), S(60));
        assert_eq!(run_budget(Some(S(600)), Some(now + S(300)), now), S(290));
        assert_eq!(run_budget(None, Some(now + S(300)), now), S(290));
        assert_eq!(run_budget(None, Some(now + S(10)), now), S(5));
        assert_eq!(run_budget(None, Some(now - S(1)), now), Duration::ZERO);
        assert_eq!(run_budget(Some(S(7)), None, now), S(7));
        assert_eq!(run_budget(None, None, now), FALLBACK);
    }

    #[test]
    fn report_budget_stays_inside_the_lambda() {
        let now = SystemTime::UNIX_EPOCH + S(1_000);
        assert_eq!(report_budget(Some(now + S(300)), now), REPORT_RESERVE);
        assert_eq!(report_budget(Some(now + S(4)), now), S(3));
        assert_eq!(report_budget(None, now), REPORT_RESERVE);
    }
}
