//! Resilience around calls to a dependency that can fail for a while: a circuit breaker
//! ([`Breaker`], failsafe behind our own type), exponential backoff with full jitter
//! ([`BackoffSettings`]), and a retry budget ([`RetryBudget`]). One concept per file.

mod backoff;
mod breaker;
mod retry_budget;

pub use backoff::BackoffSettings;
pub use breaker::{Breaker, BreakerError, BreakerSettings, BreakerState};
pub use retry_budget::RetryBudget;
