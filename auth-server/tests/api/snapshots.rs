//! The JSON bodies clients and libraries rely on, pinned as snapshots (insta, `snapshots/`): the
//! metadata document, token responses, introspection answers and the error format. A change to any
//! of them shows as a diff to review (`cargo insta review`), never silently.
//!
//! What differs from run to run is replaced before the comparison: the issuer's port, token values,
//! timestamps, subjects and request ids.

use serde_json::Value;

use crate::helpers::*;

/// The body with this run's issuer written as `https://issuer.test`, so URLs compare.
fn normalized(app: &TestApp, body: &Value) -> Value {
    let text = body.to_string().replace(&app.issuer, "https://issuer.test");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_openid_configuration_document() {
    let app = spawn_app().await;
    app.standard_fixture();

    let metadata: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    insta::assert_json_snapshot!(normalized(&app, &metadata));
}

#[tokio::test]
async fn a_client_credentials_token_response() {
    let app = spawn_app().await;
    app.standard_fixture();
    let client = app.create_client(service_client_spec("read write"));

    let body: Value = app
        .client_credentials(&client, Some("read"))
        .await
        .json()
        .await
        .unwrap();

    insta::assert_json_snapshot!(body, { ".access_token" => "[access token]" });
}

#[tokio::test]
async fn an_authorization_code_token_response_with_an_id_token_and_its_claims() {
    let app = spawn_app().await;
    let client = crate::oidc::oidc_fixture(&app);
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "openid profile", &pkce)
        .await;

    let body: Value = app
        .exchange_code(&client, &code, &pkce.verifier)
        .await
        .json()
        .await
        .unwrap();

    let claims = crate::oidc::jwt_payload(body["id_token"].as_str().unwrap());
    insta::assert_json_snapshot!("code_token_response", body, {
        ".access_token" => "[access token]",
        ".refresh_token" => "[refresh token]",
        ".id_token" => "[id token]",
    });
    insta::assert_json_snapshot!("id_token_claims", normalized(&app, &claims), {
        ".sub" => "[user id]",
        ".aud" => "[client id]",
        ".azp" => "[client id]",
        ".exp" => "[time]",
        ".iat" => "[time]",
        ".auth_time" => "[time]",
        ".at_hash" => "[hash]",
        ".sid" => "[session]",
    });
}

#[tokio::test]
async fn the_introspection_of_an_active_and_of_an_unknown_token() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let tokens = app.tokens_for_alice(&client, "read").await;

    let active = app.introspect(&introspector, &tokens.access_token).await;
    let unknown = app.introspect(&introspector, "oat_not-a-token").await;

    insta::assert_json_snapshot!("introspection_active", normalized(&app, &active), {
        ".sub" => "[user id]",
        ".client_id" => "[client id]",
        ".aud" => "[client id]",
        ".exp" => "[time]",
        ".iat" => "[time]",
    });
    insta::assert_json_snapshot!("introspection_inactive", unknown);
}

#[tokio::test]
async fn the_error_format_of_the_token_endpoint() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let wrong = TestClient {
        secret: Some("not-the-secret".to_owned()),
        ..client.clone()
    };

    let invalid_client: Value = app.client_credentials(&wrong, None).await.json().await.unwrap();
    let invalid_grant: Value = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", "ort_unknown")],
        )
        .await
        .json()
        .await
        .unwrap();

    insta::assert_json_snapshot!("error_invalid_client", invalid_client, { ".request_id" => "[request id]" });
    insta::assert_json_snapshot!("error_invalid_grant", invalid_grant, { ".request_id" => "[request id]" });
}
