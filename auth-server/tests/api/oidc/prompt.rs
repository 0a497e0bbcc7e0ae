//! prompt, max_age, login_hint and id_token_hint (OIDC Core §3.1.2.1).

use auth_server::domain::grant_type::GrantType;
use serde_json::Value;

use super::*;

/// A browser in which alice signed in and consented to `client`, and the tokens of that flow.
async fn signed_in<'a>(app: &'a TestApp, client: &TestClient) -> (Browser<'a>, Value) {
    let browser = Browser::new(app);
    let tokens = browser_tokens(app, &browser, client, &[]).await;
    (browser, tokens)
}

/// Runs the flow in `browser` (signing in and consenting when asked) and exchanges the code.
async fn browser_tokens(
    app: &TestApp,
    browser: &Browser<'_>,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> Value {
    let pkce = Pkce::new();
    let done = through_login_and_consent(
        browser,
        &authorize_url(app, client, &pkce, extra),
        "alice",
        "alice-password",
    )
    .await;
    let code = query_params(&done)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("a code in {done}"));
    let response = app.exchange_code(client, &code, &pkce.verifier).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Where the browser is sent by /oauth2/authorize with these parameters (no page submitted).
async fn first_stop(
    app: &TestApp,
    browser: &Browser<'_>,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> String {
    location(
        &browser
            .get(&authorize_url(app, client, &Pkce::new(), extra))
            .await,
    )
}

fn assert_error_redirect(location: &str, client: &TestClient, error: &str, issuer: &str) {
    assert!(location.starts_with(&client.redirect_uri), "{location}");
    let params = query_params(location);
    assert_eq!(params.get("error").map(String::as_str), Some(error), "{location}");
    assert_eq!(params.get("state").map(String::as_str), Some("s1"));
    assert_eq!(params.get("iss").map(String::as_str), Some(issuer));
    assert!(!params.contains_key("code"));
}

fn claims_of(tokens: &Value) -> Value {
    jwt_payload(tokens["id_token"].as_str().expect("an id_token"))
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);

    let stop = first_stop(&app, &Browser::new(&app), &client, &[("prompt", "none")]).await;

    assert_error_redirect(&stop, &client, "login_required", &app.issuer);
}

#[tokio::test]
async fn prompt_none_with_a_session_and_consent_returns_a_code_without_showing_a_page() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;

    let stop = first_stop(&app, &browser, &client, &[("prompt", "none")]).await;

    assert!(stop.starts_with(&client.redirect_uri), "{stop}");
    assert!(query_params(&stop).contains_key("code"), "{stop}");
}

#[tokio::test]
async fn prompt_none_without_consent_answers_consent_required() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;
    let other = app.create_client(ClientSpec {
        name: "Other RP".into(),
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec!["https://other.test/cb".into()],
        scope: Some(OIDC_SCOPES.into()),
        ..Default::default()
    });

    let stop = first_stop(&app, &browser, &other, &[("prompt", "none")]).await;

    assert_error_redirect(&stop, &other, "consent_required", &app.issuer);
}

#[tokio::test]
async fn prompt_none_combined_with_another_value_is_invalid_request() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);

    let stop = first_stop(&app, &Browser::new(&app), &client, &[("prompt", "none login")]).await;

    assert_error_redirect(&stop, &client, "invalid_request", &app.issuer);
}

#[tokio::test]
async fn prompt_login_asks_a_signed_in_user_to_sign_in_again_and_starts_a_new_session() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, first) = signed_in(&app, &client).await;

    assert!(
        first_stop(&app, &browser, &client, &[("prompt", "login")])
            .await
            .starts_with("/login")
    );
    let again = browser_tokens(&app, &browser, &client, &[("prompt", "login")]).await;

    let (before, after) = (claims_of(&first), claims_of(&again));
    assert_ne!(before["sid"], after["sid"], "signing in again made a new session");
    assert!(after["auth_time"].as_i64() >= before["auth_time"].as_i64());
}

#[tokio::test]
async fn prompt_consent_shows_the_consent_page_even_when_consent_was_given() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;

    let stop = first_stop(&app, &browser, &client, &[("prompt", "consent")]).await;

    assert!(stop.starts_with("/consent"), "{stop}");
}

