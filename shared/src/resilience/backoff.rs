//! Exponential backoff with full jitter, for retries and reconnections.

use std::time::Duration;

use serde::Deserialize;

/// Exponential backoff with full jitter (a random delay between zero and the exponential bound),
/// so that callers that failed together do not retry together.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct BackoffSettings {
    pub base_ms: u64,
    pub max_ms: u64,
    /// Off only in tests that need exact delays.
    pub jitter: bool,
}

impl BackoffSettings {
    /// The delay before retry number `retry` (0 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let bound = self
            .base_ms
            .saturating_mul(1u64 << retry.min(20))
            .min(self.max_ms);
        if !self.jitter || bound == 0 {
            return Duration::from_millis(bound);
        }
        let mut bytes = [0u8; 8];
        // Without randomness, fall back to the full bound: still bounded, only not spread.
        let random = getrandom::fill(&mut bytes)
            .map(|_| u64::from_le_bytes(bytes))
            .unwrap_or(u64::MAX);
        Duration::from_micros(random % (bound * 1000 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_jitter_stays_within_the_bound() {
        let exact = BackoffSettings {
            base_ms: 25,
            max_ms: 200,
            jitter: false,
        };
        let delays: Vec<u64> = (0..5)
            .map(|retry| exact.delay(retry).as_millis() as u64)
            .collect();
        assert_eq!(delays, [25, 50, 100, 200, 200]);
        let jittered = BackoffSettings {
            jitter: true,
            ..exact
        };
        let samples: Vec<Duration> = (0..200).map(|_| jittered.delay(2)).collect();
        assert!(samples.iter().all(|delay| *delay <= Duration::from_millis(100)));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(distinct.len() > 100, "jitter spreads the delays");
    }
}
