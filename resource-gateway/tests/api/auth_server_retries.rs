//! The gateway against an auth-server that hangs or fails: per-attempt timeouts, the deadline,
//! bounded jittered retries and the retry budget (with the breaker out of the way).

use std::time::{Duration, Instant};

use resource_gateway::configuration::Settings;
use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);

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

#[tokio::test]
async fn a_failing_auth_server_gets_exactly_one_call_plus_max_retries_and_the_answer_is_503_with_retry_after()
{
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 2;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Status(503));

    let response = gateway.get_with_token("/api/x", "oat_any").await;

    assert_eq!(response.status(), 503);
    assert_retry_after(&response);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    assert_eq!(auth.calls(), 3, "one attempt and max_retries = 2 retries");
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn one_transient_failure_then_an_answer_costs_exactly_two_calls_and_the_request_passes() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);
    auth.fail_next(1, 503);

    let response = gateway.get_with_token("/api/x", "oat_good").await;

    assert_eq!(response.status(), 200);
    assert_eq!(auth.calls(), 2);
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn an_auth_server_refusing_the_gateway_credentials_gets_one_call_and_the_answer_is_503_not_401() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 2;
    settings.introspection.client_secret = SecretString::from("not-the-gateway-secret".to_owned());
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.issue("oat_good", "read", HOUR);

    let response = gateway.get_with_token("/api/x", "oat_good").await;

    assert_eq!(
        response.status(),
        503,
        "a configuration problem of the gateway is not the token's fault"
    );
    assert_retry_after(&response);
    assert_eq!(
        auth.calls(),
        1,
        "a 401 to the gateway's own credentials is not retried"
    );
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn retries_against_a_failing_auth_server_are_jittered_so_callers_failing_together_retry_apart() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.backoff.jitter = true;
    settings.introspection.backoff.base_ms = 50;
    settings.introspection.backoff.max_ms = 400;
    settings.introspection.max_retries = 2;
    settings.introspection.attempt_timeout_ms = 2_000;
    settings.introspection.deadline_ms = 10_000;
    lift_retry_budget(&mut settings);
    disable_auth_breaker(&mut settings);
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Status(503));

    let tokens: Vec<String> = (0..20).map(|i| format!("oat_jitter_{i}")).collect();
    let responses =
        futures_util::future::join_all(tokens.iter().map(|token| gateway.get_with_token("/api/x", token)))
            .await;

    assert!(responses.iter().all(|response| response.status() == 503));
    let calls = auth.call_times_by_token();
    let mut first_gaps = Vec::new();
    let mut second_gaps = Vec::new();
    for token in &tokens {
        let times = &calls[token];
        assert_eq!(times.len(), 3, "{token}: one attempt and two retries");
        first_gaps.push(times[1] - times[0]);
        second_gaps.push(times[2] - times[1]);
    }
    // Without jitter each retry waits its full bound (50 ms, then 100 ms) after the failed answer,
    // so every gap between two arrivals of one token at the auth-server is longer than the bound:
    // the assertions below cannot pass. With full jitter each wait is uniform in [0, bound]; even
    // with 20 ms of scheduling noise on every call, all 20 gaps reach the bound with a probability
    // of 0.4^20 (about 1e-8).
    let shortest_first = first_gaps.iter().min().unwrap();
    let shortest_second = second_gaps.iter().min().unwrap();
    assert!(
        *shortest_first < Duration::from_millis(50),
        "first retries all waited the full 50 ms: {first_gaps:?}"
    );
    assert!(
        *shortest_second < Duration::from_millis(100),
        "second retries all waited the full 100 ms: {second_gaps:?}"
    );
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn under_a_total_auth_server_outage_the_retry_budget_keeps_calls_within_a_fifth_above_the_requests() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 3;
    settings.introspection.retry_budget.percent = 20;
    settings.introspection.retry_budget.min_per_second = 0;
    // The whole test fits in one window, so the budget is exactly 20% of the requests.
    settings.introspection.retry_budget.window_secs = 300;
    disable_auth_breaker(&mut settings);
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Status(503));
    let requests = 50;

    for i in 0..requests {
        let response = gateway.get_with_token("/api/x", &format!("oat_outage_{i}")).await;
        assert_eq!(response.status(), 503);
    }

    let calls = auth.calls();
    // Unbudgeted, the outage would cost 4 calls per request (200).
    assert!(
        calls <= requests + requests / 5,
        "{calls} calls for {requests} requests"
    );
    assert!(calls > requests, "the budget allows some retries: {calls} calls");
    assert_eq!(upstream.calls(), 0);
}

/// Turns the auth-server breaker off in effect, for tests about retries alone.
fn disable_auth_breaker(settings: &mut Settings) {
    settings.introspection.breaker.consecutive_failures = u32::MAX;
}

/// Lets every retry through, for tests about retry timing alone.
fn lift_retry_budget(settings: &mut Settings) {
    settings.introspection.retry_budget.percent = 1_000;
    settings.introspection.retry_budget.min_per_second = 1_000;
}
