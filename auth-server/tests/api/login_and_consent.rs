//! The login and consent pages: headers, CSRF, sessions, throttling, remembered consent.

use auth_server::admin::clients::ClientSpec;

use crate::helpers::*;

#[tokio::test]
async fn the_login_page_cannot_be_framed_cached_or_leak_a_referrer_and_has_stable_fields() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);

    let page = browser.get(&login).await;

    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for field in [
        "name=\"username\" id=\"username\"",
        "name=\"password\" id=\"password\"",
        "name=\"csrf_token\"",
    ] {
        assert!(html.contains(field), "{field}");
    }
    assert!(html.contains("Web App"), "the page names the client");
    assert!(!html.contains("<script"), "the page works without JavaScript");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);

    let wrong_password = browser.submit_login(&login, "alice", "not-her-password").await;
    let unknown_user = browser.submit_login(&login, "mallory", "not-her-password").await;

    assert_eq!(wrong_password.status(), 200);
    assert_eq!(unknown_user.status(), 200);
    assert!(wrong_password.headers().get("set-cookie").is_none());
    let (first, second) = (
        wrong_password.text().await.unwrap(),
        unknown_user.text().await.unwrap(),
    );
    assert!(first.contains("Incorrect username or password."));
    assert_eq!(
        first.replace("alice", "mallory"),
        second,
        "the pages differ only by the echoed username"
    );
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_no_session_starts() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);
    let request_id = query_params(&login)["request"].clone();

    let forged = browser
        .post(
            "/login",
            &[
                ("request", &request_id),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;

    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_request_started_in_one_browser_cannot_be_completed_in_another() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let victim = Browser::new(&app);
    let attacker = Browser::new(&app);
    let login = location(&attacker.start(&client, "read", &Pkce::new(), "s").await);
    let page = attacker.get(&login).await.text().await.unwrap();
    let (request_id, csrf) = (hidden_field(&page, "request"), hidden_field(&page, "csrf_token"));

    let response = victim
        .post(
            "/login",
            &[
                ("request", &request_id),
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;

    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn signing_in_answers_303_and_sets_a_new_http_only_session_cookie_each_time() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);
        let login = if login.starts_with("/login") {
            login
        } else {
            panic!("expected the login page, got {login}")
        };
        let response = browser.submit_login(&login, "alice", "alice-password").await;
        assert_eq!(response.status(), 303);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("auth_session=oss_"), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        sessions.push(cookie.split(';').next().unwrap().to_owned());
        // Force the login page again next round: a new browser binding is not needed, the session is
        // replaced at the next sign-in.
        let consent = location(&response);
        browser.submit_consent(&consent, "deny").await;
        browser.http.get(app.url("/healthz")).send().await.unwrap();
        break_session(&app);
    }
    assert_ne!(
        sessions[0], sessions[1],
        "the session id changes at every sign-in"
    );
}

/// Expires every session, so the next authorization shows the login page again.
fn break_session(app: &TestApp) {
    use auth_server::db::schema::login_sessions;
    use diesel::prelude::*;
    app.with_db(|conn| {
        diesel::update(login_sessions::table)
            .set(
                login_sessions::expires_at.eq(chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()),
            )
            .execute(conn)
            .unwrap()
    });
}

#[tokio::test]
async fn repeated_failures_for_one_account_block_it_even_for_the_right_password() {
    let app = spawn_app_with(|settings| settings.throttle.login_per_account_and_ip.max_failures = 3).await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);
    for _ in 0..3 {
        assert_eq!(
            browser
                .submit_login(&login, "alice", "wrong-password")
                .await
                .status(),
            200
        );
    }

    let blocked = browser.submit_login(&login, "alice", "alice-password").await;

    assert_eq!(blocked.status(), 429);
    let retry_after: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    assert!(blocked.headers().get("set-cookie").is_none());
    // Another account from the same address is not blocked by alice's limit.
    app.create_user("bob", "bob-password", "read");
    assert_eq!(
        browser.submit_login(&login, "bob", "bob-password").await.status(),
        303
    );
}

