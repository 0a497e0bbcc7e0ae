//! The circuit breaker: failsafe behind our own type.
//!
//! failsafe counts consecutive failures and opens, but three things are ours: its half-open state
//! admits every caller, so `Breaker` lets only `half_open_probes` calls through and rejects the rest
//! at once; its state is visible only through its `Instrument` hooks, which we mirror into an atomic,
//! a log line at warn and a metrics gauge; and a rejected call learns how long the breaker stays open,
//! for `Retry-After`. A future dropped before it completes records nothing in failsafe, so the
//! per-attempt timeout belongs inside the future given to [`Breaker::call`].

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe::StateMachine;
use failsafe::futures::CircuitBreaker as _;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::mirror::{Doubling, Mirror, RecordingPolicy};
use crate::configuration::ConfigError;

/// Settings of one circuit breaker.
///
/// [`Breaker::new`] does not fail on values that make no sense: it silently clamps them
/// (`consecutive_failures` and `half_open_probes` of 0 count as 1, a `max_open_ms` below `open_ms`
/// as `open_ms`). A service refuses them when it loads its settings, with [`BreakerSettings::check`]
/// in its `Layered::validated`.
#[derive(Debug, Clone, Deserialize)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker (at least 1).
    pub consecutive_failures: u32,
    /// How long it stays open the first time; each failed probe doubles it, up to `max_open_ms`.
    pub open_ms: u64,
    /// At least `open_ms`.
    pub max_open_ms: u64,
    /// Calls let through at once while half-open; the others are rejected until a probe succeeds
    /// (at least 1).
    pub half_open_probes: usize,
}

impl BreakerSettings {
    /// Refuses the values [`Breaker::new`] would clamp; `section` names the settings in the message
    /// (`introspection.breaker`).
    pub fn check(&self, section: &str) -> Result<(), ConfigError> {
        let problem = if self.consecutive_failures == 0 {
            "consecutive_failures must be at least 1"
        } else if self.half_open_probes == 0 {
            "half_open_probes must be at least 1"
        } else if self.max_open_ms < self.open_ms {
            "max_open_ms must not be less than open_ms"
        } else {
            return Ok(());
        };
        Err(ConfigError::new(format!("{section}: {problem}")))
    }
}

/// The state of a breaker, as last reported by failsafe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// Why a call through the breaker failed.
#[derive(Debug)]
pub enum BreakerError<E> {
    /// The breaker is open (or half-open with every probe slot taken): the call was not made.
    Rejected { retry_after: Duration },
    /// The call was made and failed.
    Inner(E),
}

/// A circuit breaker around one dependency. Cloning shares the state.
#[derive(Clone)]
pub struct Breaker {
    machine: StateMachine<RecordingPolicy, Mirror>,
    mirror: Mirror,
    probes: Arc<Semaphore>,
    open_for: Duration,
}

impl Breaker {
    /// A breaker named `name` in logs and metrics (`breaker` label): one name per dependency, such
    /// as `auth-server` or an upstream's base URL.
    pub fn new(name: impl Into<Arc<str>>, settings: &BreakerSettings) -> Breaker {
        let last_delay_ms = Arc::new(AtomicU64::new(settings.open_ms));
        let mirror = Mirror {
            name: name.into(),
            state: Arc::new(AtomicU8::new(BreakerState::Closed as u8)),
            opened: Arc::new(Mutex::new(None)),
            last_delay_ms: last_delay_ms.clone(),
        };
        let backoff = Doubling {
            next: Duration::from_millis(settings.open_ms),
            max: Duration::from_millis(settings.max_open_ms.max(settings.open_ms)),
        };
        let policy = RecordingPolicy {
            inner: failsafe::failure_policy::consecutive_failures(
                settings.consecutive_failures.max(1),
                backoff,
            ),
            last_delay_ms,
        };
        Breaker {
            machine: StateMachine::new(policy, mirror.clone()),
            mirror,
            probes: Arc::new(Semaphore::new(settings.half_open_probes.max(1))),
            open_for: Duration::from_millis(settings.open_ms),
        }
    }

