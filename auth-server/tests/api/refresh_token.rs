//! The refresh_token grant: rotation, reuse detection (the whole family is revoked), scope narrowing,
//! binding to the client, expiry, public clients and concurrent use.

use serde_json::{Value, json};

use crate::helpers::*;

fn refresh_token_of(tokens: &Tokens) -> &str {
    tokens.refresh_token.as_deref().expect("a refresh token")
}

async fn refreshed(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), 200, "the refresh succeeds");
    tokens(response).await
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_keeps_the_scope() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let first = app.tokens_for_alice(&client, "read write").await;

    let response = app.refresh(&client, refresh_token_of(&first)).await;

    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let second = refreshed(response).await;
    assert_ne!(refresh_token_of(&second), refresh_token_of(&first));
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.scope, "read write");
    let introspection = app.introspect(&introspector, &second.access_token).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["username"], "alice");
}

#[tokio::test]
async fn a_rotated_refresh_token_used_again_revokes_the_whole_family() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let first = app.tokens_for_alice(&client, "read").await;
    let second = refreshed(app.refresh(&client, refresh_token_of(&first)).await).await;

    let reuse = app.refresh(&client, refresh_token_of(&first)).await;

    assert_oauth_error(reuse, 400, "invalid_grant").await;
    let after_reuse = app.refresh(&client, refresh_token_of(&second)).await;
    assert_oauth_error(after_reuse, 400, "invalid_grant").await;
    for access_token in [&first.access_token, &second.access_token] {
        assert_eq!(
            app.introspect(&introspector, access_token).await,
            json!({"active": false})
        );
    }
}

#[tokio::test]
async fn asking_for_a_wider_scope_on_refresh_is_invalid_scope_and_the_token_stays_usable() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let first = app.tokens_for_alice(&client, "read").await;

    for wider in ["read write", "read admin", "read banana"] {
        let response = app
            .token(
                &client,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token_of(&first)),
                    ("scope", wider),
                ],
            )
            .await;
        assert_oauth_error(response, 400, "invalid_scope").await;
    }

    let second = refreshed(app.refresh(&client, refresh_token_of(&first)).await).await;
    assert_eq!(second.scope, "read");
}

#[tokio::test]
async fn a_narrower_scope_applies_to_that_access_token_only_and_the_next_refresh_has_the_full_scope() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let first = app.tokens_for_alice(&client, "read write").await;

    let narrowed = refreshed(
        app.token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token_of(&first)),
                ("scope", "read"),
            ],
        )
        .await,
    )
    .await;

    assert_eq!(narrowed.scope, "read");
    assert_eq!(
        app.introspect(&introspector, &narrowed.access_token).await["scope"],
        "read"
    );
    let next = refreshed(app.refresh(&client, refresh_token_of(&narrowed)).await).await;
    assert_eq!(next.scope, "read write");
    assert_eq!(
        app.introspect(&introspector, &next.access_token).await["scope"],
        "read write"
    );
}

#[tokio::test]
async fn another_clients_refresh_token_is_invalid_grant_and_stays_usable_by_its_owner() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let other = app.create_client(web_client_spec());
    let issued = app.tokens_for_alice(&client, "read").await;

    let stolen = app.refresh(&other, refresh_token_of(&issued)).await;

    assert_oauth_error(stolen, 400, "invalid_grant").await;
    let owner = refreshed(app.refresh(&client, refresh_token_of(&issued)).await).await;
    assert_eq!(owner.scope, "read");
}

#[tokio::test]
async fn an_expired_refresh_token_is_invalid_grant() {
    let app = spawn_app_with(|settings| settings.tokens.refresh_token_ttl_secs = 0).await;
    let client = app.standard_fixture();
    let issued = app.tokens_for_alice(&client, "read").await;

    let response = app.refresh(&client, refresh_token_of(&issued)).await;

    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn unknown_malformed_or_wrong_kind_refresh_tokens_are_invalid_grant() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let issued = app.tokens_for_alice(&client, "read").await;

    for presented in ["ort_unknown", "garbage", issued.access_token.as_str()] {
        let response = app.refresh(&client, presented).await;
        assert_oauth_error(response, 400, "invalid_grant").await;
    }
    refreshed(app.refresh(&client, refresh_token_of(&issued)).await).await;
}

#[tokio::test]
async fn a_refresh_without_a_refresh_token_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let response = app.token(&client, &[("grant_type", "refresh_token")]).await;

    assert_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_public_client_refreshes_with_its_client_id_alone_and_rotation_applies() {
    let app = spawn_app().await;
    app.standard_fixture();
    let introspector = app.introspector();
    let public = app.create_client(public_web_client_spec());
    let first = app.tokens_for_alice(&public, "read").await;

    // `refresh` sends only client_id for a client without a secret.
    let second = refreshed(app.refresh(&public, refresh_token_of(&first)).await).await;

    assert_ne!(refresh_token_of(&second), refresh_token_of(&first));
    assert_eq!(second.scope, "read");
    let reuse = app.refresh(&public, refresh_token_of(&first)).await;
    assert_oauth_error(reuse, 400, "invalid_grant").await;
    let after_reuse = app.refresh(&public, refresh_token_of(&second)).await;
    assert_oauth_error(after_reuse, 400, "invalid_grant").await;
    assert_eq!(
        app.introspect(&introspector, &second.access_token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_give_one_success_and_revoke_the_family() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let issued = app.tokens_for_alice(&client, "read").await;

    let (a, b) = futures_util::join!(
        app.refresh(&client, refresh_token_of(&issued)),
        app.refresh(&client, refresh_token_of(&issued)),
    );

    let statuses = [a.status().as_u16(), b.status().as_u16()];
    let (winner, loser) = match statuses {
        [200, 400] => (a, b),
        [400, 200] => (b, a),
        _ => panic!("expected one 200 and one 400, got {statuses:?}"),
    };
    let body: Value = loser.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Policy (no grace period, see grants/refresh_token.rs): the second use is reuse, so the family
    // is revoked, including what the winner just received.
    let won = tokens(winner).await;
    let next = app.refresh(&client, refresh_token_of(&won)).await;
    assert_oauth_error(next, 400, "invalid_grant").await;
    for access_token in [&issued.access_token, &won.access_token] {
        assert_eq!(
            app.introspect(&introspector, access_token).await,
            json!({"active": false})
        );
    }
}
