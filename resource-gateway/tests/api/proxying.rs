//! What reaches the upstream: the trusted identity (and never a spoofed one), routing, retries,
//! bodies, rate limits and route reloads.

use std::time::Duration;

use serde_json::Value;
use shared::identity::{IdentitySettings, IdentityVerifier};

use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_valid_token_reaches_the_upstream_with_a_trusted_identity_and_no_spoofed_one() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read write", HOUR);

    let response = gateway
        .http
        .get(gateway.url("/api/orders?page=2"))
        .bearer_auth("oat_good")
        .header("x-auth-subject", "admin")
        .header("X-Auth-Scopes", "everything")
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let seen = upstream.seen().pop().unwrap();
    assert_eq!(seen.path, "/api/orders?page=2");
    assert_eq!(seen.headers["x-auth-subject"], "user-42");
    assert_eq!(seen.headers["x-auth-client-id"], "app-1");
    assert_eq!(seen.headers["x-auth-scopes"], "read write");
    assert_eq!(seen.headers["x-auth-username"], "alice");
    assert_eq!(seen.headers["x-request-id"], "trace-123");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert!(seen.headers.contains_key("x-auth-identity"));
    assert!(
        !seen.headers.contains_key("authorization"),
        "the bearer token stays at the gateway"
    );
}

#[tokio::test]
async fn a_public_route_needs_no_token_and_still_strips_spoofed_identity() {
    let (gateway, auth, upstream) = standard().await;

    let response = gateway
        .http
        .get(gateway.url("/status"))
        .header("x-auth-subject", "admin")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(auth.calls(), 0);
    assert!(!upstream.seen()[0].headers.contains_key("x-auth-subject"));
}

#[tokio::test]
async fn unknown_paths_are_404_and_unrouted_methods_405_in_json() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let routes = routes_for(
        &upstream,
        "[[routes]]\nname = \"ro\"\npath_prefix = \"/ro\"\nmethods = [\"GET\"]\n\
         upstreams = [\"{upstream}\"]\n",
    );
    let gateway = spawn_gateway(test_settings(&auth), &routes).await;

    let missing = gateway.http.get(gateway.url("/nowhere")).send().await.unwrap();
    let wrong_method = gateway.http.delete(gateway.url("/ro/1")).send().await.unwrap();

    assert_eq!(missing.status(), 404);
    assert!(missing.json::<Value>().await.unwrap()["request_id"].is_string());
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.headers()["allow"], "GET");
}

#[tokio::test]
async fn a_failing_upstream_is_retried_for_get_but_never_for_post() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read write", HOUR);
    upstream.set_status(503);

    let get = gateway.get_with_token("/api/x", "oat_good").await;
    let calls_after_get = upstream.calls();
    let post = gateway
        .http
        .post(gateway.url("/api/x"))
        .bearer_auth("oat_good")
        .body("payload")
        .send()
        .await
        .unwrap();

    assert_eq!(get.status(), 503);
    assert_eq!(calls_after_get, 2, "GET: one retry (upstream.max_retries = 1)");
    assert_eq!(post.status(), 503);
    assert_eq!(upstream.calls() - calls_after_get, 1, "POST is never retried");
}

#[tokio::test]
async fn large_request_bodies_reach_the_upstream_intact() {
    let (gateway, auth, _upstream) = standard().await;
    auth.issue("oat_good", "read write", HOUR);
    let body = vec![b'x'; 5 * 1024 * 1024];

    let response = gateway
        .http
        .post(gateway.url("/api/upload"))
        .bearer_auth("oat_good")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["body_len"],
        5 * 1024 * 1024
    );
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let routes = routes_for(
        &upstream,
        "[[routes]]\nname = \"limited\"\npath_prefix = \"/api\"\nupstreams = [\"{upstream}\"]\n\
         rate_limit = { per_second = 1, burst = 2 }\n",
    );
    let gateway = spawn_gateway(test_settings(&auth), &routes).await;
    auth.issue("oat_good", "read", HOUR);

    let statuses: Vec<u16> =
        futures_util::future::join_all((0..3).map(|_| gateway.get_with_token("/api/x", "oat_good")))
            .await
            .iter()
            .map(|response| response.status().as_u16())
            .collect();
    let limited = gateway.get_with_token("/api/x", "oat_good").await;

    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test]
