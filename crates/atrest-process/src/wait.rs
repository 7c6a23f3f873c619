//! Polling against a deadline: the only place in this crate that waits on a timer.

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
        let next = (now + interval).min(deadline);
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
    }
}
