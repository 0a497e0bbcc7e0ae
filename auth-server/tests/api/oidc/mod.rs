//! OpenID Connect: discovery, id_tokens, userinfo, keys, prompt, logout, hybrid and the legacy
//! password grant, through HTTP as relying parties and browsers use them.

mod discovery_and_keys;
mod hybrid;
mod key_reseal;
mod key_rotation;
mod logout;
mod password_grant;
mod prompt;
mod relying_party;
mod userinfo;

use auth_server::admin::clients::ClientSpec;
use auth_server::domain::grant_type::GrantType;
use auth_server::domain::ids::UserId;
use serde_json::Value;

use crate::helpers::*;

/// The scopes alice holds and the OIDC client may ask for.
pub const OIDC_SCOPES: &str = "openid profile email phone address read";

/// alice (with a name, a phone number and an address) and a confidential OIDC client.
pub fn oidc_fixture(app: &TestApp) -> TestClient {
    oidc_fixture_with(app, |_| {})
}

/// As `oidc_fixture`, with the client's registration changed by `customize`.
pub fn oidc_fixture_with(app: &TestApp, customize: impl FnOnce(&mut ClientSpec)) -> TestClient {
    app.create_scope("read");
    let alice = UserId::from(app.create_user("alice", "alice-password", OIDC_SCOPES));
    app.with_db(|conn| {
        let now = auth_server::domain::time::now();
        for (claim, value) in [
            ("given_name", r#""Alice""#),
            ("family_name", r#""Liddell""#),
            ("name", r#""Alice Liddell""#),
            ("phone_number", r#""+44 20 7946 0000""#),
            ("address", r#"{"locality":"Oxford","country":"GB"}"#),
            ("department", r#""Wonderland""#),
        ] {
            auth_server::db::user_claims::set(conn, &alice, claim, value, now).unwrap();
        }
    });
    let mut spec = ClientSpec {
        name: "OIDC App".into(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec!["https://rp.test/cb".into()],
        scope: Some(OIDC_SCOPES.into()),
        post_logout_redirect_uris: vec!["https://rp.test/logged-out".into()],
        ..Default::default()
    };
    customize(&mut spec);
    app.create_client(spec)
}

/// The JSON payload of a JWT, without checking anything (tests that check signatures use a library).
pub fn jwt_payload(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON payload")
}

/// The JSON header of a JWT.
pub fn jwt_header(jwt: &str) -> Value {
    use base64::Engine;
    let header = jwt.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON header")
}

/// A code-flow authorization URL (scope `openid profile email`, PKCE, state `s1`); `extra`
/// parameters are added or replace those defaults.
pub fn authorize_url(app: &TestApp, client: &TestClient, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", &client.redirect_uri),
        ("scope", "openid profile email"),
        ("state", "s1"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(existing, _)| existing != name);
        params.push((name, value));
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    app.url(&format!("/oauth2/authorize?{}", query.finish()))
}

/// Follows a browser from `start` through login (if asked) and consent (if asked) to the
/// redirect to the client; returns that final Location.
pub async fn through_login_and_consent(
    browser: &Browser<'_>,
    start: &str,
    username: &str,
    password: &str,
) -> String {
    let mut location = location(&browser.get(start).await);
    if location.starts_with("/login") {
        let response = browser.submit_login(&location, username, password).await;
        assert_eq!(response.status(), 303, "a successful sign-in answers 303");
        location = crate::helpers::location(&response);
    }
    if location.starts_with("/consent") {
        let response = browser.submit_consent(&location, "allow").await;
        assert_eq!(response.status(), 303);
        location = crate::helpers::location(&response);
    }
    location
}

/// Runs the code flow for alice with `extra` parameters and exchanges the code: the token response.
pub async fn code_flow_tokens(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> Value {
    let browser = Browser::new(app);
    let pkce = Pkce::new();
    let done = through_login_and_consent(
        &browser,
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
