//! The circuit breaker around the auth-server: what opens it (transient failures only), what it
//! answers while open, its probes when half-open, and how it closes.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn consecutive_transient_failures_open_the_breaker_then_requests_get_503_at_once_with_no_call() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 0;
    settings.introspection.breaker.consecutive_failures = 3;
    settings.introspection.breaker.open_ms = 60_000;
    settings.introspection.breaker.max_open_ms = 60_000;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Status(503));
    for i in 0..3 {
        let response = gateway.get_with_token("/api/x", &format!("oat_fail_{i}")).await;
        assert_eq!(response.status(), 503);
    }
    assert_eq!(auth.calls(), 3);
    // Were a call let through now, it would also hang: the count below is the proof, not a clock.
    auth.set_behaviour(AuthBehaviour::Hang);

    let gateway = &gateway;
    let responses = futures_util::future::join_all(
        (0..20).map(|i| async move { gateway.get_with_token("/api/x", &format!("oat_new_{i}")).await }),
    )
    .await;

    for response in responses {
        assert_eq!(response.status(), 503);
        let retry_after = retry_after_secs(&response);
        assert!(
            (50..=60).contains(&retry_after),
            "Retry-After is about the remaining open time: {retry_after}"
        );
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "temporarily_unavailable"
        );
    }
    assert_eq!(
        auth.calls(),
        3,
        "no call reaches the auth-server while the breaker is open"
    );
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn a_cached_token_still_passes_while_the_auth_server_breaker_is_open() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 0;
    settings.introspection.breaker.consecutive_failures = 3;
    settings.introspection.breaker.open_ms = 60_000;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.issue("oat_good", "read", HOUR);
    assert_eq!(gateway.get_with_token("/api/x", "oat_good").await.status(), 200);
    auth.set_behaviour(AuthBehaviour::Status(503));
    for i in 0..3 {
        gateway.get_with_token("/api/x", &format!("oat_fail_{i}")).await;
    }
    assert_eq!(
        gateway.get_with_token("/api/x", "oat_other").await.status(),
        503,
        "the breaker is open"
    );

    let response = gateway.get_with_token("/api/x", "oat_good").await;

    assert_eq!(response.status(), 200);
    assert_eq!(auth.calls(), 4);
    assert_eq!(upstream.calls(), 2);
}

/// The lifecycle of the auth-server breaker. failsafe measures the open period with the real
/// clock, so the test uses real, short periods. It finds the end of an open period by sending
/// bursts of concurrent requests until one burst gets a call through; that burst also shows how
/// many probes half-open lets through, because the fake auth-server holds every call until the
/// rest of the burst has been answered.
#[tokio::test]
async fn after_the_open_period_one_probe_goes_through_a_failed_one_reopens_longer_a_successful_one_closes() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 0;
    // Far above the time a held probe waits for its burst, so it never times out.
    settings.introspection.attempt_timeout_ms = 20_000;
    settings.introspection.deadline_ms = 30_000;
    settings.introspection.breaker.consecutive_failures = 3;
    settings.introspection.breaker.open_ms = 1_000;
    settings.introspection.breaker.max_open_ms = 2_000;
    settings.introspection.breaker.half_open_probes = 1;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Status(503));
    for i in 0..3 {
        let response = gateway.get_with_token("/api/x", &format!("oat_fail_{i}")).await;
        assert_eq!(response.status(), 503);
    }
    assert_eq!(auth.calls(), 3);

    // The auth-server still fails: the probe fails, and the breaker opens again, for twice as long.
    let statuses = burst_until_a_call_goes_through(&gateway, &auth, "oat_failing_probe").await;
    assert!(statuses.iter().all(|status| *status == 503), "{statuses:?}");
    assert_eq!(auth.calls(), 4, "one probe in the whole burst");
    let reopened = gateway.get_with_token("/api/x", "oat_after_failed_probe").await;
    assert_eq!(reopened.status(), 503);
    assert_eq!(
        retry_after_secs(&reopened),
        2,
        "a failed probe doubles the open period (1 s to 2 s)"
    );
    assert_eq!(auth.calls(), 4, "open again: no call");

    // The auth-server recovers: the next probe succeeds and closes the breaker.
    auth.set_behaviour(AuthBehaviour::Answer);
    for i in 0..BURST * MAX_BURSTS {
        auth.issue(&format!("oat_recovered_{i}"), "read", HOUR);
    }
    let statuses = burst_until_a_call_goes_through(&gateway, &auth, "oat_recovered").await;
    assert_eq!(auth.calls(), 5, "one probe in the whole burst");
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "only the probe passes: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 503).count(),
        BURST - 1,
        "the others are refused at once: {statuses:?}"
    );

    // Closed: every new token costs one introspection and passes.
    for i in 0..5 {
        let token = format!("oat_closed_{i}");
        auth.issue(&token, "read", HOUR);
        assert_eq!(gateway.get_with_token("/api/x", &token).await.status(), 200);
        assert_eq!(gateway.get_with_token("/api/x", &token).await.status(), 200);
    }
    assert_eq!(auth.calls(), 10);
}

