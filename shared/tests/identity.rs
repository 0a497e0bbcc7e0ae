//! The upstream side of the gateway's signed identity, over real HTTP: a fake gateway serving a JWKS
//! (counting its hits) and an upstream app whose handler takes `GatewayIdentity` and requires a scope.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod identity_fixtures;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::identity::{IdentityClaims, IdentitySettings};

use identity_fixtures::{
    FakeGateway, GatewayKey, INVALID_TOKEN_CHALLENGE, Upstream, assert_unauthorized, claims, now,
    with_segment,
};

#[tokio::test]
async fn a_valid_identity_passes_and_its_claims_reach_the_handler() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let claims = claims();

    let response = upstream.get_orders(Some(&key.sign(&claims))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<IdentityClaims>().await.unwrap(), claims);
    assert_eq!(gateway.hits(), 1);
}

#[tokio::test]
async fn a_request_without_the_identity_header_is_a_401_carrying_the_request_id() {
    let gateway = FakeGateway::start(&[&GatewayKey::generate("gw-1")]);
    let upstream = Upstream::start(gateway.settings());

    let response = upstream.get_orders(None).await;

    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], INVALID_TOKEN_CHALLENGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(gateway.hits(), 0, "nothing to verify, nothing fetched");
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_published_kid_is_rejected() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let impostor = GatewayKey::generate("gw-1");

    let message = assert_unauthorized(upstream.get_orders(Some(&impostor.sign(&claims()))).await).await;

    assert!(message.contains("signature"), "{message}");
}

#[tokio::test]
async fn a_token_whose_claims_were_altered_after_signing_is_rejected() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let mut escalated = serde_json::to_value(claims()).unwrap();
    escalated["scope"] = json!("orders:read admin");

    let tampered = with_segment(&key.sign(&claims()), 1, &escalated);

    let message = assert_unauthorized(upstream.get_orders(Some(&tampered)).await).await;
    assert!(message.contains("signature"), "{message}");
}

#[tokio::test]
async fn an_expired_token_is_rejected_but_one_expired_within_the_leeway_passes() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let expired = IdentityClaims {
        iat: now() - 120,
        exp: now() - 60,
        ..claims()
    };
    let just_expired = IdentityClaims {
        iat: now() - 60,
        exp: now() - 5,
        ..claims()
    };

    let message = assert_unauthorized(upstream.get_orders(Some(&key.sign(&expired))).await).await;

    assert!(message.contains("expired"), "{message}");
    assert_eq!(
        upstream.get_orders(Some(&key.sign(&just_expired))).await.status(),
        200
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_rejected() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let for_billing = IdentityClaims {
        aud: "billing".into(),
        ..claims()
    };

    let message = assert_unauthorized(upstream.get_orders(Some(&key.sign(&for_billing))).await).await;

    assert!(message.contains("audience"), "{message}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_rejected() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let elsewhere = IdentityClaims {
        iss: "https://evil.test".into(),
        ..claims()
    };

    let message = assert_unauthorized(upstream.get_orders(Some(&key.sign(&elsewhere))).await).await;

    assert!(message.contains("issued by someone else"), "{message}");
}

#[tokio::test]
async fn forged_tokens_with_alg_none_or_hs256_are_rejected_without_fetching_keys() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"gw-1"}"#);
    let unsigned = format!("{header}.{payload}.");
    // The classic confusion: HMAC keyed with the public key the JWKS publishes.
    let public_key = serde_json::to_value(&key.jwk).unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("gw-1".into());
    let confused = jsonwebtoken::encode(
        &hs256,
        &claims(),
        &EncodingKey::from_secret(public_key.as_bytes()).unwrap(),
    )
    .unwrap();
    let signed_header = with_segment(&key.sign(&claims()), 0, &json!({"alg": "HS256", "kid": "gw-1"}));

    for forged in [&unsigned, &confused, &signed_header] {
        assert_unauthorized(upstream.get_orders(Some(forged)).await).await;
    }
    assert_eq!(gateway.hits(), 0);
}

