//! A real relying-party library (the `openidconnect` crate) signs a user in against our server with
//! nothing special-cased: discovery, the code flow with PKCE and a nonce, id_token signature and
//! claim validation (at_hash included), and userinfo.

use auth_server::domain::signing_alg::SigningAlgorithm;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use super::*;

async fn sign_in_with_openidconnect(app: &TestApp, registered: &TestClient, alg: CoreJwsSigningAlgorithm) {
    let http = rp_http(no_redirect_client(false));
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
        .await
        .expect("discovery succeeds");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new(app);
    let done = through_login_and_consent(&browser, authorize_url.as_str(), "alice", "alice-password").await;
    let params = query_params(&done);
    assert_eq!(params.get("state"), Some(csrf.secret()));
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("discovery gave a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");

    let id_token = tokens.id_token().expect("an id_token with the openid scope");
    let id_token_verifier = client.id_token_verifier().set_allowed_algs([alg.clone()]);
    let claims = id_token
        .claims(&id_token_verifier, &nonce)
        .expect("the id_token verifies: signature, iss, aud, exp, nonce");
    assert_eq!(claims.subject().as_str(), app.user_id("alice"));
    assert_eq!(id_token.signing_alg().unwrap(), &alg);
    let expected_at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_token_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_at_hash));
    assert!(claims.auth_time().is_some());

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), Some(claims.subject().clone()))
        .expect("discovery gave a userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo answers");
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(
        userinfo.email().map(|email| email.as_str()),
        Some("alice@example.test")
    );
    assert_eq!(
        userinfo.preferred_username().map(|name| name.as_str()),
        Some("alice")
    );
    let given_name = userinfo
        .given_name()
        .and_then(|name| name.get(None))
        .map(|name| name.as_str());
    assert_eq!(given_name, Some("Alice"));
    assert!(userinfo.phone_number().is_none(), "phone was not asked for");
}

#[tokio::test]
async fn the_openidconnect_crate_signs_a_user_in_with_an_rs256_id_token_and_reads_userinfo() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);

    sign_in_with_openidconnect(&app, &client, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
}

#[tokio::test]
async fn a_client_registered_for_es256_gets_es256_id_tokens_the_library_verifies() {
    let app = spawn_app().await;
    let client = oidc_fixture_with(&app, |spec| {
        spec.id_token_signed_response_alg = Some(SigningAlgorithm::Es256)
    });

    sign_in_with_openidconnect(&app, &client, CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}

#[tokio::test]
async fn a_client_registered_for_eddsa_gets_eddsa_id_tokens_the_library_verifies() {
    let app = spawn_app().await;
    let client = oidc_fixture_with(&app, |spec| {
        spec.id_token_signed_response_alg = Some(SigningAlgorithm::EdDsa)
    });

    sign_in_with_openidconnect(&app, &client, CoreJwsSigningAlgorithm::EdDsa).await;
}
