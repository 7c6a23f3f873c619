//! Polling against a deadline: the only place in the workspace that waits on a timer
//! (clippy's `disallowed-methods` refuses `std::thread::sleep` and tokio's sleeps elsewhere).
//! Every wait polls a real probe and reports the last observation when the deadline passes.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// The deadline passed before the probe succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut<O> {
    /// What the last completed probe observed (`None` if none completed in time).
    pub last: Option<O>,
    /// How many probes were started.
    pub attempts: u32,
    /// How long the wait took.
    pub waited: Duration,
}

/// `start + timeout`, or the latest instant near it that `Instant` can hold: a caller's
/// `Duration::MAX` ("no limit") must wait for ever, not panic with "overflow when adding
/// duration to instant".
pub fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    if let Some(deadline) = start.checked_add(timeout) {
        return deadline;
    }
    // Halve until it fits: ends after at most 64 steps, the latest being `start` itself.
    let mut step = timeout;
    let mut deadline = start;
    while !step.is_zero() {
        step /= 2;
        if let Some(later) = deadline.checked_add(step) {
            deadline = later;
        }
    }
    deadline
}

/// Runs `probe` every `interval` until it returns [`ControlFlow::Break`] (its value is
/// returned) or `deadline` passes (the last [`ControlFlow::Continue`] observation is returned in
/// [`TimedOut`]). A probe still running at the deadline is cancelled. The last probe runs at the
/// deadline at the latest, so a short interval is never skipped by a long one.
pub async fn wait_until<T, O, F, Fut>(
    deadline: Instant,
    interval: Duration,
    mut probe: F,
) -> Result<T, TimedOut<O>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ControlFlow<T, O>>,
{
    let start = Instant::now();
    let tokio_deadline = tokio::time::Instant::from_std(deadline);
    let mut last = None;
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        match tokio::time::timeout_at(tokio_deadline, probe()).await {
            Ok(ControlFlow::Break(value)) => return Ok(value),
            Ok(ControlFlow::Continue(observed)) => last = Some(observed),
            Err(_) => return Err(TimedOut { last, attempts, waited: start.elapsed() }),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(TimedOut { last, attempts, waited: start.elapsed() });
        }
        let next = deadline_after(now, interval).min(deadline);
        sleep_until(next).await;
    }
}

#[expect(clippy::disallowed_methods, reason = "the one timer of the workspace")]
async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// A poll loop the caller drives, for a probe that needs `&mut` state a closure cannot lend
/// (`wait_until` takes a closure): `while ticker.tick().await { probe… }`.
#[derive(Debug)]
pub struct Ticker {
    deadline: Option<Instant>,
    interval: Duration,
    first: bool,
}

impl Ticker {
    /// Probes every `interval` until `deadline` (`None`: no deadline).
    pub fn new(deadline: Option<Instant>, interval: Duration) -> Ticker {
        Ticker { deadline, interval, first: true }
    }

    /// `true` at once the first time, then after `interval` (at the deadline at the latest);
    /// `false` once the deadline has passed.
    pub async fn tick(&mut self) -> bool {
        if std::mem::take(&mut self.first) {
            return true;
        }
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        let next = deadline_after(now, self.interval);
        sleep_until(self.deadline.map_or(next, |d| next.min(d))).await;
        true
    }
}

/// Lets `d` of wall time pass. Only for a step whose subject is time itself (a TTL that must run
/// out, such as KMS v2's 3-minute write state while its plugin is down), never to wait for
/// something to become ready: poll that with [`wait_until`].
pub async fn let_time_pass(d: Duration) {
    let mut ticker = Ticker::new(Some(deadline_after(Instant::now(), d)), d);
    while ticker.tick().await {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_after_saturates() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::from_secs(5)), now + Duration::from_secs(5));
        let far = deadline_after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(100 * 365 * 24 * 3600));
        assert_eq!(deadline_after(far, Duration::MAX), deadline_after(far, Duration::MAX));
    }

    /// An interval too large to add to an `Instant` waits until the deadline, without panicking.
    #[tokio::test]
    async fn a_huge_interval_does_not_overflow() {
        let deadline = Instant::now() + Duration::from_millis(30);
        let waited: Result<(), _> =
            wait_until(deadline, Duration::MAX, || async { ControlFlow::Continue(()) }).await;
        let timed_out = waited.expect_err("the probe never succeeds");
        assert_eq!(timed_out.attempts, 2);
    }
}