#[tokio::test]
async fn a_missing_scope_is_a_403_naming_it() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let profile_only = IdentityClaims {
        scope: "profile".into(),
        ..claims()
    };

    let response = upstream.get_orders(Some(&key.sign(&profile_only))).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"upstream\", error=\"insufficient_scope\", scope=\"orders:read\""
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert!(
        body["message"].as_str().unwrap().contains("orders:read"),
        "{body}"
    );
}

#[tokio::test]
async fn a_rotated_key_costs_one_refetch_however_many_requests_bring_it() {
    let old_key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&old_key]);
    let upstream = Upstream::start(IdentitySettings {
        jwks_refresh_secs: 0,
        ..gateway.settings()
    });
    assert_eq!(
        upstream.get_orders(Some(&old_key.sign(&claims()))).await.status(),
        200
    );
    let new_key = GatewayKey::generate("gw-2");
    gateway.publish(&new_key);

    let token = new_key.sign(&claims());
    let responses = futures_util::future::join_all((0..20).map(|_| upstream.get_orders(Some(&token)))).await;

    assert!(responses.iter().all(|response| response.status() == 200));
    assert_eq!(gateway.hits(), 2, "one fetch at start, one for the new kid");
    assert_eq!(
        upstream.get_orders(Some(&old_key.sign(&claims()))).await.status(),
        200
    );
    assert_eq!(gateway.hits(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch_per_refresh_interval() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    let tokens: Vec<String> = (0..50)
        .map(|n| key.sign_as(&format!("made-up-{n}"), &claims()))
        .collect();

    let responses =
        futures_util::future::join_all(tokens.iter().map(|token| upstream.get_orders(Some(token)))).await;

    assert!(responses.iter().all(|response| response.status() == 401));
    assert_eq!(gateway.hits(), 1);
    assert_eq!(
        upstream.get_orders(Some(&key.sign(&claims()))).await.status(),
        200
    );
    assert_eq!(
        gateway.hits(),
        1,
        "the fetch the flood caused serves the real key"
    );
}

#[tokio::test]
async fn a_key_the_gateway_withdrew_is_refused_once_the_cache_is_stale() {
    let old_key = GatewayKey::generate("gw-1");
    let new_key = GatewayKey::generate("gw-2");
    let gateway = FakeGateway::start(&[&old_key, &new_key]);
    let upstream = Upstream::start(IdentitySettings {
        jwks_refresh_secs: 0,
        jwks_max_age_secs: 0,
        ..gateway.settings()
    });
    assert_eq!(
        upstream.get_orders(Some(&old_key.sign(&claims()))).await.status(),
        200
    );

    gateway.withdraw(&old_key.kid);

    let message = assert_unauthorized(upstream.get_orders(Some(&old_key.sign(&claims()))).await).await;
    assert!(message.contains("not published"), "{message}");
    assert_eq!(
        upstream.get_orders(Some(&new_key.sign(&claims()))).await.status(),
        200
    );
}

#[tokio::test]
async fn a_cached_key_keeps_working_while_the_jwks_is_unreachable() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    // Stale at once and free to refetch: every request tries the JWKS, and every try fails.
    let upstream = Upstream::start(IdentitySettings {
        jwks_refresh_secs: 0,
        jwks_max_age_secs: 0,
        ..gateway.settings()
    });
    assert_eq!(
        upstream.get_orders(Some(&key.sign(&claims()))).await.status(),
        200
    );

    gateway.go_down().await;

    for _ in 0..3 {
        assert_eq!(
            upstream.get_orders(Some(&key.sign(&claims()))).await.status(),
            200
        );
    }
}

#[tokio::test]
async fn an_unknown_key_while_the_jwks_is_unreachable_is_a_503_with_retry_after() {
    let key = GatewayKey::generate("gw-1");
    let gateway = FakeGateway::start(&[&key]);
    let upstream = Upstream::start(gateway.settings());
    gateway.go_down().await;

    for attempt in ["fetch fails", "failure remembered"] {
        let response = upstream.get_orders(Some(&key.sign(&claims()))).await;

        assert_eq!(response.status(), 503, "{attempt}");
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry_after), "{attempt}: {retry_after}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{attempt}");
    }
}
