//! What failsafe tells a [`Breaker`](super::Breaker), kept where the breaker can read it: its state
//! transitions mirrored into an atomic, the log and the metrics ([`Mirror`]), and the open durations
//! its policy picks ([`Doubling`], [`RecordingPolicy`]), so a rejected caller learns when to retry.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use failsafe::{FailurePolicy, Instrument};

use super::BreakerState;

/// Open durations: `open_ms`, then doubling up to `max_open_ms`. (failsafe's own backoffs work in
/// whole seconds and panic below one.)
#[derive(Debug, Clone)]
pub(super) struct Doubling {
    pub(super) next: Duration,
    pub(super) max: Duration,
}

impl Iterator for Doubling {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (current * 2).min(self.max);
        Some(current)
    }
}

/// failsafe's consecutive-failures policy, remembering the open duration it picked so that
/// rejected callers can be told when to retry.
#[derive(Debug)]
pub(super) struct RecordingPolicy {
    pub(super) inner: failsafe::failure_policy::ConsecutiveFailures<Doubling>,
    pub(super) last_delay_ms: Arc<AtomicU64>,
}

impl FailurePolicy for RecordingPolicy {
    fn record_success(&mut self) {
        self.inner.record_success();
    }

    fn mark_dead_on_failure(&mut self) -> Option<Duration> {
        let delay = self.inner.mark_dead_on_failure();
        if let Some(delay) = delay {
            self.last_delay_ms
                .store(delay.as_millis() as u64, Ordering::SeqCst);
        }
        delay
    }

    fn revived(&mut self) {
        self.inner.revived();
    }
}

/// Mirrors failsafe's transitions into our atomic, the log and the metrics.
#[derive(Clone, Debug)]
pub(super) struct Mirror {
    pub(super) name: Arc<str>,
    pub(super) state: Arc<AtomicU8>,
    pub(super) opened: Arc<Mutex<Option<Instant>>>,
    pub(super) last_delay_ms: Arc<AtomicU64>,
}

impl Mirror {
    fn set(&self, state: BreakerState) {
        let previous = self.state.swap(state as u8, Ordering::SeqCst);
        let name = self.name.to_string();
        metrics::gauge!("circuit_breaker_state", "breaker" => name.clone()).set(state as u8 as f64);
        if previous != state as u8 {
            let to = state.label();
            metrics::counter!("circuit_breaker_transitions_total", "breaker" => name, "to" => to)
                .increment(1);
        }
    }

    /// How long until an open breaker lets a probe through (at least one second for `Retry-After`
    /// to be meaningful is the caller's business).
    pub(super) fn remaining_open(&self) -> Duration {
        let delay = Duration::from_millis(self.last_delay_ms.load(Ordering::SeqCst));
        let opened = self.opened.lock().ok().and_then(|opened| *opened);
        opened
            .map(|at| delay.saturating_sub(at.elapsed()))
            .unwrap_or(delay)
    }
}

impl BreakerState {
    fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl Instrument for Mirror {
    fn on_call_rejected(&self) {
        metrics::counter!("circuit_breaker_rejected_total", "breaker" => self.name.to_string()).increment(1);
    }

    fn on_open(&self) {
        if let Ok(mut opened) = self.opened.lock() {
            *opened = Some(Instant::now());
        }
        let open_ms = self.last_delay_ms.load(Ordering::SeqCst);
        tracing::warn!(
            breaker = %self.name,
            open_ms,
            "circuit breaker {} opened for {open_ms} ms",
            self.name
        );
        self.set(BreakerState::Open);
    }

    fn on_half_open(&self) {
        tracing::warn!(
            breaker = %self.name,
            "circuit breaker {} half-open: probing",
            self.name
        );
        self.set(BreakerState::HalfOpen);
    }

    fn on_closed(&self) {
        // failsafe also calls this once when the breaker is built.
        if self.state.load(Ordering::SeqCst) != BreakerState::Closed as u8 {
            tracing::warn!(breaker = %self.name, "circuit breaker {} closed", self.name);
        }
        self.set(BreakerState::Closed);
    }
}
