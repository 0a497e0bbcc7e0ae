//! Per-client rate limits (a token bucket per client id, per route), answered with 429 and
//! `Retry-After`. Only authenticated requests reach a limiter, so its keys are registered client
//! ids, not anything a stranger can invent.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::route_table::RateLimitSpec;

/// A route's name and its quota (per second, burst).
type LimiterKey = (String, u32, u32);

/// Limiters by route name and quota (a reload that changes a quota gets a fresh limiter).
#[derive(Default)]
pub struct RateLimits {
    limiters: Mutex<HashMap<LimiterKey, Arc<DefaultKeyedRateLimiter<String>>>>,
    checks: AtomicU64,
}

impl RateLimits {
    /// `Err(wait)` when `client_id` has used its quota on `route`.
    pub fn check(&self, route: &str, spec: RateLimitSpec, client_id: &str) -> Result<(), Duration> {
        let limiter = self.limiter(route, spec);
        // Forget idle clients now and then, so state does not accumulate.
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(10_000) {
            limiter.retain_recent();
        }
        limiter
            .check_key(&client_id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn limiter(&self, route: &str, spec: RateLimitSpec) -> Arc<DefaultKeyedRateLimiter<String>> {
        let key = (route.to_owned(), spec.per_second, spec.burst);
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiters
            .entry(key)
            .or_insert_with(|| {
                let per_second = NonZeroU32::new(spec.per_second).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(spec.burst).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::keyed(
                    Quota::per_second(per_second).allow_burst(burst),
                ))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let limits = RateLimits::default();
        let spec = RateLimitSpec {
            per_second: 1,
            burst: 3,
        };
        for _ in 0..3 {
            assert!(limits.check("r", spec, "a").is_ok());
        }
        let wait = limits.check("r", spec, "a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limits.check("r", spec, "b").is_ok());
        assert!(limits.check("other", spec, "a").is_ok(), "limits are per route");
    }
}