async fn routes_reload_from_the_file_and_a_bad_file_keeps_the_old_ones() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);
    assert_eq!(gateway.get_with_token("/v2/x", "oat_good").await.status(), 404);

    std::fs::write(
        &gateway.routes_file,
        routes_for(
            &upstream,
            "[[routes]]\nname = \"v2\"\npath_prefix = \"/v2\"\nupstreams = [\"{upstream}\"]\n",
        ),
    )
    .unwrap();
    assert_eq!(gateway.reloader.reload().unwrap(), 1);
    assert_eq!(gateway.get_with_token("/v2/x", "oat_good").await.status(), 200);

    std::fs::write(&gateway.routes_file, "[[routes]]\nname = \"broken\"\n").unwrap();
    let error = gateway.reloader.reload().unwrap_err().to_string();
    assert!(error.contains("missing field"), "{error}");
    assert_eq!(
        gateway.get_with_token("/v2/x", "oat_good").await.status(),
        200,
        "the old routes stay"
    );
}

#[tokio::test]
async fn the_identity_token_is_verified_by_the_shared_extractor_against_the_gateway_jwks() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read write", HOUR);
    gateway.get_with_token("/api/x", "oat_good").await;
    let identity = upstream.seen()[0].headers["x-auth-identity"].clone();

    let verifier = IdentityVerifier::new(&IdentitySettings {
        jwks_url: gateway.url("/.well-known/jwks.json"),
        issuer: "resource-gateway".into(),
        audience: "upstreams".into(),
        jwks_refresh_secs: 10,
        jwks_max_age_secs: 300,
        jwks_timeout_ms: 1000,
        leeway_secs: 5,
    })
    .unwrap();
    let claims = verifier
        .verify(&identity)
        .await
        .expect("the gateway's identity token verifies");

    assert_eq!(claims.sub, "user-42");
    assert_eq!(claims.client_id, "app-1");
    assert_eq!(claims.scope, "read write");
    assert_eq!(claims.username.as_deref(), Some("alice"));
}

#[tokio::test]
async fn sighup_reloads_the_routes_file() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);
    std::fs::write(
        &gateway.routes_file,
        routes_for(
            &upstream,
            "[[routes]]\nname = \"v3\"\npath_prefix = \"/v3\"\nupstreams = [\"{upstream}\"]\n",
        ),
    )
    .unwrap();

    // The test runs in its own process (nextest), so the signal reaches only this gateway.
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gateway.get_with_token("/v3/x", "oat_good").await.status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the routes were not reloaded within 10 s of SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        gateway.get_with_token("/api/x", "oat_good").await.status(),
        404,
        "the old table is gone"
    );
}

/// Sends `GET {path}` as written (an HTTP client would resolve dot segments before sending) and
/// returns the status code.
async fn raw_get(gateway: &TestGateway, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = gateway.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

#[tokio::test]
async fn a_path_that_would_climb_out_of_its_route_is_refused_before_it_is_routed() {
    let (gateway, auth, upstream) = standard().await;

    // `/status` is public, `/api` needs a token, and both go to the same upstream: resolved
    // after routing, each of these would reach `/api/...` with no token checked.
    for path in [
        "/status/../api/orders",
        "/status/%2e%2e/api/orders",
        "/status/.%2E/api/orders",
        "/status/./../api/orders",
        "/status\\..\\api\\orders",
    ] {
        assert_eq!(raw_get(&gateway, path).await, 400, "{path}");
    }

    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    assert_eq!(auth.calls(), 0);
    assert_eq!(
        raw_get(&gateway, "/status/health.json").await,
        200,
        "dots inside names are fine"
    );
}
