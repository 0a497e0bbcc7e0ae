//! The gateway against upstreams that are down, slow or failing, and what `/metrics` shows.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn an_upstream_with_a_closed_port_gives_a_quick_502_in_json() {
    let auth = FakeAuth::start().await;
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    let routes = format!("[[routes]]\nname = \"down\"\npath_prefix = \"/api\"\nupstreams = [\"{closed}\"]\n");
    let gateway = spawn_gateway(test_settings(&auth), &routes).await;
    auth.issue("oat_good", "read", HOUR);

    let started = Instant::now();
    let response = gateway.get_with_token("/api/x", "oat_good").await;
    let elapsed = started.elapsed();

    assert_eq!(response.status(), 502);
    // Generous: a refused connection is answered in milliseconds; the bound only proves no hang.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_gateway");
}

#[tokio::test]
async fn an_upstream_slower_than_the_route_timeout_gives_504_in_json_within_a_bounded_time() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let routes = routes_for(
        &upstream,
        "[[routes]]\nname = \"slow\"\npath_prefix = \"/api\"\nupstreams = [\"{upstream}\"]\n\
         timeout_ms = 300\n",
    );
    let gateway = spawn_gateway(test_settings(&auth), &routes).await;
    auth.issue("oat_good", "read", HOUR);
    upstream.set_delay(Duration::from_secs(120));

    let started = Instant::now();
    let response = gateway.get_with_token("/api/x", "oat_good").await;
    let elapsed = started.elapsed();

    assert_eq!(response.status(), 504);
    // Generous: two attempts of 300 ms; without the route timeout it would take 120 s.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "gateway_timeout"
    );
    assert!(
        (1..=2).contains(&upstream.calls()),
        "at most one retry of a GET: {}",
        upstream.calls()
    );
}

#[tokio::test]
async fn an_upstream_breaker_opened_by_repeated_503s_answers_503_with_retry_after_without_calling_it() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.upstream.max_retries = 0;
    settings.upstream.breaker.consecutive_failures = 3;
    settings.upstream.breaker.open_ms = 60_000;
    settings.upstream.breaker.max_open_ms = 60_000;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.issue("oat_good", "read", HOUR);
    upstream.set_status(503);
    for _ in 0..3 {
        let relayed = gateway.get_with_token("/api/x", "oat_good").await;
        assert_eq!(relayed.status(), 503);
    }
    assert_eq!(upstream.calls(), 3);

    for _ in 0..10 {
        let response = gateway.get_with_token("/api/x", "oat_good").await;
        assert_eq!(response.status(), 503);
        let retry_after = retry_after_secs(&response);
        assert!((50..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "temporarily_unavailable"
        );
    }
    assert_eq!(upstream.calls(), 3, "the open breaker does not call the upstream");
}

#[tokio::test]
async fn metrics_show_cache_lookups_and_misses_introspection_outcomes_and_upstream_latency() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 0;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.issue("oat_good", "read", HOUR);
    for _ in 0..3 {
        assert_eq!(gateway.get_with_token("/api/x", "oat_good").await.status(), 200);
    }
    assert_eq!(
        gateway.get_with_token("/api/x", "oat_unknown").await.status(),
        401
    );
    auth.set_behaviour(AuthBehaviour::Status(503));
    assert_eq!(
        gateway.get_with_token("/api/x", "oat_failing").await.status(),
        503
    );

    let metrics = gateway.metrics().await;

    assert!(
        metric_value(&metrics, "gateway_token_cache_lookups_total") >= 5.0,
        "{metrics}"
    );
    assert!(
        metric_value(&metrics, "gateway_token_cache_misses_total") >= 3.0,
        "{metrics}"
    );
    for outcome in ["active", "inactive", "unavailable"] {
        let series = format!("gateway_introspections_total{{outcome=\"{outcome}\"}}");
        assert!(metric_value(&metrics, &series) >= 1.0, "{series} in {metrics}");
    }
    assert!(
        metric_value(
            &metrics,
            "gateway_upstream_duration_seconds_count{route=\"api\",status=\"200\"}"
        ) >= 3.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn the_auth_server_breaker_state_is_exported_while_it_is_closed() {
    let (gateway, auth, _upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);
    assert_eq!(gateway.get_with_token("/api/x", "oat_good").await.status(), 200);

    let metrics = gateway.metrics().await;

    // A gauge that appears only after the first transition leaves a healthy gateway without the
    // series, so a dashboard or an alert on it sees no data instead of "closed".
    assert!(
        has_series(&metrics, "circuit_breaker_state{breaker=\"auth-server\"}"),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "circuit_breaker_state{breaker=\"auth-server\"}"),
        0.0
    );
}

#[tokio::test]
async fn an_open_auth_server_breaker_shows_in_the_metrics() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.introspection.max_retries = 0;
    settings.introspection.breaker.consecutive_failures = 3;
    settings.introspection.breaker.open_ms = 60_000;
    let gateway = spawn_gateway(settings, &routes_for(&upstream, API_ROUTE)).await;
    auth.set_behaviour(AuthBehaviour::Status(503));
    for i in 0..4 {
        gateway.get_with_token("/api/x", &format!("oat_fail_{i}")).await;
    }

    let metrics = gateway.metrics().await;

    assert_eq!(
        metric_value(&metrics, "circuit_breaker_state{breaker=\"auth-server\"}"),
        1.0,
        "{metrics}"
    );
    assert!(
        metric_value(&metrics, "gateway_introspections_total{outcome=\"breaker_open\"}") >= 1.0,
        "{metrics}"
    );
}
