//! The retry budget: how many retries a client may add to the calls it makes.

use std::sync::Mutex;
use std::time::Duration;

/// A retry budget: retries may add at most `percent` % to the calls made in the last `window`,
/// plus `min_per_second` so that a quiet service can still retry. Under a total outage the load on
/// the dependency stays within (1 + percent/100) of the calls, instead of multiplying by the number
/// of attempts.
#[derive(Debug)]
pub struct RetryBudget {
    percent: u64,
    min_per_second: u64,
    window: tokio::time::Duration,
    events: Mutex<BudgetWindow>,
}

#[derive(Debug, Default)]
struct BudgetWindow {
    calls: std::collections::VecDeque<tokio::time::Instant>,
    retries: std::collections::VecDeque<tokio::time::Instant>,
}

impl RetryBudget {
    /// The floor counts whole seconds of `window`, and a window under one second counts as one.
    pub fn new(percent: u64, min_per_second: u64, window: Duration) -> RetryBudget {
        RetryBudget {
            percent,
            min_per_second,
            window,
            events: Mutex::new(BudgetWindow::default()),
        }
    }

    /// Records a first attempt.
    pub fn record_call(&self) {
        let now = tokio::time::Instant::now();
        if let Ok(mut events) = self.events.lock() {
            events.calls.push_back(now);
            Self::expire(&mut events, now, self.window);
        }
    }

    /// Takes one retry from the budget, if there is one left.
    pub fn try_retry(&self) -> bool {
        let now = tokio::time::Instant::now();
        let Ok(mut events) = self.events.lock() else {
            return false;
        };
        Self::expire(&mut events, now, self.window);
        let allowed = events.calls.len() as u64 * self.percent / 100
            + self.min_per_second * self.window.as_secs().max(1);
        if (events.retries.len() as u64) < allowed {
            events.retries.push_back(now);
            true
        } else {
            false
        }
    }

    fn expire(events: &mut BudgetWindow, now: tokio::time::Instant, window: Duration) {
        for queue in [&mut events.calls, &mut events.retries] {
            while queue.front().is_some_and(|at| now.duration_since(*at) > window) {
                queue.pop_front();
            }
            // Bound memory under any load: beyond this many entries in one window, the exact
            // count no longer changes the decision.
            while queue.len() > 1_000_000 {
                queue.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_retry_budget_allows_a_fraction_of_calls_plus_a_floor() {
        let budget = RetryBudget::new(20, 1, Duration::from_secs(10));
        for _ in 0..100 {
            budget.record_call();
        }
        let granted = (0..100).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 20 + 10);

        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(budget.try_retry(), "the window slides");
    }
}
