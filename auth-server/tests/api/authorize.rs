//! `GET /oauth2/authorize`: what is shown as a page, what goes back to the client, and how.

use auth_server::admin::clients::ClientSpec;
use auth_server::domain::grant_type::GrantType;

use crate::helpers::*;

fn authorize_query(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    format!("/oauth2/authorize?{}", query.finish())
}

/// A valid request for `client`, with `overrides` replacing or adding parameters.
pub(crate) fn request_for(client: &TestClient, pkce: &Pkce, overrides: &[(&'static str, &str)]) -> String {
    let mut pairs: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", client.id.clone()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("scope", "read".into()),
        ("state", "s1".into()),
        ("code_challenge", pkce.challenge.clone()),
        ("code_challenge_method", "S256".into()),
    ];
    for (name, value) in overrides {
        match pairs.iter_mut().find(|(existing, _)| existing == name) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((name, value.to_string())),
        }
    }
    pairs.retain(|(_, value)| value != "<omit>");
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    authorize_query(&borrowed)
}

async fn assert_error_page(response: reqwest::Response) {
    assert_eq!(response.status(), 400);
    assert!(
        response.headers().get("location").is_none(),
        "an error page never redirects"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn redirect_uris_that_differ_in_any_way_get_an_error_page_and_no_redirect() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    for near_miss in [
        "https://client.test/cb/",
        "https://CLIENT.test/cb",
        "HTTPS://client.test/cb",
        "https://client.test/cb?x=1",
        "https://client.test/cb#f",
        "https://client.test/cb/../cb",
        "https://client.test/cb%2F..%2F",
        "https://client.test:443/cb",
        "https://client.test:8443/cb",
        "https://evil.test/cb",
    ] {
        let response = Browser::new(&app)
            .get(&request_for(&client, &pkce, &[("redirect_uri", near_miss)]))
            .await;
        assert_error_page(response).await;
    }
}

#[tokio::test]
async fn a_registered_query_component_must_be_repeated_exactly() {
    let app = spawn_app().await;
    app.standard_fixture();
    let client = app.create_client(ClientSpec {
        redirect_uris: vec!["https://client.test/cb?foo=bar".into()],
        ..web_client_spec()
    });
    let pkce = Pkce::new();
    let browser = Browser::new(&app);

    let exact = browser.get(&request_for(&client, &pkce, &[])).await;
    assert_eq!(exact.status(), 303);
    assert!(location(&exact).starts_with("/login?request="));
    for wrong in [
        "https://client.test/cb?foo=bar&x=y",
        "https://client.test/cb?foo=bara",
        "https://client.test/cb",
    ] {
        assert_error_page(
            browser
                .get(&request_for(&client, &pkce, &[("redirect_uri", wrong)]))
                .await,
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_or_missing_client_gets_an_error_page() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let browser = Browser::new(&app);

    assert_error_page(
        browser
            .get(&request_for(&client, &pkce, &[("client_id", "nope")]))
            .await,
    )
    .await;
    assert_error_page(
        browser
            .get(&request_for(&client, &pkce, &[("client_id", "<omit>")]))
            .await,
    )
    .await;
    let repeated = format!("{}&client_id={}", request_for(&client, &pkce, &[]), client.id);
    assert_error_page(browser.get(&repeated).await).await;
}

#[tokio::test]
async fn with_several_registered_uris_the_request_must_name_one() {
    let app = spawn_app().await;
    app.standard_fixture();
    let client = app.create_client(ClientSpec {
        redirect_uris: vec!["https://client.test/a".into(), "https://client.test/b".into()],
        ..web_client_spec()
    });
    let pkce = Pkce::new();

    let response = Browser::new(&app)
        .get(&request_for(&client, &pkce, &[("redirect_uri", "<omit>")]))
        .await;

    assert_error_page(response).await;
}

#[tokio::test]
async fn with_one_registered_uri_the_request_may_omit_it_and_then_the_token_request_may_too() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let browser = Browser::new(&app);

    let response = browser
        .get(&request_for(&client, &pkce, &[("redirect_uri", "<omit>")]))
        .await;
    let response = browser
        .submit_login(&location(&response), "alice", "alice-password")
        .await;
    let response = browser.submit_consent(&location(&response), "allow").await;
    let redirect = location(&response);
    assert!(redirect.starts_with("https://client.test/cb?code="));
    let code = query_params(&redirect)["code"].clone();

    let exchange = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(exchange.status(), 200);
}

pub(crate) async fn assert_error_redirect(
    app: &TestApp,
    response: reqwest::Response,
    error: &str,
    state: Option<&str>,
) {
    assert_eq!(response.status(), 302, "errors go back to the client");
    let location = location(&response);
    assert!(location.starts_with("https://client.test/cb?"), "{location}");
    let params = query_params(&location);
    assert_eq!(params.get("error").map(String::as_str), Some(error), "{location}");
    assert_eq!(params.get("state").map(String::as_str), state, "{location}");
    assert_eq!(params.get("iss"), Some(&app.issuer), "{location}");
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn protocol_errors_go_back_to_the_client_with_state_and_iss() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let browser = Browser::new(&app);
    let cases: [(&[(&'static str, &str)], &str); 5] = [
        (&[("scope", "nope")], "invalid_scope"),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "<omit>")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "<omit>")], "invalid_request"),
    ];
    for (overrides, error) in cases {
        let response = browser.get(&request_for(&client, &pkce, overrides)).await;
        assert_error_redirect(&app, response, error, Some("s1")).await;
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let request = format!("{}&scope=write", request_for(&client, &pkce, &[]));

    let response = Browser::new(&app).get(&request).await;

    assert_error_redirect(&app, response, "invalid_request", Some("s1")).await;
}

#[tokio::test]
async fn a_repeated_state_cannot_be_echoed_so_the_error_carries_none() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let request = format!("{}&state=s2", request_for(&client, &pkce, &[]));

    let response = Browser::new(&app).get(&request).await;

    assert_error_redirect(&app, response, "invalid_request", None).await;
}

#[tokio::test]
async fn an_oversized_state_or_nonce_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let browser = Browser::new(&app);
    let (long_state, long_nonce) = ("s".repeat(2049), "n".repeat(513));

    let state = browser
        .get(&request_for(&client, &pkce, &[("state", &long_state)]))
        .await;
    let nonce = browser
        .get(&request_for(&client, &pkce, &[("nonce", &long_nonce)]))
        .await;
    let within = browser
        .get(&request_for(&client, &pkce, &[("state", &"s".repeat(2048))]))
        .await;

    // An oversized state is not echoed (like a repeated one); a nonce's error carries the state.
    assert_error_redirect(&app, state, "invalid_request", None).await;
    assert_error_redirect(&app, nonce, "invalid_request", Some("s1")).await;
    assert!(location(&within).contains("/login"), "2048 bytes are accepted");
    let stored = app.count("SELECT count(*) AS count FROM authorization_requests");
    assert_eq!(stored, 1, "only the request within the limits is pending");
}

