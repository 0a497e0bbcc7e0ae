//! The hybrid flow (`response_type=code id_token`), for clients that enable it: the id_token in the
//! fragment or a form_post, bound to the code by `c_hash`; the implicit flow is not offered.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata, CoreResponseType,
};
use openidconnect::{
    AuthorizationCode, AuthorizationCodeHash, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, RedirectUrl, Scope,
};
use serde_json::Value;

use super::*;

fn hybrid_client(app: &TestApp) -> TestClient {
    oidc_fixture_with(app, |spec| spec.allow_hybrid = true)
}

/// The parameters in a URL's fragment.
fn fragment_params(url: &str) -> std::collections::HashMap<String, String> {
    let fragment = url
        .split_once('#')
        .map(|(_, fragment)| fragment)
        .unwrap_or_default();
    form_urlencoded::parse(fragment.as_bytes()).into_owned().collect()
}

fn expected_c_hash(code: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(code.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[tokio::test]
async fn the_openidconnect_crate_validates_the_hybrid_id_token_and_its_c_hash() {
    let app = spawn_app().await;
    let registered = hybrid_client(&app);
    let http = rp_http(no_redirect_client(false));
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).unwrap());
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::Hybrid(vec![CoreResponseType::Code, CoreResponseType::IdToken]),
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let done = through_login_and_consent(&Browser::new(&app), url.as_str(), "alice", "alice-password").await;

    assert!(
        done.starts_with("https://rp.test/cb#"),
        "the answer is in the fragment: {done}"
    );
    let params = fragment_params(&done);
    assert_eq!(params.get("state"), Some(csrf.secret()));
    let id_token: CoreIdToken = params["id_token"].parse().unwrap();
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the front-channel id_token verifies");
    let code = AuthorizationCode::new(params["code"].clone());
    let expected = AuthorizationCodeHash::from_code(
        &code,
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims.code_hash(),
        Some(&expected),
        "c_hash binds the id_token to the code"
    );
    assert!(claims.access_token_hash().is_none());
}

#[tokio::test]
async fn hybrid_with_form_post_posts_the_code_and_id_token_and_the_code_still_redeems() {
    let app = spawn_app().await;
    let client = hybrid_client(&app);
    let browser = Browser::new(&app);
    // Sign in and consent once, so the form_post request is answered at once.
    through_login_and_consent(
        &browser,
        &authorize_url(&app, &client, &Pkce::new(), &[]),
        "alice",
        "alice-password",
    )
    .await;
    let pkce = Pkce::new();
    let url = authorize_url(
        &app,
        &client,
        &pkce,
        &[
            ("response_type", "code id_token"),
            ("response_mode", "form_post"),
            ("nonce", "n-42"),
        ],
    );

    let page = browser.get(&url).await;

    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="https://rp.test/cb""#), "{html}");
    let (code, id_token) = (hidden_field(&html, "code"), hidden_field(&html, "id_token"));
    assert_eq!(hidden_field(&html, "state"), "s1");
    assert_eq!(hidden_field(&html, "iss"), app.issuer);
    let claims = jwt_payload(&id_token);
    assert_eq!(claims["c_hash"], expected_c_hash(&code));
    assert_eq!(claims["nonce"], "n-42");
    assert_eq!(claims["aud"], client.id.as_str());
    let exchanged: Value = app
        .exchange_code(&client, &code, &pkce.verifier)
        .await
        .json()
        .await
        .unwrap();
    let back_channel = jwt_payload(exchanged["id_token"].as_str().unwrap());
    assert_eq!(back_channel["nonce"], "n-42");
    assert_eq!(back_channel["sub"], claims["sub"]);
}

/// The first answer of /oauth2/authorize for these parameters, from a fresh browser.
async fn answer(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> String {
    location(
        &Browser::new(app)
            .get(&authorize_url(app, client, &Pkce::new(), extra))
            .await,
    )
}

#[tokio::test]
async fn a_client_that_did_not_enable_the_hybrid_flow_gets_unauthorized_client() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);

    let stop = answer(
        &app,
        &client,
        &[("response_type", "code id_token"), ("nonce", "n")],
    )
    .await;

    assert_eq!(
        query_params(&stop).get("error").map(String::as_str),
        Some("unauthorized_client"),
        "{stop}"
    );
}

#[tokio::test]
async fn the_hybrid_flow_requires_a_nonce_and_answers_its_errors_in_the_fragment() {
    let app = spawn_app().await;
    let client = hybrid_client(&app);

    let stop = answer(&app, &client, &[("response_type", "code id_token")]).await;

    assert!(stop.starts_with("https://rp.test/cb#"), "{stop}");
    let params = fragment_params(&stop);
    assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"));
    assert_eq!(params.get("state").map(String::as_str), Some("s1"));
}

#[tokio::test]
async fn an_id_token_never_travels_in_the_query() {
    let app = spawn_app().await;
    let client = hybrid_client(&app);

    let stop = answer(
        &app,
        &client,
        &[
            ("response_type", "code id_token"),
            ("nonce", "n"),
            ("response_mode", "query"),
        ],
    )
    .await;

    assert_eq!(
        query_params(&stop).get("error").map(String::as_str),
        Some("invalid_request"),
        "{stop}"
    );
}

#[tokio::test]
async fn implicit_response_types_are_not_offered_even_to_hybrid_clients() {
    let app = spawn_app().await;
    let client = hybrid_client(&app);

    for response_type in [
        "token",
        "id_token",
        "id_token token",
        "code token",
        "code id_token token",
    ] {
        let stop = answer(&app, &client, &[("response_type", response_type), ("nonce", "n")]).await;
        assert_eq!(
            query_params(&stop).get("error").map(String::as_str),
            Some("unsupported_response_type"),
            "{response_type}: {stop}"
        );
    }
}
