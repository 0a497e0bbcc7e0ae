//! `POST /oauth2/introspect` (RFC 7662): only registered resource servers may ask; an inactive token,
//! whatever the reason, is exactly `{"active":false}`; an active one says what it is and whose.

use serde_json::{Value, json};

use crate::helpers::*;

fn inactive() -> Value {
    json!({"active": false})
}

async fn introspect_with_hint(app: &TestApp, introspector: &TestClient, token: &str, hint: &str) -> Value {
    let response = app
        .post_as_client(
            introspector,
            "/oauth2/introspect",
            &[("token", token), ("token_type_hint", hint)],
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON introspection response")
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn introspection_without_valid_client_credentials_is_401_and_reveals_nothing() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    let without_credentials = app
        .post_form("/oauth2/introspect", &[("token", &issued.access_token)], None)
        .await;
    let wrong_secret = app
        .post_form(
            "/oauth2/introspect",
            &[("token", &issued.access_token)],
            Some((&introspector.id, "ocs_wrong")),
        )
        .await;

    for response in [without_credentials, wrong_secret] {
        assert!(response.headers().contains_key("www-authenticate"));
        let body = assert_oauth_error(response, 401, "invalid_client").await;
        assert!(body.get("active").is_none(), "{body}");
    }
}

#[tokio::test]
async fn a_client_not_registered_to_introspect_is_401() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let issued = app.tokens_for_alice(&client, "read").await;

    // The token's own client may not introspect it either: it is not a resource server.
    let response = app
        .post_as_client(&client, "/oauth2/introspect", &[("token", &issued.access_token)])
        .await;

    assert!(response.headers().contains_key("www-authenticate"));
    let body = assert_oauth_error(response, 401, "invalid_client").await;
    assert!(body.get("active").is_none(), "{body}");
}

#[tokio::test]
async fn get_on_the_introspection_endpoint_is_405() {
    let app = spawn_app().await;
    let introspector = app.introspector();

    let response = app
        .http
        .get(app.url("/oauth2/introspect?token=oat_anything"))
        .basic_auth(&introspector.id, introspector.secret.as_ref())
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["allow"], "POST");
    assert_oauth_error(response, 405, "invalid_request").await;
}

#[tokio::test]
async fn garbage_and_unknown_tokens_are_exactly_inactive() {
    let app = spawn_app().await;
    let introspector = app.introspector();
    let introspector_secret = introspector.secret.clone().unwrap();

    for token in [
        "garbage",
        "oat_unknown",
        "ort_unknown",
        "oac_unknown",
        // A client secret is a credential, not a token.
        introspector_secret.as_str(),
    ] {
        assert_eq!(app.introspect(&introspector, token).await, inactive(), "{token}");
    }
}

#[tokio::test]
async fn expired_tokens_are_exactly_inactive() {
    let app = spawn_app_with(|settings| {
        settings.tokens.access_token_ttl_secs = 0;
        settings.tokens.refresh_token_ttl_secs = 0;
    })
    .await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;
    let service_token = tokens(app.client_credentials(&introspector, None).await).await;

    for token in [
        issued.access_token.as_str(),
        issued.refresh_token.as_deref().unwrap(),
        service_token.access_token.as_str(),
    ] {
        assert_eq!(app.introspect(&introspector, token).await, inactive());
    }
}

#[tokio::test]
async fn a_revoked_access_token_is_exactly_inactive() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;
    assert_eq!(app.revoke(&client, &issued.access_token).await.status(), 200);

    let introspection = app.introspect(&introspector, &issued.access_token).await;

    assert_eq!(introspection, inactive());
}

#[tokio::test]
async fn a_rotated_away_refresh_token_is_exactly_inactive() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;
    let old_refresh_token = issued.refresh_token.as_deref().unwrap();
    assert_eq!(app.refresh(&client, old_refresh_token).await.status(), 200);

    let introspection = app.introspect(&introspector, old_refresh_token).await;

    assert_eq!(introspection, inactive());
}

#[tokio::test]
async fn an_active_access_token_shows_its_scope_client_user_and_lifetime() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let before = unix_now();
    let issued = app.tokens_for_alice(&client, "read write").await;
    let after = unix_now();

    let introspection = app.introspect(&introspector, &issued.access_token).await;

    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["scope"], "read write");
    assert_eq!(introspection["client_id"], client.id.as_str());
    assert_eq!(introspection["sub"], app.user_id("alice").as_str());
    assert_eq!(introspection["username"], "alice");
    assert_eq!(introspection["token_type"], "Bearer");
    assert_eq!(introspection["token_use"], "access_token");
    assert_eq!(introspection["iss"], app.issuer.as_str());
    assert!(
        introspection["aud"].as_str().is_some_and(|aud| !aud.is_empty()),
        "{introspection}"
    );
    let iat = introspection["iat"].as_i64().expect("iat in seconds");
    let exp = introspection["exp"].as_i64().expect("exp in seconds");
    assert!(
        (before..=after).contains(&iat),
        "iat {iat} outside [{before}, {after}]"
    );
    assert_eq!(exp - iat, 600);
}

#[tokio::test]
async fn a_wrong_token_type_hint_still_finds_the_token() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    let access = introspect_with_hint(&app, &introspector, &issued.access_token, "refresh_token").await;
    let refresh = introspect_with_hint(
        &app,
        &introspector,
        issued.refresh_token.as_deref().unwrap(),
        "access_token",
    )
    .await;

    assert_eq!(access["active"], true);
    assert_eq!(access["token_use"], "access_token");
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_use"], "refresh_token");
}

#[tokio::test]
async fn a_client_credentials_token_has_the_client_as_subject_and_no_username() {
    let app = spawn_app().await;
    app.create_scope("read");
    let service = app.create_client(service_client_spec("read"));
    let introspector = app.introspector();
    let service_token = tokens(app.client_credentials(&service, None).await).await;

    let introspection = app.introspect(&introspector, &service_token.access_token).await;

    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["sub"], service.id.as_str());
    assert_eq!(introspection["client_id"], service.id.as_str());
    assert!(introspection.get("username").is_none(), "{introspection}");
    assert_eq!(introspection["scope"], "read");
}

#[tokio::test]
async fn a_refresh_token_introspects_as_a_refresh_token_without_a_token_type() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    let introspection = app
        .introspect(&introspector, issued.refresh_token.as_deref().unwrap())
        .await;

    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["token_use"], "refresh_token");
    assert!(introspection.get("token_type").is_none(), "{introspection}");
    assert_eq!(introspection["client_id"], client.id.as_str());
    assert_eq!(introspection["username"], "alice");
}

#[tokio::test]
async fn introspection_responses_are_never_cached() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    for token in [issued.access_token.as_str(), "oat_unknown"] {
        let response = app
            .post_as_client(&introspector, "/oauth2/introspect", &[("token", token)])
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
    }
}

#[tokio::test]
async fn a_request_without_a_token_is_invalid_request() {
    let app = spawn_app().await;
    let introspector = app.introspector();

    let missing = app
        .post_as_client(
            &introspector,
            "/oauth2/introspect",
            &[("token_type_hint", "access_token")],
        )
        .await;
    let empty = app
        .post_as_client(&introspector, "/oauth2/introspect", &[("token", "")])
        .await;

    for response in [missing, empty] {
        assert_oauth_error(response, 400, "invalid_request").await;
    }
}
