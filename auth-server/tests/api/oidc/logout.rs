//! RP-initiated logout: with a valid id_token_hint and a registered post_logout_redirect_uri the
//! session ends and the browser returns; anything less never redirects and never ends a session
//! without the user's say.

use serde_json::Value;

use super::*;

/// A browser in which alice signed in for `client`, and the tokens she got.
async fn signed_in<'a>(app: &'a TestApp, client: &TestClient) -> (Browser<'a>, Value) {
    let browser = Browser::new(app);
    let pkce = Pkce::new();
    let done = through_login_and_consent(
        &browser,
        &authorize_url(app, client, &pkce, &[]),
        "alice",
        "alice-password",
    )
    .await;
    let code = query_params(&done)["code"].clone();
    let response = app.exchange_code(client, &code, &pkce.verifier).await;
    assert_eq!(response.status(), 200);
    (browser, response.json().await.unwrap())
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    app.url(&format!("/oauth2/logout?{}", query.finish()))
}

/// Whether the browser's session still signs it in (prompt=none answers a code).
async fn still_signed_in(app: &TestApp, browser: &Browser<'_>, client: &TestClient) -> bool {
    let stop = location(
        &browser
            .get(&authorize_url(app, client, &Pkce::new(), &[("prompt", "none")]))
            .await,
    );
    query_params(&stop).contains_key("code")
}

async fn token_is_active(app: &TestApp, token: &str) -> bool {
    let introspector = app.introspector();
    app.introspect(&introspector, token).await["active"] == true
}

#[tokio::test]
async fn logout_with_a_valid_hint_ends_the_session_revokes_its_tokens_and_returns_with_the_state() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, tokens) = signed_in(&app, &client).await;

    let response = browser
        .get(&logout_url(
            &app,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", "https://rp.test/logged-out"),
                ("state", "bye"),
            ],
        ))
        .await;

    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "https://rp.test/logged-out?state=bye");
    assert!(!still_signed_in(&app, &browser, &client).await);
    assert!(!token_is_active(&app, tokens["access_token"].as_str().unwrap()).await);
    assert!(!token_is_active(&app, tokens["refresh_token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn logout_can_keep_the_tokens_when_configured_to() {
    let app = spawn_app_with(|settings| settings.oidc.logout_revokes_tokens = false).await;
    let client = oidc_fixture(&app);
    let (browser, tokens) = signed_in(&app, &client).await;

    let response = browser
        .get(&logout_url(
            &app,
            &[("id_token_hint", tokens["id_token"].as_str().unwrap())],
        ))
        .await;

    assert_eq!(response.status(), 200, "no return URI: the signed-out page");
    assert!(!still_signed_in(&app, &browser, &client).await);
    assert!(token_is_active(&app, tokens["access_token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn a_post_logout_redirect_uri_that_is_not_registered_exactly_is_refused_and_the_session_kept() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, tokens) = signed_in(&app, &client).await;
    let hint = tokens["id_token"].as_str().unwrap();

    for near_miss in [
        "https://rp.test/logged-out/",
        "https://rp.test/logged-out?x=1",
        "https://RP.test/logged-out",
        "https://evil.test/logged-out",
    ] {
        let response = browser
            .get(&logout_url(
                &app,
                &[("id_token_hint", hint), ("post_logout_redirect_uri", near_miss)],
            ))
            .await;
        assert_eq!(response.status(), 400, "{near_miss}");
        assert!(response.headers().get("location").is_none());
    }
    assert!(still_signed_in(&app, &browser, &client).await);
}

#[tokio::test]
async fn logout_without_a_hint_asks_the_user_and_never_redirects() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, _) = signed_in(&app, &client).await;

    let with_uri = browser
        .get(&logout_url(
            &app,
            &[("post_logout_redirect_uri", "https://rp.test/logged-out")],
        ))
        .await;
    assert_eq!(with_uri.status(), 400, "no return without a hint");
    let page = browser.get(&logout_url(&app, &[])).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        still_signed_in(&app, &browser, &client).await,
        "not before the user confirms"
    );
    let forged = browser.post("/logout", &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status(), 403);
    assert!(still_signed_in(&app, &browser, &client).await);

    let confirmed = browser
        .post("/logout", &[("csrf_token", &hidden_field(&html, "csrf_token"))])
        .await;

    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.headers().get("location").is_none());
    assert!(!still_signed_in(&app, &browser, &client).await);
}

#[tokio::test]
async fn a_forged_hint_is_refused_and_the_session_kept() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, tokens) = signed_in(&app, &client).await;
    let genuine = tokens["id_token"].as_str().unwrap();
    // One character in the middle of the signature changed.
    let signature_middle = genuine.rfind('.').unwrap() + 20;
    let mut forged = genuine.to_owned();
    let replacement = if &genuine[signature_middle..=signature_middle] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(signature_middle..=signature_middle, replacement);

    let response = browser
        .get(&logout_url(
            &app,
            &[
                ("id_token_hint", &forged),
                ("post_logout_redirect_uri", "https://rp.test/logged-out"),
            ],
        ))
        .await;

    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(still_signed_in(&app, &browser, &client).await);
}