    pub fn state(&self) -> BreakerState {
        match self.mirror.state.load(Ordering::SeqCst) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// Makes `call` through the breaker. Errors for which `is_failure` is false (a 4xx, an inactive
    /// token) do not count against the dependency.
    pub async fn call<T, E, F>(&self, is_failure: fn(&E) -> bool, call: F) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let (reject, rejected) = oneshot::channel::<()>();
        let mirror = self.mirror.clone();
        let probes = self.probes.clone();
        // The probe slot is held until failsafe has recorded the probe's result (it is dropped with
        // this, after the select), not only while the call runs: otherwise another caller could take
        // the slot in between and become a second probe.
        let probe_slot: Arc<Mutex<Option<OwnedSemaphorePermit>>> = Arc::default();
        let slot = probe_slot.clone();
        // failsafe asks for permission (and turns Open into HalfOpen) when it first polls; this
        // future then runs, sees the mirrored state and takes a probe slot or gives up. A mirror that
        // still says Open means failsafe has just let this call through as half-open and our hook has
        // not run yet: that call needs a slot too.
        let guarded = async move {
            if mirror.state.load(Ordering::SeqCst) != BreakerState::Closed as u8 {
                match probes.try_acquire_owned() {
                    Ok(permit) => {
                        if let Ok(mut slot) = slot.lock() {
                            *slot = Some(permit);
                        }
                    }
                    Err(_) => {
                        let _ = reject.send(());
                        // Never completes: the select below drops it, and failsafe records nothing.
                        std::future::pending::<()>().await;
                    }
                }
            }
            call.await
        };
        let through_breaker = self.machine.call_with(is_failure, guarded);
        let outcome = tokio::select! {
            outcome = through_breaker => match outcome {
                Ok(value) => Ok(value),
                Err(failsafe::Error::Inner(error)) => Err(BreakerError::Inner(error)),
                Err(failsafe::Error::Rejected) => Err(BreakerError::Rejected {
                    retry_after: self.mirror.remaining_open(),
                }),
            },
            Ok(()) = rejected => Err(BreakerError::Rejected { retry_after: self.open_for }),
        };
        drop(probe_slot);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn settings(open_ms: u64) -> BreakerSettings {
        BreakerSettings {
            consecutive_failures: 3,
            open_ms,
            max_open_ms: open_ms * 4,
            half_open_probes: 1,
        }
    }

    fn any_error(_: &&'static str) -> bool {
        true
    }

    async fn fail(breaker: &Breaker) -> Result<(), BreakerError<&'static str>> {
        breaker.call(any_error, async { Err::<(), _>("boom") }).await
    }

    #[tokio::test]
    async fn consecutive_failures_open_the_breaker_and_it_rejects_without_calling() {
        let breaker = Breaker::new("test", &settings(60_000));
        for _ in 0..3 {
            assert!(matches!(fail(&breaker).await, Err(BreakerError::Inner("boom"))));
        }
        assert_eq!(breaker.state(), BreakerState::Open);

        let called = std::sync::atomic::AtomicBool::new(false);
        let outcome = breaker
            .call(any_error, async {
                called.store(true, Ordering::SeqCst);
                Ok::<_, &str>(())
            })
            .await;

        let Err(BreakerError::Rejected { retry_after }) = outcome else {
            panic!("rejected")
        };
        assert!(!called.load(Ordering::SeqCst));
        assert!(
            retry_after > Duration::from_secs(50) && retry_after <= Duration::from_secs(60),
            "{retry_after:?}"
        );
    }

    #[tokio::test]
    async fn errors_that_are_not_failures_do_not_open_it() {
        let breaker = Breaker::new("test", &settings(60_000));
        for _ in 0..10 {
            let _ = breaker
                .call(|_: &&str| false, async { Err::<(), _>("not found") })
                .await;
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn half_open_admits_only_the_probe_budget_and_a_success_closes_it() {
        let breaker = Breaker::new("test", &settings(1));
        for _ in 0..3 {
            let _ = fail(&breaker).await;
        }
        // Wait out the 1 ms open period (failsafe measures it with the real clock).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !breaker.machine.is_call_permitted() {
            assert!(Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        assert_eq!(breaker.state(), BreakerState::HalfOpen);

        let (release, hold) = oneshot::channel::<()>();
        let probe = breaker.call(any_error, async move {
            let _ = hold.await;
            Ok::<_, &str>("probed")
        });
        let second = async {
            tokio::task::yield_now().await;
            breaker.call(any_error, async { Ok::<_, &str>("second") }).await
        };
        let (probe, second) = tokio::join!(probe, async {
            let outcome = second.await;
            let _ = release.send(());
            outcome
        });

        assert!(
            matches!(second, Err(BreakerError::Rejected { .. })),
            "only one probe at a time"
        );
        assert_eq!(probe.unwrap(), "probed");
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn check_refuses_what_the_breaker_would_clamp_and_names_the_section() {
        assert!(settings(1_000).check("x.breaker").is_ok());
        let zero_failures = BreakerSettings {
            consecutive_failures: 0,
            ..settings(1_000)
        };
        let zero_probes = BreakerSettings {
            half_open_probes: 0,
            ..settings(1_000)
        };
        let max_below_open = BreakerSettings {
            max_open_ms: 999,
            ..settings(1_000)
        };
        for (bad, field) in [
            (zero_failures, "consecutive_failures"),
            (zero_probes, "half_open_probes"),
            (max_below_open, "max_open_ms"),
        ] {
            let error = bad.check("x.breaker").unwrap_err().to_string();
            assert!(error.contains("x.breaker: ") && error.contains(field), "{error}");
        }
    }
}
