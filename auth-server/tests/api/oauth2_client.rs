//! A real OAuth client library (the `oauth2` crate) completes the authorization code flow with PKCE
//! and a refresh against our server, with the test posting the login and consent forms as a browser.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RefreshToken, Scope, TokenResponse, TokenUrl,
};

use crate::helpers::*;

#[tokio::test]
async fn the_oauth2_crate_completes_the_code_flow_with_pkce_and_refreshes() {
    let app = spawn_app().await;
    let registered = app.standard_fixture();
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_client_secret(ClientSecret::new(registered.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).unwrap());
    let http = rp_http(no_redirect_client(false));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new(&app);
    let login = location(&browser.get(authorize_url.as_str()).await);
    let consent = location(&browser.submit_login(&login, "alice", "alice-password").await);
    let callback = location(&browser.submit_consent(&consent, "allow").await);
    let params = query_params(&callback);
    assert_eq!(&params["state"], csrf.secret());
    assert_eq!(params["iss"], app.issuer);

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");
    let scopes: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|scope| scope.to_string())
        .collect();
    assert_eq!(scopes, ["read", "write"]);
    let refresh_token = tokens.refresh_token().expect("a refresh token").secret().clone();

    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.clone()))
        .request_async(&http)
        .await
        .expect("the refresh succeeds");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        &refresh_token,
        "the refresh token rotates"
    );
    assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
}