#[tokio::test]
async fn many_failures_from_one_address_block_every_account() {
    let app = spawn_app_with(|settings| settings.throttle.login_per_ip.max_failures = 4).await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);
    for user in ["u1", "u2", "u3", "u4"] {
        browser.submit_login(&login, user, "guess").await;
    }

    assert_eq!(
        browser
            .submit_login(&login, "alice", "alice-password")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    auth_server::admin::users::disable(&mut app.conn(), "alice").unwrap();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);

    let response = browser.submit_login(&login, "alice", "alice-password").await;

    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Incorrect username or password.")
    );
}

#[tokio::test]
async fn the_consent_page_lists_the_scopes_with_their_descriptions() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read write", &Pkce::new(), "s").await);
    let consent = location(&browser.submit_login(&login, "alice", "alice-password").await);

    let page = browser.get(&consent).await;

    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("Lets the app read your data") && html.contains("Lets the app write your data"));
    assert!(
        html.contains("name=\"decision\" value=\"allow\"")
            && html.contains("name=\"decision\" value=\"deny\"")
    );
}

#[tokio::test]
async fn denying_consent_sends_access_denied_to_the_client() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "st").await);
    let consent = location(&browser.submit_login(&login, "alice", "alice-password").await);

    let response = browser.submit_consent(&consent, "deny").await;

    assert_eq!(response.status(), 303);
    let params = query_params(&location(&response));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st");
    assert_eq!(params["iss"], app.issuer);
}

#[tokio::test]
async fn consent_is_remembered_for_the_same_scopes_and_asked_again_for_new_ones() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    browser
        .sign_in_and_consent(&client, "alice", "alice-password", "read", &Pkce::new())
        .await;

    let again = browser.start(&client, "read", &Pkce::new(), "s2").await;
    assert!(
        location(&again).starts_with("https://client.test/cb?code="),
        "no login and no consent the second time"
    );

    let wider = browser.start(&client, "read write", &Pkce::new(), "s3").await;
    assert!(
        location(&wider).starts_with("/consent?request="),
        "a new scope needs consent"
    );
}

#[tokio::test]
async fn a_first_party_client_skips_consent() {
    let app = spawn_app().await;
    app.standard_fixture();
    let first_party = app.create_client(ClientSpec {
        skip_consent: true,
        ..web_client_spec()
    });
    let browser = Browser::new(&app);
    let login = location(&browser.start(&first_party, "read", &Pkce::new(), "s").await);

    let response = browser.submit_login(&login, "alice", "alice-password").await;

    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("https://client.test/cb?code="));
}

#[tokio::test]
async fn hidden_fields_added_to_the_consent_form_change_nothing_and_a_second_submit_issues_nothing() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let pkce = Pkce::new();
    let login = location(&browser.start(&client, "read", &pkce, "s").await);
    let consent = location(&browser.submit_login(&login, "alice", "alice-password").await);
    let page = browser.get(&consent).await.text().await.unwrap();
    let (request_id, csrf) = (hidden_field(&page, "request"), hidden_field(&page, "csrf_token"));
    let tampered = [
        ("request", request_id.as_str()),
        ("csrf_token", csrf.as_str()),
        ("decision", "allow"),
        ("scope", "read write admin"),
        ("redirect_uri", "https://evil.test/cb"),
        ("client_id", "someone-else"),
    ];

    let response = browser.post("/consent", &tampered).await;
    let redirect = location(&response);
    assert!(redirect.starts_with("https://client.test/cb?code="), "{redirect}");
    let issued = tokens(
        app.exchange_code(&client, &query_params(&redirect)["code"], &pkce.verifier)
            .await,
    )
    .await;
    assert_eq!(issued.scope, "read");

    let second = browser.post("/consent", &tampered).await;
    assert_eq!(second.status(), 400);
    assert!(second.headers().get("location").is_none());
}

#[tokio::test]
async fn the_pages_answer_other_methods_with_405() {
    let app = spawn_app().await;
    let response = app.http.delete(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn a_client_the_user_never_agreed_to_asks_for_consent_even_when_no_scope_is_at_stake() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    app.create_user("dave", "dave-password", "");
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);

    let response = browser.submit_login(&login, "dave", "dave-password").await;

    assert!(
        location(&response).starts_with("/consent?request="),
        "the user decides whether the app may know them"
    );
}