#[tokio::test]
async fn refusals_of_the_gateway_credentials_and_inactive_tokens_do_not_open_the_breaker() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 2;
    settings.introspection.breaker.consecutive_failures = 3;
    settings.introspection.breaker.open_ms = 60_000;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.issue("oat_good_1", "read", HOUR);
    auth.issue("oat_good_2", "read", HOUR);

    for status in [401, 400] {
        auth.set_behaviour(AuthBehaviour::Status(status));
        for i in 0..5 {
            let response = gateway
                .get_with_token("/api/x", &format!("oat_refused_{status}_{i}"))
                .await;
            assert_eq!(response.status(), 503);
        }
    }
    assert_eq!(auth.calls(), 10, "no retries of a refusal");
    auth.set_behaviour(AuthBehaviour::Answer);
    assert_eq!(
        gateway.get_with_token("/api/x", "oat_good_1").await.status(),
        200,
        "the breaker is still closed"
    );
    assert_eq!(auth.calls(), 11);

    for i in 0..10 {
        let response = gateway
            .get_with_token("/api/x", &format!("oat_inactive_{i}"))
            .await;
        assert_eq!(response.status(), 401);
    }
    assert_eq!(auth.calls(), 21);
    assert_eq!(gateway.get_with_token("/api/x", "oat_good_2").await.status(), 200);
    assert_eq!(auth.calls(), 22);
}

const BURST: usize = 20;
const MAX_BURSTS: usize = 200;

/// Sends bursts of `BURST` concurrent requests with fresh tokens (`{prefix}_{n}`) until one of
/// them reaches the auth-server, within a bound, and returns that burst's statuses. The auth-server
/// holds every call until each request of the burst is either answered or waiting there, so a
/// probe is still in flight while the rest of its burst arrives. Bursts refused by the open
/// breaker must cost no call, and every 503 must carry `Retry-After`.
async fn burst_until_a_call_goes_through(gateway: &TestGateway, auth: &FakeAuth, prefix: &str) -> Vec<u16> {
    let give_up = Instant::now() + Duration::from_secs(15);
    for round in 0..MAX_BURSTS {
        let calls_before = auth.calls();
        let tokens: Vec<String> = (0..BURST)
            .map(|i| format!("{prefix}_{}", round * BURST + i))
            .collect();
        auth.hold();
        let requests: Vec<_> = tokens
            .iter()
            .map(|token| tokio::spawn(gateway.http.get(gateway.url("/api/x")).bearer_auth(token).send()))
            .collect();
        // Polling with a bound: every request answered, or held at the auth-server.
        while requests.iter().filter(|request| request.is_finished()).count() + (auth.calls() - calls_before)
            < BURST
        {
            assert!(Instant::now() < give_up, "the burst did not settle within 15 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reached = auth.calls() - calls_before;
        auth.release();
        let mut statuses = Vec::new();
        for request in requests {
            let response = request.await.unwrap().unwrap();
            if response.status() == 503 {
                assert_retry_after(&response);
            }
            statuses.push(response.status().as_u16());
        }
        if reached > 0 {
            assert_eq!(
                reached, 1,
                "half-open lets one probe through at a time; statuses {statuses:?}"
            );
            assert_eq!(auth.calls() - calls_before, 1, "no call after the probe's answer");
            return statuses;
        }
        assert!(statuses.iter().all(|status| *status == 503), "{statuses:?}");
        assert!(Instant::now() < give_up, "the breaker stayed open for 15 s");
        // A polling interval, not a synchronisation: the loop ends on what it observes.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no call went through in {MAX_BURSTS} bursts");
}
