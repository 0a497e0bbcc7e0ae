//! `/oauth2/authorize` and PKCE (RFC 7636): required of public and confidential clients, unless the
//! operator lets confidential ones skip it.

use auth_server::admin::clients::ClientSpec;

use crate::authorize::{assert_error_redirect, request_for};
use crate::helpers::*;

#[tokio::test]
async fn pkce_is_required_of_public_and_confidential_clients() {
    let app = spawn_app().await;
    let confidential = app.standard_fixture();
    let public = app.create_client(ClientSpec {
        public: true,
        ..web_client_spec()
    });
    let pkce = Pkce::new();

    for client in [&confidential, &public] {
        let request = request_for(
            client,
            &pkce,
            &[("code_challenge", "<omit>"), ("code_challenge_method", "<omit>")],
        );
        let response = Browser::new(&app).get(&request).await;
        assert_error_redirect(&app, response, "invalid_request", Some("s1")).await;
    }
}

#[tokio::test]
async fn a_confidential_client_may_skip_pkce_when_the_operator_allows_it_and_a_verifier_is_then_refused() {
    let app = spawn_app_with(|settings| settings.oauth.require_pkce_for_confidential_clients = false).await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let browser = Browser::new(&app);
    let response = browser
        .get(&request_for(
            &client,
            &pkce,
            &[("code_challenge", "<omit>"), ("code_challenge_method", "<omit>")],
        ))
        .await;
    let response = browser
        .submit_login(&location(&response), "alice", "alice-password")
        .await;
    let response = browser.submit_consent(&location(&response), "allow").await;
    let code = query_params(&location(&response))["code"].clone();

    // A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700 §4.8.2).
    let downgrade = app.exchange_code(&client, &code, &pkce.verifier).await;
    assert_eq!(downgrade.status(), 400);
    assert_eq!(
        downgrade.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let plain = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await;
    assert_eq!(plain.status(), 200);
}
