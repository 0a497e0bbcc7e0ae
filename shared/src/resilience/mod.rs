//! Resilience around calls to a dependency that can fail for a while, one concept per file: the
//! circuit breaker ([`Breaker`], failsafe behind our own type, with `mirror.rs` holding what
//! failsafe reports to it), exponential backoff with full jitter ([`BackoffSettings`]), and a retry
//! budget ([`RetryBudget`]).

mod backoff;
mod breaker;
mod mirror;
mod retry_budget;

pub use backoff::BackoffSettings;
pub use breaker::{Breaker, BreakerError, BreakerSettings, BreakerState};
pub use retry_budget::RetryBudget;