#[tokio::test]
async fn the_state_comes_back_byte_for_byte_with_the_code_and_iss() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let state = "a&b=c+d/e%f \u{e9}\u{1F600}";
    let browser = Browser::new(&app);

    let response = browser.start(&client, "read", &pkce, state).await;
    let response = browser
        .submit_login(&location(&response), "alice", "alice-password")
        .await;
    let response = browser.submit_consent(&location(&response), "allow").await;

    let params = query_params(&location(&response));
    assert_eq!(params["state"], state);
    assert_eq!(params["iss"], app.issuer);
    assert!(params["code"].starts_with("oac_"));
}

#[tokio::test]
async fn a_loopback_ip_redirect_uri_accepts_any_port_and_the_code_goes_to_that_port() {
    let app = spawn_app().await;
    app.standard_fixture();
    let native = app.create_client(ClientSpec {
        public: true,
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        ..web_client_spec()
    });
    let pkce = Pkce::new();
    let browser = Browser::new(&app);
    let requested = "http://127.0.0.1:51234/callback";

    let response = browser
        .get(&request_for(&native, &pkce, &[("redirect_uri", requested)]))
        .await;
    let response = browser
        .submit_login(&location(&response), "alice", "alice-password")
        .await;
    let response = browser.submit_consent(&location(&response), "allow").await;

    assert!(location(&response).starts_with("http://127.0.0.1:51234/callback?code="));
    let elsewhere = browser
        .get(&request_for(
            &native,
            &pkce,
            &[("redirect_uri", "http://127.0.0.1:51234/other")],
        ))
        .await;
    assert_error_page(elsewhere).await;
}

#[tokio::test]
async fn the_granted_scope_is_what_was_asked_and_the_client_and_user_may_have() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    app.create_user("bob", "bob-password", "read");

    // admin is in the catalogue but the client may not ask for it; bob may not hold write.
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "bob", "bob-password", "read write admin", &pkce)
        .await;
    let issued = tokens(app.exchange_code(&client, &code, &pkce.verifier).await).await;

    assert_eq!(issued.scope, "read");
}

#[tokio::test]
async fn without_a_session_the_browser_is_sent_to_the_login_page_with_a_binding_cookie() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let response = Browser::new(&app).start(&client, "read", &Pkce::new(), "s").await;

    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?request=oar_"));
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("auth_browser=obr_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_client_not_registered_for_the_code_flow_is_unauthorized_client() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let machine = app.create_client(ClientSpec {
        name: "Machine".into(),
        grant_types: vec![GrantType::ClientCredentials],
        ..Default::default()
    });
    // It has no redirect URI, so the error cannot go back: the user sees a page.
    let pkce = Pkce::new();
    let request = request_for(
        &TestClient {
            redirect_uri: client.redirect_uri.clone(),
            ..machine
        },
        &pkce,
        &[],
    );

    assert_error_page(Browser::new(&app).get(&request).await).await;
}
