//! A route with several upstreams keeps answering while one of them is down: a retried GET goes to
//! another upstream, and an upstream whose breaker is open is skipped (for any request: nothing was
//! sent to it) rather than answered with 503 while a healthy one exists.

use std::net::TcpListener;
use std::time::Duration;

use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);

/// An address nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

fn two_upstreams(first: &str, second: &str) -> String {
    format!(
        "[[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstreams = [\"{first}\", \"{second}\"]\n\
         scopes = {{ all_of = [\"read\"] }}\n"
    )
}

#[tokio::test]
async fn a_get_retried_after_a_failing_upstream_goes_to_the_other_one() {
    let auth = FakeAuth::start().await;
    let (healthy, failing) = (FakeUpstream::start().await, FakeUpstream::start().await);
    failing.set_status(503);
    let mut settings = test_settings(&auth);
    settings.upstream.max_retries = 1;
    settings.upstream.breaker.consecutive_failures = 100;
    let gateway = spawn_gateway(settings, &two_upstreams(&healthy.base, &failing.base)).await;
    auth.issue("oat_good", "read", HOUR);

    // Round robin: one of each pair starts on the failing upstream and must be retried elsewhere.
    for _ in 0..4 {
        let response = gateway.get_with_token("/api/x", "oat_good").await;
        assert_eq!(response.status(), 200);
    }

    assert_eq!(healthy.calls(), 4);
    assert_eq!(failing.calls(), 2, "every second request tried it first, once");
}

#[tokio::test]
async fn an_upstream_whose_breaker_is_open_is_skipped_while_a_healthy_one_answers() {
    let auth = FakeAuth::start().await;
    let healthy = FakeUpstream::start().await;
    let mut settings = test_settings(&auth);
    settings.upstream.max_retries = 1;
    settings.upstream.breaker.consecutive_failures = 1;
    settings.upstream.breaker.open_ms = 60_000;
    settings.upstream.breaker.max_open_ms = 60_000;
    let gateway = spawn_gateway(settings, &two_upstreams(&closed_port(), &healthy.base)).await;
    auth.issue("oat_good", "read", HOUR);
    auth.issue("oat_writer", "read write", HOUR);

    // The first request tries the dead upstream (its breaker opens) and is retried on the other.
    for _ in 0..20 {
        let response = gateway.get_with_token("/api/x", "oat_good").await;
        assert_eq!(response.status(), 200);
    }
    // A request with a body is never sent twice, but one that no breaker let through was not sent.
    for _ in 0..2 {
        let posted = gateway
            .http
            .post(gateway.url("/api/orders"))
            .bearer_auth("oat_writer")
            .body("{\"item\": 1}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 200);
    }

    assert_eq!(healthy.calls(), 22);
    let posts: Vec<usize> = healthy
        .seen()
        .iter()
        .filter(|seen| seen.method == "POST")
        .map(|seen| seen.body_len)
        .collect();
    assert_eq!(posts, [11, 11], "each POST arrived whole");
}

#[tokio::test]
async fn when_every_upstream_breaker_is_open_the_answer_is_503_with_retry_after() {
    let auth = FakeAuth::start().await;
    let mut settings = test_settings(&auth);
    settings.upstream.max_retries = 1;
    settings.upstream.breaker.consecutive_failures = 1;
    settings.upstream.breaker.open_ms = 60_000;
    settings.upstream.breaker.max_open_ms = 60_000;
    let gateway = spawn_gateway(settings, &two_upstreams(&closed_port(), &closed_port())).await;
    auth.issue("oat_good", "read", HOUR);

    let first = gateway.get_with_token("/api/x", "oat_good").await;
    let then = gateway.get_with_token("/api/x", "oat_good").await;

    assert_eq!(first.status(), 502, "both tried, both unreachable");
    assert_eq!(then.status(), 503);
    assert_retry_after(&then);
}
