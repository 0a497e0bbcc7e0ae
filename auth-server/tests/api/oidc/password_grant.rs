//! The legacy password grant: refused unless the client was registered for it.

use auth_server::domain::grant_type::GrantType;
use serde_json::Value;

use super::*;

fn password_client(app: &TestApp, allowed: bool) -> TestClient {
    app.create_client(ClientSpec {
        name: "Legacy app".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scope: Some(OIDC_SCOPES.into()),
        allow_password_grant: allowed,
        ..Default::default()
    })
}

async fn password_grant(app: &TestApp, client: &TestClient, password: &str) -> reqwest::Response {
    app.token(
        client,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("scope", "read profile"),
        ],
    )
    .await
}

#[tokio::test]
async fn the_password_grant_is_refused_to_a_client_not_registered_for_it() {
    let app = spawn_app().await;
    oidc_fixture(&app);
    let client = password_client(&app, false);

    let response = password_grant(&app, &client, "alice-password").await;

    assert_oauth_error(response, 400, "unsupported_grant_type").await;
}

#[tokio::test]
async fn a_client_registered_for_the_password_grant_gets_tokens_for_the_right_password_only() {
    let app = spawn_app().await;
    oidc_fixture(&app);
    let client = password_client(&app, true);

    let wrong = password_grant(&app, &client, "not-her-password").await;
    assert_oauth_error(wrong, 400, "invalid_grant").await;
    let right = password_grant(&app, &client, "alice-password").await;

    assert_eq!(right.status(), 200);
    let body: Value = right.json().await.unwrap();
    assert_eq!(body["scope"], "profile read");
    let introspection = app
        .introspect(&app.introspector(), body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["sub"], app.user_id("alice").as_str());
}

#[tokio::test]
async fn the_password_grant_cannot_be_registered_for_a_public_client_nor_as_a_grant_type() {
    let app = spawn_app().await;
    let mut conn = app.conn();

    let public = auth_server::admin::clients::create(
        &mut conn,
        &ClientSpec {
            name: "SPA".into(),
            public: true,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["https://spa.test/cb".into()],
            allow_password_grant: true,
            ..Default::default()
        },
    );
    let as_grant_type = auth_server::admin::clients::create(
        &mut conn,
        &ClientSpec {
            name: "Legacy".into(),
            grant_types: vec![GrantType::Password],
            ..Default::default()
        },
    );

    assert!(public.is_err());
    assert!(as_grant_type.is_err());
}

#[tokio::test]
async fn the_metadata_does_not_advertise_the_password_grant() {
    let app = spawn_app().await;

    let metadata: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let grant_types = metadata["grant_types_supported"].as_array().unwrap();
    assert!(!grant_types.contains(&Value::from("password")));
}

#[tokio::test]
async fn an_unconfirmed_account_gets_no_tokens_while_confirmation_is_required() {
    use diesel::RunQueryDsl;

    for required in [true, false] {
        let app = spawn_app_with(|settings| settings.accounts.require_verified_email = required).await;
        oidc_fixture(&app);
        let client = password_client(&app, true);
        diesel::sql_query("UPDATE users SET email_verified_at = NULL WHERE username = 'alice'")
            .execute(&mut app.conn())
            .unwrap();

        let response = password_grant(&app, &client, "alice-password").await;

        if required {
            assert_oauth_error(response, 400, "invalid_grant").await;
        } else {
            assert_eq!(response.status(), 200, "the setting is off: as before");
        }
    }
}
