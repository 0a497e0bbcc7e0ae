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

/// Requests one token, and introspects it the moment the answer arrives: a token answered
/// before its commit would not be active yet. `None` when the request was refused.
async fn token_active_on_arrival(
    app: &TestApp,
    client: &TestClient,
    introspector: &TestClient,
) -> Option<(String, bool)> {
    let response = app.client_credentials(client, None).await;
    if response.status() != 200 {
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].is_string(),
            "an error in the protocol's format: {body}"
        );
        return None;
    }
    let body = assert_issued(response).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let active = app.introspect(introspector, &token).await["active"] == true;
    Some((token, active))
}

#[tokio::test]
async fn concurrent_client_credentials_requests_each_get_their_own_token_committed_before_the_answer() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let introspector = app.introspector();

    // Concurrent requests share batches in the token writer; each must still get its own token,
    // stored before the response.
    let answers = futures_util::future::join_all(
        (0..60).map(|_| token_active_on_arrival(&app, &client, &introspector)),
    )
    .await;

    let mut issued = std::collections::HashSet::new();
    for (token, active) in answers.into_iter().map(Option::unwrap) {
        assert!(active, "committed before it was answered");
        issued.insert(token);
    }
    assert_eq!(issued.len(), 60);
}

#[tokio::test]
async fn a_batch_whose_commit_fails_answers_none_of_its_rows_as_issued() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let doomed = app.create_client(ClientSpec {
        name: "Doomed".into(),
        grant_types: vec![auth_server::domain::grant_type::GrantType::ClientCredentials],
        ..Default::default()
    });
    let introspector = app.introspector();
    // A deferred constraint trigger fails the COMMIT (not the INSERT) of any transaction that
    // holds a row of the doomed client, so a batch mixing both clients fails as a whole at commit.
    app.with_db(|conn| {
        diesel::connection::SimpleConnection::batch_execute(
            conn,
            &format!(
                "CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                   IF NEW.client_id = '{}' THEN RAISE EXCEPTION 'commit refused by the test'; END IF; \
                   RETURN NULL; END $$; \
                 CREATE CONSTRAINT TRIGGER refuse_doomed AFTER INSERT ON access_tokens \
                   DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_doomed();",
                doomed.id
            ),
        )
        .unwrap()
    });

    let answers = futures_util::future::join_all((0..60).map(|n| {
        let requester = if n % 2 == 0 { &client } else { &doomed };
        token_active_on_arrival(&app, requester, &introspector)
    }))
    .await;

    for (n, answer) in answers.into_iter().enumerate() {
        match (n % 2 == 0, answer) {
            (true, Some((_, active))) => assert!(active, "committed before it was answered"),
            (true, None) => panic!("a good row was refused along with its batch"),
            (false, answer) => assert_eq!(answer, None, "a row whose commit failed was answered as issued"),
        }
    }
    let stored = app.count(&format!(
        "SELECT count(*) AS count FROM access_tokens WHERE client_id = '{}'",
        doomed.id
    ));
    assert_eq!(stored, 0);
}
