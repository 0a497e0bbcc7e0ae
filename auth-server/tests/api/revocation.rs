//! `POST /oauth2/revoke` (RFC 7009). Policy (src/revocation.rs): an access token is revoked alone; a
//! refresh token takes its whole family with it; another client's token is refused and stays active.

use serde_json::json;

use crate::helpers::*;

async fn assert_revoked_ok(response: reqwest::Response) {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.text().await.expect("a readable body"),
        "",
        "a successful revocation has an empty body"
    );
}

#[tokio::test]
async fn revoking_a_garbage_or_unknown_token_answers_200_with_an_empty_body() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    for token in ["garbage", "oat_unknown", "ort_unknown"] {
        assert_revoked_ok(app.revoke(&client, token).await).await;
    }
}

#[tokio::test]
async fn a_request_without_a_token_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let response = app
        .post_as_client(&client, "/oauth2/revoke", &[("token_type_hint", "access_token")])
        .await;

    assert_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn revocation_with_missing_or_wrong_client_credentials_is_401_and_revokes_nothing() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    let without_credentials = app
        .post_form("/oauth2/revoke", &[("token", &issued.access_token)], None)
        .await;
    let wrong_secret = app
        .post_form(
            "/oauth2/revoke",
            &[("token", &issued.access_token)],
            Some((&client.id, "ocs_wrong")),
        )
        .await;

    for response in [without_credentials, wrong_secret] {
        assert!(response.headers().contains_key("www-authenticate"));
        assert_oauth_error(response, 401, "invalid_client").await;
    }
    assert_eq!(
        app.introspect(&introspector, &issued.access_token).await["active"],
        true
    );
}

#[tokio::test]
async fn revoking_an_access_token_deactivates_only_that_token() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    assert_revoked_ok(app.revoke(&client, &issued.access_token).await).await;

    assert_eq!(
        app.introspect(&introspector, &issued.access_token).await,
        json!({"active": false})
    );
    let refresh = app
        .refresh(&client, issued.refresh_token.as_deref().unwrap())
        .await;
    assert_eq!(refresh.status(), 200, "the refresh token still works");
    let renewed = tokens(refresh).await;
    assert_eq!(
        app.introspect(&introspector, &renewed.access_token).await["active"],
        true
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_deactivates_it_and_every_access_token_of_its_family() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let first = app.tokens_for_alice(&client, "read").await;
    let second = tokens(
        app.refresh(&client, first.refresh_token.as_deref().unwrap())
            .await,
    )
    .await;
    let other_family = app.tokens_for_alice(&client, "read").await;
    let current_refresh_token = second.refresh_token.as_deref().unwrap();

    assert_revoked_ok(app.revoke(&client, current_refresh_token).await).await;

    for token in [&first.access_token, &second.access_token, current_refresh_token] {
        assert_eq!(
            app.introspect(&introspector, token).await,
            json!({"active": false})
        );
    }
    let refresh = app.refresh(&client, current_refresh_token).await;
    assert_oauth_error(refresh, 400, "invalid_grant").await;
    assert_eq!(
        app.introspect(&introspector, &other_family.access_token).await["active"],
        true,
        "another authorization of the same user and client is untouched"
    );
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_tokens() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let other = app.create_client(web_client_spec());
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;
    let refresh_token = issued.refresh_token.as_deref().unwrap();

    for token in [issued.access_token.as_str(), refresh_token] {
        let response = app.revoke(&other, token).await;
        assert_oauth_error(response, 400, "invalid_grant").await;
    }

    for token in [issued.access_token.as_str(), refresh_token] {
        assert_eq!(app.introspect(&introspector, token).await["active"], true);
    }
    assert_eq!(app.refresh(&client, refresh_token).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_token_type_hint_is_ignored() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    let response = app
        .post_as_client(
            &client,
            "/oauth2/revoke",
            &[("token", &issued.access_token), ("token_type_hint", "banana")],
        )
        .await;

    assert_revoked_ok(response).await;
    assert_eq!(
        app.introspect(&introspector, &issued.access_token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_public_client_revokes_its_own_token_with_its_client_id_alone() {
    let app = spawn_app().await;
    app.standard_fixture();
    let introspector = app.introspector();
    let public = app.create_client(public_web_client_spec());
    let issued = app.tokens_for_alice(&public, "read").await;
    let refresh_token = issued.refresh_token.as_deref().unwrap();

    // `revoke` sends only client_id for a client without a secret.
    assert_revoked_ok(app.revoke(&public, refresh_token).await).await;

    assert_eq!(
        app.introspect(&introspector, &issued.access_token).await,
        json!({"active": false})
    );
    let refresh = app.refresh(&public, refresh_token).await;
    assert_oauth_error(refresh, 400, "invalid_grant").await;
}

#[tokio::test]
async fn get_on_the_revocation_endpoint_is_405() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let response = app
        .http
        .get(app.url("/oauth2/revoke?token=oat_anything"))
        .basic_auth(&client.id, client.secret.as_ref())
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["allow"], "POST");
    assert_oauth_error(response, 405, "invalid_request").await;
}
