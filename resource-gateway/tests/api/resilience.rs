//! The gateway against an auth-server that hangs, fails or recovers: timeouts, deadline, retries,
//! retry budget, circuit breaker.

use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn a_hanging_auth_server_costs_one_attempt_timeout_per_try_within_the_deadline() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.attempt_timeout_ms = 100;
    settings.introspection.deadline_ms = 350;
    settings.introspection.max_retries = 10;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Hang);

    let started = Instant::now();
    let response = gateway.get_with_token("/api/x", "oat_any").await;
    let elapsed = started.elapsed();

    assert_eq!(response.status(), 503);
    // Generous bounds: the deadline is 350 ms; a hang without it would last forever.
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let attempts = auth.call_times();
    assert!(
        (2..=4).contains(&attempts.len()),
        "attempts cut at 100 ms within 350 ms: {}",
        attempts.len()
    );
    assert_eq!(upstream.calls(), 0);
}
