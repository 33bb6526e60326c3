//! The one retry policy: a failure that may go away is tried again after a doubling delay,
//! one that will not (trust, credentials, a missing file) is returned at once.

use std::time::Duration;

/// An error that knows whether trying again could help.
pub trait Transient {
    /// `true` when the same request may succeed later.
    fn is_transient(&self) -> bool;
}

/// Statuses worth another attempt: a timeout, rate limiting, a server's own failure.
pub fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// How often and how patiently a failed exchange is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The delay before the second attempt; it doubles after each failure.
    pub base_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// The delay before attempt `attempt + 1`, after `attempt` (1-based) failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        (self.base_delay * 2u32.saturating_pow(attempt.saturating_sub(1))).min(self.max_delay)
    }

    /// Runs `op` until it succeeds, fails permanently, or the attempts are spent; before
    /// each new attempt `on_retry` hears the failure and the delay, then the delay passes.
    pub fn run<T, E: Transient>(
        &self,
        mut op: impl FnMut() -> Result<T, E>,
        mut on_retry: impl FnMut(&E, Duration),
    ) -> Result<T, E> {
        let mut attempt = 1;
        loop {
            match op() {
                Err(e) if attempt < self.attempts.max(1) && e.is_transient() => {
                    let delay = self.delay(attempt);
                    on_retry(&e, delay);
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failure(bool);
    impl Transient for Failure {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn transient_failures_are_retried_permanent_ones_are_not() {
        let retry = Retry {
            attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut calls = 0;
        let result: Result<(), Failure> = retry.run(
            || {
                calls += 1;
                Err(Failure(true))
            },
            |_, _| {},
        );
        assert!(result.is_err());
        assert_eq!(calls, 4);
        let mut calls = 0;
        let _ = retry.run(
            || -> Result<(), Failure> {
                calls += 1;
                Err(Failure(false))
            },
            |_, _| {},
        );
        assert_eq!(calls, 1);
        assert_eq!(retry.delay(1), Duration::from_millis(1));
        assert_eq!(retry.delay(5), Duration::from_millis(2));
    }
}
