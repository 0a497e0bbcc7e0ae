//! `POST /oauth2/token` as a whole: client authentication, the request rules and the error format
//! (the client_credentials grant and the throttling are in `client_credentials.rs`).

use serde_json::{Value, json};

use crate::helpers::*;

/// The scope catalogue (read, write, admin) and a service client allowed `read write`.
pub(crate) fn service_fixture(app: &TestApp) -> TestClient {
    for scope in ["read", "write", "admin"] {
        app.create_scope(scope);
    }
    app.create_client(service_client_spec("read write"))
}

fn secret(client: &TestClient) -> &str {
    client.secret.as_deref().expect("a confidential client")
}

pub(crate) async fn assert_issued(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON token response")
}

/// A client_secret_post attempt with a wrong secret: its challenge and body, without the request id.
async fn failed_post_authentication(app: &TestApp, client_id: &str) -> (Option<String>, Value) {
    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", "ocs_wrong"),
            ],
            None,
        )
        .await;
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().expect("an ASCII challenge").to_owned());
    let mut body = assert_oauth_error(response, 401, "invalid_client").await;
    body.as_object_mut().expect("a JSON object").remove("request_id");
    (challenge, body)
}

// Client authentication.

#[tokio::test]
async fn a_confidential_client_authenticates_with_client_secret_basic() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((&client.id, secret(&client))),
        )
        .await;

    assert_issued(response).await;
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_client_secret_post() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", secret(&client)),
            ],
            None,
        )
        .await;

    assert_issued(response).await;
}

#[tokio::test]
async fn using_basic_and_a_body_secret_at_once_is_invalid_request() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", secret(&client)),
            ],
            Some((&client.id, secret(&client))),
        )
        .await;

    assert_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_wrong_secret_via_basic_is_401_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((&client.id, "ocs_wrong")),
        )
        .await;

    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    assert_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn an_unknown_client_gets_the_same_answer_as_a_wrong_secret() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let wrong_secret = failed_post_authentication(&app, &client.id).await;
    let unknown_client = failed_post_authentication(&app, "no-such-client").await;

    assert_eq!(wrong_secret, unknown_client);
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let app = spawn_app().await;
    app.create_scope("read");
    // Generated ids and secrets never contain these characters, so this client is written directly.
    let (client_id, client_secret) = ("svc:1 %+x", "s:e%c+r et");
    app.with_db(|conn| {
        let now = auth_server::domain::time::now();
        auth_server::db::clients::insert(
            conn,
            &auth_server::db::models::ClientRow {
                id: client_id.into(),
                name: "Odd credentials".into(),
                secret_hash: Some(auth_server::domain::opaque_token::hash(client_secret).into_string()),
                is_public: false,
                grant_types: "client_credentials".into(),
                redirect_uris: "[]".into(),
                can_introspect: false,
                skip_consent: false,
                created_at: now,
                updated_at: now,
                id_token_signed_response_alg: "RS256".into(),
                allow_hybrid: false,
                allow_password_grant: false,
                post_logout_redirect_uris: "[]".into(),
            },
        )
        .unwrap();
    });

    // `post_form` form-urlencodes the id and the secret, then base64-encodes them (RFC 6749 §2.3.1).
    let response = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((client_id, client_secret)),
        )
        .await;

    assert_issued(response).await;
}

#[tokio::test]
async fn a_public_client_authenticates_with_its_client_id_alone() {
    let app = spawn_app().await;
    app.standard_fixture();
    let public = app.create_client(public_web_client_spec());
    assert!(public.secret.is_none());

    // The code exchange sends only client_id (and the PKCE verifier) and must succeed.
    let tokens = app.tokens_for_alice(&public, "read").await;

    assert_eq!(tokens.scope, "read");
}

#[tokio::test]
async fn a_confidential_client_sending_only_its_client_id_is_401() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials"), ("client_id", &client.id)],
            None,
        )
        .await;

    assert!(response.headers().contains_key("www-authenticate"));
    assert_oauth_error(response, 401, "invalid_client").await;
}

// Request rules.

#[tokio::test]
async fn a_client_secret_in_the_query_string_is_invalid_request() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let url = app.url(&format!(
        "/oauth2/token?client_secret={}",
        form_encode(secret(&client))
    ));

    let only_in_query = app
        .http
        .post(&url)
        .form(&[("grant_type", "client_credentials"), ("client_id", &client.id)])
        .send()
        .await
        .unwrap();
    let with_basic_too = app
        .http
        .post(&url)
        .basic_auth(&client.id, client.secret.as_ref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();

    for response in [only_in_query, with_basic_too] {
        assert_oauth_error(response, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn get_on_the_token_endpoint_is_405() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .http
        .get(app.url("/oauth2/token?grant_type=client_credentials"))
        .basic_auth(&client.id, client.secret.as_ref())
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["allow"], "POST");
    assert_oauth_error(response, 405, "invalid_request").await;
}

#[tokio::test]
async fn a_request_without_grant_type_is_invalid_request() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app.token(&client, &[("scope", "read")]).await;

    assert_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn unknown_grant_types_and_the_password_grant_are_unsupported_grant_type() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    for grant_type in ["password", "implicit", "urn:example:banana", "Client_Credentials"] {
        let response = app
            .token(
                &client,
                &[
                    ("grant_type", grant_type),
                    ("username", "alice"),
                    ("password", "alice-password"),
                ],
            )
            .await;
        assert_oauth_error(response, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn error_descriptions_stay_within_the_allowed_characters_when_they_echo_input() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    for grant_type in ["quote\"back\\slash", "line\r\nbreak\ttab", "caf\u{e9} \u{1f600}"] {
        let response = app.token(&client, &[("grant_type", grant_type)]).await;
        // The helper checks the characters of error_description.
        assert_oauth_error(response, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let repeated_code = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", "a"),
                ("code", "b"),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &Pkce::new().verifier),
            ],
        )
        .await;
    let repeated_grant_type = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("grant_type", "authorization_code"),
                ("code", "a"),
            ],
        )
        .await;

    for response in [repeated_code, repeated_grant_type] {
        assert_oauth_error(response, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn an_empty_scope_is_treated_as_absent() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let body = assert_issued(app.client_credentials(&client, Some("")).await).await;

    assert_eq!(body["scope"], "read write");
}

#[tokio::test]
async fn an_unknown_extra_parameter_is_ignored() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .token(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read"),
                ("x_unknown_extension", "anything"),
            ],
        )
        .await;

    assert_eq!(assert_issued(response).await["scope"], "read");
}

#[tokio::test]
async fn a_json_body_is_invalid_request() {
    let app = spawn_app().await;
    let client = service_fixture(&app);

    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, client.secret.as_ref())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();

    assert_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_body_over_16_kib_is_refused_with_a_json_error() {
    let app = spawn_app().await;
    let client = service_fixture(&app);
    let padding = "a".repeat(16 * 1024 + 1);

    let response = app
        .token(
            &client,
            &[("grant_type", "client_credentials"), ("padding", &padding)],
        )
        .await;

    assert_oauth_error(response, 400, "invalid_request").await;
}
