//! Limits on guessing: a fixed-window failure counter per key (an account and IP, an IP, a client id).
//! Once a key reaches its limit every attempt is refused, even a correct one, until the window ends;
//! otherwise a guesser would learn the answer from the one attempt that is let through.
//! Counters live in this process; several replicas each apply the limit (see README).

use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::configuration::FailureLimit;

/// Keys tracked at most; the oldest are evicted first, so a flood of keys cannot exhaust memory.
const MAX_KEYS: u64 = 100_000;

/// Failure counters for one kind of key.
#[derive(Clone)]
pub struct FailureThrottle {
    limit: FailureLimit,
    counters: Cache<String, Window>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl FailureThrottle {
    pub fn new(limit: FailureLimit) -> Self {
        let window = Duration::from_secs(limit.window_secs);
        FailureThrottle {
            limit,
            counters: Cache::builder()
                .max_capacity(MAX_KEYS)
                .time_to_live(window)
                .build(),
        }
    }

    /// If `key` is blocked, how many seconds remain until it is not.
    pub fn blocked_for(&self, key: &str) -> Option<u64> {
        let window = self.counters.get(key)?;
        let elapsed = window.started.elapsed();
        let length = Duration::from_secs(self.limit.window_secs);
        (window.failures >= self.limit.max_failures && elapsed < length)
            .then(|| (length - elapsed).as_secs().max(1))
    }

    /// Counts one failure for `key`.
    pub fn record_failure(&self, key: &str) {
        let length = Duration::from_secs(self.limit.window_secs);
        self.counters.entry(key.to_owned()).and_upsert_with(|existing| {
            match existing.map(|entry| entry.into_value()) {
                Some(window) if window.started.elapsed() < length => Window {
                    failures: window.failures.saturating_add(1),
                    ..window
                },
                _ => Window {
                    started: Instant::now(),
                    failures: 1,
                },
            }
        });
    }
}

/// The throttles of the server.
#[derive(Clone)]
pub struct Throttles {
    pub login_per_account_and_ip: FailureThrottle,
    pub login_per_ip: FailureThrottle,
    pub client_authentication: FailureThrottle,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_once_it_reaches_the_limit_and_others_are_not() {
        let throttle = FailureThrottle::new(FailureLimit {
            max_failures: 3,
            window_secs: 60,
        });
        for _ in 0..2 {
            throttle.record_failure("alice");
        }
        assert_eq!(throttle.blocked_for("alice"), None);
        throttle.record_failure("alice");
        let remaining = throttle.blocked_for("alice").unwrap();
        assert!((1..=60).contains(&remaining));
        assert_eq!(throttle.blocked_for("bob"), None);
    }
}