/// Moves the sign-in of every session `secs` into the past (instead of waiting).
fn age_sessions(app: &TestApp, secs: i64) -> i64 {
    app.with_db(|conn| {
        use auth_server::db::schema::login_sessions;
        use diesel::prelude::*;
        let auth_time = auth_server::domain::time::now() - chrono::TimeDelta::seconds(secs);
        diesel::update(login_sessions::table)
            .set(login_sessions::auth_time.eq(auth_time))
            .execute(conn)
            .unwrap();
        auth_time.and_utc().timestamp()
    })
}

#[tokio::test]
async fn max_age_within_the_sign_in_age_reuses_the_session_and_reports_its_auth_time() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;
    let auth_time = age_sessions(&app, 600);

    let tokens = browser_tokens(&app, &browser, &client, &[("max_age", "3600")]).await;

    assert_eq!(claims_of(&tokens)["auth_time"], auth_time);
}

#[tokio::test]
async fn max_age_shorter_than_the_sign_in_age_requires_a_new_sign_in() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;
    let old_auth_time = age_sessions(&app, 600);

    assert!(
        first_stop(&app, &browser, &client, &[("max_age", "60")])
            .await
            .starts_with("/login")
    );
    let none = first_stop(&app, &browser, &client, &[("max_age", "60"), ("prompt", "none")]).await;
    assert_error_redirect(&none, &client, "login_required", &app.issuer);
    let tokens = browser_tokens(&app, &browser, &client, &[("max_age", "60")]).await;

    assert!(claims_of(&tokens)["auth_time"].as_i64().unwrap() > old_auth_time);
}

#[tokio::test]
async fn max_age_zero_always_requires_a_new_sign_in() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;

    let stop = first_stop(&app, &browser, &client, &[("max_age", "0")]).await;

    assert!(stop.starts_with("/login"), "{stop}");
}

#[tokio::test]
async fn login_hint_fills_in_the_username() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let browser = Browser::new(&app);

    let login = first_stop(&app, &browser, &client, &[("login_hint", "alice")]).await;
    let page = browser.get(&login).await.text().await.unwrap();

    assert!(
        page.contains(r#"name="username" id="username" value="alice""#),
        "{page}"
    );
}

#[tokio::test]
async fn id_token_hint_of_the_signed_in_user_allows_prompt_none() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, first) = signed_in(&app, &client).await;
    let hint = first["id_token"].as_str().unwrap();

    let stop = first_stop(
        &app,
        &browser,
        &client,
        &[("prompt", "none"), ("id_token_hint", hint)],
    )
    .await;

    assert!(query_params(&stop).contains_key("code"), "{stop}");
}

#[tokio::test]
async fn id_token_hint_of_another_user_answers_login_required() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    app.create_user("bob", "bob-password", OIDC_SCOPES);
    let bob_browser = Browser::new(&app);
    let pkce = Pkce::new();
    let done = through_login_and_consent(
        &bob_browser,
        &authorize_url(&app, &client, &pkce, &[]),
        "bob",
        "bob-password",
    )
    .await;
    let code = query_params(&done)["code"].clone();
    let bob_tokens: Value = app
        .exchange_code(&client, &code, &pkce.verifier)
        .await
        .json()
        .await
        .unwrap();
    let (alice_browser, _) = signed_in(&app, &client).await;

    let stop = first_stop(
        &app,
        &alice_browser,
        &client,
        &[
            ("prompt", "none"),
            ("id_token_hint", bob_tokens["id_token"].as_str().unwrap()),
        ],
    )
    .await;

    assert_error_redirect(&stop, &client, "login_required", &app.issuer);
}

#[tokio::test]
async fn a_forged_id_token_hint_is_invalid_request() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, first) = signed_in(&app, &client).await;
    let genuine = first["id_token"].as_str().unwrap();
    // The genuine header and signature around another payload.
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_payload = {
        use base64::Engine;
        let mut claims = jwt_payload(genuine);
        claims["sub"] = "someone-else".into();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);

    let stop = first_stop(&app, &browser, &client, &[("id_token_hint", &forged)]).await;

    assert_error_redirect(&stop, &client, "invalid_request", &app.issuer);
}
