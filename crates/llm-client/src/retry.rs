//! Retries of transient failures: exponential backoff with jitter, honouring
//! `retry-after`.

use std::time::Duration;

use crate::error::LlmError;

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// The longest computed delay (a server's `retry-after` is honoured up to 5 minutes).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// The most a server's `retry-after` may delay a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based) after `error`: the server's
    /// `retry-after` if it gave one, else `base × 2^retry` capped at `max_delay`, with
    /// "equal jitter" (half fixed, half random) so many clients do not retry in step.
    pub fn delay(&self, retry: u32, error: &LlmError) -> Duration {
        if let Some(after) = error.retry_after() {
            return after.min(MAX_RETRY_AFTER);
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_delay);
        let half = exp / 2;
        let nanos = jiff::Timestamp::now().subsec_nanosecond().unsigned_abs();
        let random = (u64::from(nanos).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64
            / (1u64 << 53) as f64;
        half + half.mul_f64(random)
    }
}

/// Parses a `retry-after` header value in seconds (HTTP dates are not honoured).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}
