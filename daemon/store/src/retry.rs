//! The one retry policy of the cloud backends: exponential backoff with full jitter, bounded in
//! attempts and in total time.
//!
//! The SDKs' own retries are switched off (`max_attempts(1)`), so every retry happens here and
//! is visible: each one emits a `tracing::warn!` event (`uri`, `op`, `attempt`, `reason`) and
//! bumps [`retries_total`], the counter the daemon's metrics read.
//!
//! What is retried is decided by the error's variant alone: [`Error::Unavailable`] (throttling,
//! 5xx, connection refused or reset) and [`Error::Timeout`]. Everything else (not found, access
//! denied, bad request...) fails at once.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Retries performed by every backend since the process started.
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// Retries performed by every cloud backend since the process started (a counter for metrics).
pub fn retries_total() -> u64 {
    RETRIES.load(Ordering::Relaxed)
}

/// Counts and logs one retry made outside [`RetryPolicy::run`] (a RangeEngine range that
/// starts again), so that every retry shows in the same counter and log.
pub(crate) fn note_retry(op: &'static str, uri: &str, attempt: u32, pause: Duration, err: &Error) {
    RETRIES.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        op,
        uri,
        attempt,
        backoff_ms = pause.as_millis() as u64,
        reason = %err,
        "retrying"
    );
}

/// How a failed request is retried (`[s3.retry]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry).
    pub max_attempts: u32,
    /// Upper bound of the first backoff; each later one doubles, up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// No new attempt starts once this much time has passed since the first one began.
    #[serde(with = "humantime_serde")]
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Whether `err` is worth another attempt.
    pub fn is_retryable(err: &Error) -> bool {
        matches!(err, Error::Unavailable { .. } | Error::Timeout { .. })
    }

    /// The backoff before attempt `attempt + 1` (`attempt` counts from 1): a uniformly random
    /// duration up to `min(max_backoff, initial_backoff * 2^(attempt-1))` ("full jitter").
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff);
        if cap.is_zero() {
            return cap;
        }
        rand::rng().random_range(Duration::ZERO..=cap)
    }

    /// Runs `attempt_fn` until it succeeds, fails with an error that is not retryable, or the
    /// attempts or the time budget run out; then returns the last error.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn run<T, F, Fut>(&self, op: &'static str, uri: &str, mut attempt_fn: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = tokio::time::Instant::now();
        let mut attempt = 1;
        loop {
            let err = match attempt_fn().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !Self::is_retryable(&err) || attempt >= self.max_attempts.max(1) {
                return Err(err);
            }
            let pause = self.backoff(attempt);
            if started.elapsed() + pause >= self.max_elapsed {
                return Err(err);
            }
            RETRIES.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                op,
                uri,
                attempt,
                backoff_ms = pause.as_millis() as u64,
                reason = %err,
                "retrying"
            );
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn unavailable() -> Error {
        Error::Unavailable {
            op: "get",
            uri: "s3://b/k".into(),
            reason: "503 SlowDown".into(),
        }
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let cap = (p.initial_backoff * (1 << (attempt - 1).min(20))).min(p.max_backoff);
            assert!(p.backoff(attempt) <= cap);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_up_to_max_attempts() {
        let calls = AtomicU32::new(0);
        let before = retries_total();
        let r: Result<()> = RetryPolicy::default()
            .run("get", "s3://b/k", || {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Err(unavailable()) }
            })
            .await;
        assert!(matches!(r, Err(Error::Unavailable { .. })));
        assert_eq!(calls.load(Ordering::Relaxed), 5);
        assert!(retries_total() >= before + 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_fail_at_once_and_success_ends_the_loop() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = RetryPolicy::default()
            .run("get", "s3://b/k", || {
                calls.fetch_add(1, Ordering::Relaxed);
                async {
                    Err(Error::NotFound {
                        op: "get",
                        uri: "s3://b/k".into(),
                        reason: "NoSuchKey".into(),
                    })
                }
            })
            .await;
        assert!(matches!(r, Err(Error::NotFound { .. })));
        assert_eq!(calls.load(Ordering::Relaxed), 1);

        let calls = AtomicU32::new(0);
        let r = RetryPolicy::default()
            .run("get", "s3://b/k", || {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if n < 2 {
                        Err(unavailable())
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r.unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_budget_bounds_the_whole_loop() {
        let policy = RetryPolicy {
            max_attempts: 1000,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(10),
        };
        let started = tokio::time::Instant::now();
        let r: Result<()> = policy
            .run("get", "s3://b/k", || async { Err(unavailable()) })
            .await;
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
