//! Bearer tokens at the gateway: how they are read, checked through the cache in front of
//! introspection, and what scopes they must carry. A refused request never reaches the upstream.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_missing_token_is_401_with_a_bare_challenge_and_never_reaches_the_upstream() {
    let (gateway, _auth, upstream) = standard().await;

    let response = gateway.http.get(gateway.url("/api/orders")).send().await.unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"api\"");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_token");
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);

    let response = gateway
        .http
        .get(gateway.url("/api/orders?access_token=oat_good"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(upstream.calls(), 0);
    assert_eq!(auth.calls(), 0);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_malformed_values_are_invalid_request() {
    let (gateway, auth, _upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);
    let with_header = |value: &'static str| {
        gateway
            .http
            .get(gateway.url("/api/x"))
            .header("authorization", value)
            .send()
    };

    assert_eq!(with_header("bearer oat_good").await.unwrap().status(), 200);
    assert_eq!(with_header("BEARER oat_good").await.unwrap().status(), 200);
    let malformed = with_header("Bearer two tokens").await.unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(
        malformed.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_request\"")
    );
}

#[tokio::test]
async fn an_inactive_token_is_401_invalid_token_and_never_reaches_the_upstream() {
    let (gateway, _auth, upstream) = standard().await;

    let response = gateway.get_with_token("/api/orders", "oat_unknown").await;

    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn a_refresh_token_is_not_a_bearer_token_even_when_active() {
    let (gateway, auth, upstream) = standard().await;
    auth.answer(
        "ort_refresh",
        serde_json::json!({
            "active": true, "scope": "read", "client_id": "app-1", "sub": "u",
            "token_use": "refresh_token", "exp": unix_now() + 3600
        }),
    );

    assert_eq!(
        gateway
            .get_with_token("/api/orders", "ort_refresh")
            .await
            .status(),
        401
    );
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn a_missing_scope_is_403_naming_the_scope_and_scopes_depend_on_the_method() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_reader", "read", HOUR);

    let read = gateway.get_with_token("/api/orders", "oat_reader").await;
    let write = gateway
        .http
        .post(gateway.url("/api/orders"))
        .bearer_auth("oat_reader")
        .body("{}")
        .send()
        .await
        .unwrap();

    assert_eq!(read.status(), 200);
    assert_eq!(write.status(), 403);
    assert_eq!(
        write.headers()["www-authenticate"],
        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"write\""
    );
    assert_eq!(
        write.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );
    assert_eq!(upstream.calls(), 1, "only the allowed request went through");
    assert_eq!(auth.calls(), 1, "the scope check used the cached introspection");
}

#[tokio::test]
async fn many_requests_with_one_token_cost_one_introspection() {
    let (gateway, auth, _upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);

    for _ in 0..20 {
        assert_eq!(gateway.get_with_token("/api/x", "oat_good").await.status(), 200);
    }

    assert_eq!(auth.calls(), 1);
}

#[tokio::test]
async fn inactive_answers_are_cached_briefly() {
    let (gateway, auth, _upstream) = standard().await;

    for _ in 0..20 {
        assert_eq!(
            gateway.get_with_token("/api/x", "oat_garbage").await.status(),
            401
        );
    }

    assert_eq!(auth.calls(), 1);
}

#[tokio::test]
async fn a_hundred_concurrent_first_requests_with_one_token_cause_one_introspection() {
    let (gateway, auth, upstream) = standard().await;
    auth.issue("oat_good", "read", HOUR);
    // Slow enough that all hundred arrive while the first introspection is in flight (and under
    // the 300 ms attempt timeout).
    auth.set_delay(Duration::from_millis(150));

    let requests = (0..100).map(|_| gateway.get_with_token("/api/x", "oat_good"));
    let responses = futures_util::future::join_all(requests).await;

    assert!(responses.iter().all(|response| response.status() == 200));
    assert_eq!(auth.calls(), 1);
    assert_eq!(upstream.calls(), 100);
}

#[tokio::test]
async fn a_cached_token_stops_passing_when_it_expires() {
    let (gateway, auth, _upstream) = standard().await;
    auth.issue("oat_short", "read", Duration::from_secs(2));
    assert_eq!(gateway.get_with_token("/api/x", "oat_short").await.status(), 200);

    // The entry lives at most until `exp` (whole seconds); poll with a generous bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = gateway.get_with_token("/api/x", "oat_short").await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "still accepted 10 s after a 2 s token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_the_auth_server_down_the_answer_is_503_with_retry_after_never_401() {
    let (gateway, auth, upstream) = standard().await;
    auth.set_behaviour(AuthBehaviour::Status(500));

    let response = gateway.get_with_token("/api/x", "oat_any").await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(upstream.calls(), 0);
}
