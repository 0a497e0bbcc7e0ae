//! Limits on guessing: a fixed-window counter of attempts per key (an account and address, an
//! address, a client id and address). An attempt is counted *before* the credential is checked and
//! given back if it succeeds, so concurrent guesses cannot all slip through while the first one is
//! being verified. Once a key reaches its limit every attempt is refused, even a correct one, until
//! the window ends: otherwise a guesser would learn the answer from the one attempt let through.
//! Counters live in this process; N replicas each apply the limit (see README).

use std::cell::Cell;
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::configuration::FailureLimit;

/// Keys tracked at most; the oldest are evicted first, so a flood of keys cannot exhaust memory.
/// Keys are stored as their SHA-256, so an entry has the same size however long the username a
/// stranger typed: the memory is bounded in bytes, not only in entries (and holds no username or
/// address in clear).
const MAX_KEYS: u64 = 100_000;

/// What a key is stored as.
type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// Attempt counters for one kind of key.
#[derive(Clone)]
pub struct FailureThrottle {
    limit: FailureLimit,
    counters: Cache<KeyDigest, Window>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    attempts: u32,
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

    fn window(&self) -> Duration {
        Duration::from_secs(self.limit.window_secs)
    }

    /// Counts an attempt for `key`, or returns the seconds until the key is allowed again.
    pub fn reserve(&self, key: &str) -> Result<(), u64> {
        let window = self.window();
        let max = self.limit.max_failures;
        let blocked_for = Cell::new(None);
        self.counters.entry(digest(key)).and_compute_with(|existing| {
            let current = existing
                .map(|entry| entry.into_value())
                .filter(|counter| counter.started.elapsed() < window);
            match current {
                Some(counter) if counter.attempts >= max => {
                    blocked_for.set(Some((window - counter.started.elapsed()).as_secs().max(1)));
                    Op::Nop
                }
                Some(counter) => Op::Put(Window {
                    attempts: counter.attempts + 1,
                    ..counter
                }),
                None => Op::Put(Window {
                    started: Instant::now(),
                    attempts: 1,
                }),
            }
        });
        match blocked_for.get() {
            Some(seconds) => Err(seconds),
            None => Ok(()),
        }
    }

    /// How long `key` is still refused, if it is: a read, for checks cheap enough that counting
    /// only failures afterwards is good enough (a client secret is compared in microseconds, so a
    /// parallel burst gains at most its own size; a password check takes tens of milliseconds and
    /// uses [`reserve`](Self::reserve) instead).
    pub fn blocked_for(&self, key: &str) -> Option<u64> {
        let counter = self.counters.get(&digest(key))?;
        let elapsed = counter.started.elapsed();
        (counter.attempts >= self.limit.max_failures && elapsed < self.window())
            .then(|| (self.window() - elapsed).as_secs().max(1))
    }

    /// Counts one failure for `key`.
    pub fn record_failure(&self, key: &str) {
        let _ = self.reserve(key);
    }

    /// Gives back an attempt that succeeded: only failures count against the limit.
    pub fn release(&self, key: &str) {
        self.counters.entry(digest(key)).and_compute_with(|existing| {
            match existing.map(|entry| entry.into_value()) {
                Some(counter) if counter.attempts > 0 => Op::Put(Window {
                    attempts: counter.attempts - 1,
                    ..counter
                }),
                _ => Op::Nop,
            }
        });
    }
}

/// Reserves one attempt on each throttle, all or none.
pub fn reserve_all(throttles: &[(&FailureThrottle, &str)]) -> Result<(), u64> {
    for (done, (throttle, key)) in throttles.iter().enumerate() {
        if let Err(seconds) = throttle.reserve(key) {
            for (reserved, key) in &throttles[..done] {
                reserved.release(key);
            }
            return Err(seconds);
        }
    }
    Ok(())
}

/// Gives back one attempt on each throttle.
pub fn release_all(throttles: &[(&FailureThrottle, &str)]) {
    for (throttle, key) in throttles {
        throttle.release(key);
    }
}

/// The throttles of the server.
#[derive(Clone)]
pub struct Throttles {
    pub login_per_account_and_ip: FailureThrottle,
    pub login_per_ip: FailureThrottle,
    pub client_authentication: FailureThrottle,
    pub account_forms_per_ip: FailureThrottle,
    pub authorization_requests_per_ip: FailureThrottle,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max: u32) -> FailureThrottle {
        FailureThrottle::new(FailureLimit {
            max_failures: max,
            window_secs: 60,
        })
    }

    #[test]
    fn a_key_is_refused_once_its_attempts_reach_the_limit_and_others_are_not() {
        let throttle = throttle(3);
        for _ in 0..3 {
            assert!(throttle.reserve("alice").is_ok());
        }
        let remaining = throttle.reserve("alice").unwrap_err();
        assert!((1..=60).contains(&remaining));
        assert!(throttle.reserve("bob").is_ok());
    }

    #[test]
    fn keys_of_any_length_are_counted_apart_in_entries_of_one_size() {
        let throttle = throttle(1);
        let (long, longer) = ("x".repeat(1 << 20), format!("{}y", "x".repeat(1 << 20)));
        assert!(throttle.reserve(&long).is_ok());
        assert!(
            throttle.reserve(&longer).is_ok(),
            "a different key, however alike"
        );
        assert!(throttle.reserve(&long).is_err());
        assert_eq!(
            std::mem::size_of::<KeyDigest>(),
            32,
            "what each entry's key costs"
        );
    }

    #[test]
    fn successful_attempts_are_given_back() {
        let throttle = throttle(2);
        for _ in 0..10 {
            throttle.reserve("alice").unwrap();
            throttle.release("alice");
        }
        assert!(throttle.reserve("alice").is_ok());
    }

    #[test]
    fn concurrent_attempts_beyond_the_limit_are_refused_before_any_is_checked() {
        let throttle = throttle(5);
        let admitted = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..60)
                .map(|_| scope.spawn(|| throttle.reserve("alice").is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or(false))
                .filter(|admitted| *admitted)
                .count()
        });
        assert_eq!(admitted, 5);
    }

    #[test]
    fn reserving_several_is_all_or_nothing() {
        let (account, address) = (throttle(5), throttle(1));
        assert!(reserve_all(&[(&account, "a"), (&address, "ip")]).is_ok());
        assert!(reserve_all(&[(&account, "a"), (&address, "ip")]).is_err());
        // The refused attempt did not stay counted on the account.
        for _ in 0..4 {
            assert!(account.reserve("a").is_ok());
        }
        assert!(account.reserve("a").is_err());
    }
}
