//! `POST /oauth2/token` with client_credentials (a service acting on its own behalf), and the
//! throttling of failed client authentication.

use auth_server::admin::clients::ClientSpec;
use serde_json::Value;

use crate::helpers::*;
use crate::token_endpoint::{assert_issued, service_fixture};

#[tokio::test]
async fn a_confidential_client_gets_an_access_token_and_no_refresh_token() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let introspector = app.introspector();

    let response = app.client_credentials(&client, Some("read")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let access_token = body["access_token"].as_str().unwrap();
    let introspection = app.introspect(&introspector, access_token).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["client_id"], client.id.as_str());
}

#[tokio::test]
async fn a_public_client_cannot_use_client_credentials() {
    let app = spawn_app().await;
    app.standard_fixture();
    let public = app.create_client(public_web_client_spec());

    let response = app.client_credentials(&public, None).await;

    assert_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn a_public_client_is_refused_client_credentials_even_if_its_registration_lists_the_grant() {
    let app = spawn_app().await;
    app.standard_fixture();
    let public = app.create_client(public_web_client_spec());
    // The admin CLI refuses this registration; a row written some other way must not open the grant.
    app.with_db(|conn| {
        use auth_server::db::schema::clients;
        use diesel::prelude::*;
        diesel::update(clients::table.find(&public.id))
            .set(clients::grant_types.eq("authorization_code refresh_token client_credentials"))
            .execute(conn)
            .unwrap();
    });

    let response = app.client_credentials(&public, None).await;

    assert_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn a_client_not_registered_for_client_credentials_is_unauthorized_client() {
    let app = spawn_app().await;
    let web = app.standard_fixture();

    let response = app.client_credentials(&web, Some("read")).await;

    assert_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn an_unknown_scope_is_invalid_scope() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app.client_credentials(&client, Some("read banana")).await;

    assert_oauth_error(response, 400, "invalid_scope").await;
}

#[tokio::test]
async fn a_catalogue_scope_the_client_may_not_ask_for_is_dropped_from_the_grant() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let introspector = app.introspector();

    let response = app.client_credentials(&client, Some("read admin")).await;

    let body = assert_issued(response).await;
    assert_eq!(body["scope"], "read");
    let introspection = app
        .introspect(&introspector, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspection["scope"], "read");
}

#[tokio::test]
async fn asking_only_for_scopes_the_client_may_not_have_is_invalid_scope_not_an_empty_token() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app.client_credentials(&client, Some("admin")).await;

    assert_oauth_error(response, 400, "invalid_scope").await;
}

#[tokio::test]
async fn without_a_scope_the_client_gets_every_scope_it_is_allowed() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let body = assert_issued(app.client_credentials(&client, None).await).await;

    assert_eq!(body["scope"], "read write");
}

#[tokio::test]
async fn after_too_many_failed_authentications_even_the_right_secret_gets_429_with_retry_after() {
    let app = spawn_app_with(|settings| {
        settings.throttle.client_authentication.max_failures = 3;
        settings.throttle.client_authentication.window_secs = 60;
    })
    .await;
    let client = service_fixture(&app);
    let bystander = app.create_client(ClientSpec {
        name: "Another service".into(),
        ..service_client_spec("read")
    });
    let guesser = TestClient {
        secret: Some("ocs_guess".into()),
        ..client.clone()
    };
    for _ in 0..3 {
        let response = app.client_credentials(&guesser, None).await;
        assert_oauth_error(response, 401, "invalid_client").await;
    }

    let response = app.client_credentials(&client, None).await;

    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_oauth_error(response, 429, "invalid_client").await;
    assert_eq!(
        app.client_credentials(&bystander, None).await.status(),
        200,
        "other clients are not blocked"
    );
}

#[tokio::test]
async fn concurrent_client_credentials_requests_each_get_their_own_committed_token() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let introspector = app.introspector();

    // Concurrent requests share batches in the token writer; each must still get its own token,
    // stored before the response.
    let responses =
        futures_util::future::join_all((0..60).map(|_| app.client_credentials(&client, None))).await;

    let mut issued = std::collections::HashSet::new();
    for response in responses {
        let body = assert_issued(response).await;
        issued.insert(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(issued.len(), 60);
    for token in &issued {
        assert_eq!(app.introspect(&introspector, token).await["active"], true);
    }
}