#[tokio::test]
async fn an_expired_hint_with_a_valid_signature_still_logs_out() {
    // id_tokens that expire the moment they are issued.
    let app = spawn_app_with(|settings| settings.oidc.id_token_ttl_secs = 0).await;
    let client = oidc_fixture(&app);
    let (browser, tokens) = signed_in(&app, &client).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let exp = jwt_payload(hint)["exp"].as_i64().unwrap();
    assert!(exp <= chrono::Utc::now().timestamp(), "the hint has expired");

    let response = browser
        .get(&logout_url(
            &app,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://rp.test/logged-out"),
            ],
        ))
        .await;

    assert_eq!(response.status(), 303);
    assert!(!still_signed_in(&app, &browser, &client).await);
}

#[tokio::test]
async fn the_discovery_document_names_the_end_session_endpoint() {
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

    assert_eq!(metadata["end_session_endpoint"], app.url("/oauth2/logout"));
}

#[tokio::test]
async fn a_code_issued_in_the_session_and_not_yet_redeemed_dies_with_the_logout() {
    for revoke_tokens in [true, false] {
        let app = spawn_app_with(|settings| settings.oidc.logout_revokes_tokens = revoke_tokens).await;
        let client = oidc_fixture(&app);
        let (browser, tokens) = signed_in(&app, &client).await;
        let pkce = Pkce::new();
        let issued = location(
            &browser
                .get(&authorize_url(&app, &client, &pkce, &[("prompt", "none")]))
                .await,
        );
        let code = query_params(&issued)["code"].clone();

        let logout = browser
            .get(&logout_url(
                &app,
                &[
                    ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                    ("post_logout_redirect_uri", "https://rp.test/logged-out"),
                ],
            ))
            .await;
        assert_eq!(logout.status(), 303);
        let exchanged = app.exchange_code(&client, &code, &pkce.verifier).await;

        assert_oauth_error(exchanged, 400, "invalid_grant").await;
    }
}

#[tokio::test]
async fn a_hint_from_another_session_of_the_same_user_does_not_end_this_one_without_asking() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (earlier, stale) = signed_in(&app, &client).await;
    let hint = stale["id_token"].as_str().unwrap();
    let ended = earlier.get(&logout_url(&app, &[("id_token_hint", hint)])).await;
    assert_eq!(ended.status(), 200, "the hint's own session ends at once");
    assert!(!still_signed_in(&app, &earlier, &client).await);
    // Alice signs in again; the old hint (a stale tab, a replay) names her, not this session.
    let (browser, _) = signed_in(&app, &client).await;

    let response = browser.get(&logout_url(&app, &[("id_token_hint", hint)])).await;

    assert_eq!(response.status(), 200);
    assert!(
        response.text().await.unwrap().contains("csrf_token"),
        "the confirmation page"
    );
    assert!(
        still_signed_in(&app, &browser, &client).await,
        "not before she confirms"
    );
}

#[tokio::test]
async fn a_hint_whose_key_id_holds_control_characters_is_refused_not_a_server_error() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let (browser, tokens) = signed_in(&app, &client).await;
    let genuine = tokens["id_token"].as_str().unwrap();
    let (_, rest) = genuine.split_once('.').unwrap();

    for kid in ["a\u{0}b", "a\nb", "../../etc", ""] {
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));

        let response = browser
            .get(&logout_url(&app, &[("id_token_hint", &forged)]))
            .await;

        assert_eq!(response.status(), 400, "kid {kid:?}");
    }
    assert!(still_signed_in(&app, &browser, &client).await);
}
