//! Races and abuse found in review: concurrent rotation and revocation of one family, a disabled
//! user's outstanding codes, lock-out attempts against clients and users, NUL bytes, a client
//! deleted while still cached.

use auth_server::admin::clients::ClientSpec;
use serde_json::Value;

use crate::helpers::*;

/// Whether any token issued in a refresh response is still usable.
async fn still_works(
    app: &TestApp,
    client: &TestClient,
    introspector: &TestClient,
    response: reqwest::Response,
) -> bool {
    if response.status() != 200 {
        return false;
    }
    let issued = tokens(response).await;
    let access_active = app.introspect(introspector, &issued.access_token).await["active"] == true;
    let refresh_works = app
        .refresh(client, issued.refresh_token.as_deref().unwrap())
        .await
        .status()
        == 200;
    access_active || refresh_works
}

#[tokio::test]
async fn reusing_a_retired_refresh_token_during_a_rotation_never_leaves_a_live_token() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    for round in 0..10 {
        let first = app.tokens_for_alice(&client, "read").await;
        let retired = first.refresh_token.unwrap();
        let current = tokens(app.refresh(&client, &retired).await)
            .await
            .refresh_token
            .unwrap();

        // The thief replays the retired token while the legitimate client rotates the current one.
        let (rotation, replay) = tokio::join!(app.refresh(&client, &current), app.refresh(&client, &retired));

        assert_eq!(replay.status(), 400, "round {round}: the replay is refused");
        assert!(
            !still_works(&app, &client, &introspector, rotation).await,
            "round {round}: the family is revoked, including what the rotation minted"
        );
    }
}

#[tokio::test]
async fn revoking_a_family_during_a_rotation_never_leaves_a_live_token() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    for round in 0..10 {
        let current = app.tokens_for_alice(&client, "read").await.refresh_token.unwrap();

        let (rotation, revocation) =
            tokio::join!(app.refresh(&client, &current), app.revoke(&client, &current));

        assert_eq!(revocation.status(), 200);
        assert!(
            !still_works(&app, &client, &introspector, rotation).await,
            "round {round}"
        );
    }
}

/// The races above, with the interleaving forced: the rotation sleeps in the insert of its new
/// refresh token (after its checks, before its commit) while the replay or the revocation runs.
/// Without the lock on the family's grant row, they would finish during the sleep and the rotation
/// would then commit a live token into a revoked family.
#[tokio::test]
async fn a_replay_or_a_revocation_while_a_rotation_inserts_its_new_token_revokes_that_token_too() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let first = app.tokens_for_alice(&client, "read").await;
    let retired = first.refresh_token.unwrap();
    let current = tokens(app.refresh(&client, &retired).await)
        .await
        .refresh_token
        .unwrap();
    let other_family = app.tokens_for_alice(&client, "read").await.refresh_token.unwrap();
    slow_inserts_into(&app, "refresh_tokens");

    let (rotation, replay) = tokio::join!(app.refresh(&client, &current), async {
        wait_for_the_sleeping_insert(&app).await;
        app.refresh(&client, &retired).await
    });
    assert_eq!(replay.status(), 400, "the replay is refused");
    assert!(
        !still_works(&app, &client, &introspector, rotation).await,
        "the replay revoked the family, including what the rotation minted"
    );

    let (rotation, revocation) = tokio::join!(app.refresh(&client, &other_family), async {
        wait_for_the_sleeping_insert(&app).await;
        app.revoke(&client, &other_family).await
    });
    assert_eq!(revocation.status(), 200);
    assert!(
        !still_works(&app, &client, &introspector, rotation).await,
        "the revocation revoked the family, including what the rotation minted"
    );
}

#[tokio::test]
async fn a_disabled_user_s_unredeemed_code_and_refresh_token_stop_working() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;
    let earlier = app.tokens_for_alice(&client, "read").await;

    auth_server::admin::users::disable(&mut app.conn(), "alice").unwrap();

    assert_oauth_error(
        app.exchange_code(&client, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        app.refresh(&client, earlier.refresh_token.as_deref().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn failed_secrets_from_one_address_do_not_lock_the_client_out_elsewhere() {
    let app = spawn_app_with(|settings| {
        settings.throttle.client_authentication.max_failures = 3;
        settings.throttle.trusted_proxies = 1;
    })
    .await;
    app.create_scope("read");
    let client = app.create_client(service_client_spec("read"));
    let secret = client.secret.clone().unwrap();
    let from = |address: &'static str, secret: String| {
        let request = app
            .http
            .post(app.url("/oauth2/token"))
            .header("x-forwarded-for", address)
            .basic_auth(&client.id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap() }
    };
    for _ in 0..3 {
        assert_eq!(from("203.0.113.66", "ocs_guess".into()).await.status(), 401);
    }

    let attacker = from("203.0.113.66", secret.clone()).await;
    let legitimate = from("198.51.100.7", secret).await;

    let body = assert_oauth_error(attacker, 429, "invalid_client").await;
    assert!(body["error_description"].as_str().unwrap().contains("too many"));
    assert_eq!(legitimate.status(), 200);
}

#[tokio::test]
async fn a_public_client_cannot_be_locked_out_by_junk_secrets() {
    let app = spawn_app_with(|settings| settings.throttle.client_authentication.max_failures = 2).await;
    app.standard_fixture();
    let public = app.create_client(public_web_client_spec());
    for _ in 0..5 {
        let junk = app
            .post_form(
                "/oauth2/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", "ort_x"),
                    ("client_id", &public.id),
                    ("client_secret", "junk"),
                ],
                None,
            )
            .await;
        assert_eq!(junk.status(), 401);
    }

    let genuine = app
        .post_as_client(
            &public,
            "/oauth2/token",
            &[("grant_type", "refresh_token"), ("refresh_token", "ort_x")],
        )
        .await;

    assert_oauth_error(genuine, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_burst_of_parallel_password_guesses_gets_no_more_tries_than_the_limit() {
    let app = spawn_app_with(|settings| settings.throttle.login_per_account_and_ip.max_failures = 5).await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);
    let page = browser.get(&login).await.text().await.unwrap();
    let (request_id, csrf) = (hidden_field(&page, "request"), hidden_field(&page, "csrf_token"));
    let guess = |n: usize| {
        let password = format!("guess-{n}");
        let form = [
            ("request", request_id.clone()),
            ("csrf_token", csrf.clone()),
            ("username", "alice".into()),
            ("password", password),
        ];
        let request = browser.http.post(app.url("/login")).form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    };

    let statuses = futures_util::future::join_all((0..30).map(guess)).await;

    let checked = statuses.iter().filter(|status| **status == 200).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!((checked, refused), (5, 25), "{statuses:?}");
}

#[tokio::test]
async fn a_nul_byte_is_a_client_error_never_a_server_error() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let token = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "a\u{0}b"),
                ("client_secret", "x"),
            ],
            None,
        )
        .await;
    assert_oauth_error(token, 400, "invalid_request").await;

    let page = Browser::new(&app)
        .get("/oauth2/authorize?response_type=code&client_id=a%00b")
        .await;
    assert_eq!(page.status(), 400);
    let state = Browser::new(&app)
        .get(&format!(
            "/oauth2/authorize?response_type=code&client_id={}&state=a%00b\
             &code_challenge={}&code_challenge_method=S256",
            client.id,
            Pkce::new().challenge
        ))
        .await;
    assert_eq!(state.status(), 302);
    assert_eq!(query_params(&location(&state))["error"], "invalid_request");
}

#[tokio::test]
async fn a_client_deleted_while_cached_fails_alone_and_its_neighbours_get_their_tokens() {
    let app = spawn_app_with(|settings| settings.oauth.client_cache_ttl_ms = 60_000).await;
    app.create_scope("read");
    let doomed = app.create_client(service_client_spec("read"));
    let survivor = app.create_client(service_client_spec("read"));
    // Warm the cache with the doomed client, then delete it behind the server's back.
    assert_eq!(app.client_credentials(&doomed, None).await.status(), 200);
    auth_server::admin::clients::delete(&mut app.conn(), &doomed.id).unwrap();

    let requests =
        (0..40).map(|n| app.client_credentials(if n % 2 == 0 { &doomed } else { &survivor }, None));
    let responses = futures_util::future::join_all(requests).await;

    for (n, response) in responses.into_iter().enumerate() {
        if n % 2 == 0 {
            assert_oauth_error(response, 401, "invalid_client").await;
        } else {
            assert_eq!(response.status(), 200);
            assert!(response.json::<Value>().await.unwrap()["access_token"].is_string());
        }
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_refused_without_reading_the_body() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("content-type", "application/json")
        .body(vec![b'x'; 1024 * 1024])
        .send()
        .await
        .unwrap();

    assert_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn two_first_consents_at_once_are_both_remembered() {
    let app = spawn_app().await;
    for scope in ["read", "write", "admin"] {
        app.create_scope(scope);
    }
    let client = app.create_client(ClientSpec { ..web_client_spec() });
    app.create_user("carol", "carol-password", "read write");
    let browser = Browser::new(&app);
    let first = location(&browser.start(&client, "read", &Pkce::new(), "a").await);
    let consent_a = location(&browser.submit_login(&first, "carol", "carol-password").await);
    let consent_b = location(&browser.start(&client, "write", &Pkce::new(), "b").await);
    assert!(consent_b.starts_with("/consent"), "{consent_b}");

    let (a, b) = tokio::join!(
        browser.submit_consent(&consent_a, "allow"),
        browser.submit_consent(&consent_b, "allow")
    );

    assert_eq!(
        (a.status(), b.status()),
        (reqwest::StatusCode::SEE_OTHER, reqwest::StatusCode::SEE_OTHER)
    );
    let again = browser.start(&client, "read write", &Pkce::new(), "c").await;
    assert!(
        location(&again).starts_with("https://client.test/cb?code="),
        "both consents were merged"
    );
}

#[tokio::test]
async fn control_characters_in_basic_credentials_are_invalid_client_not_a_server_error() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    let app = spawn_app().await;
    app.create_scope("read");
    let client = app.create_client(service_client_spec("read"));
    for credentials in [
        format!("{}\u{0}x:secret", client.id),
        format!("{}%00x:secret", client.id),
        "evil%0Aforged-log-line:secret".to_owned(),
        format!("{}:se%00cret", client.id),
    ] {
        let response = app
            .http
            .post(app.url("/oauth2/token"))
            .header(
                "authorization",
                format!("Basic {}", STANDARD.encode(&credentials)),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();

        assert_oauth_error(response, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn a_disabled_user_s_tokens_introspect_inactive_even_if_none_was_revoked() {
    use diesel::RunQueryDsl;

    let app = spawn_app().await;
    let client = app.standard_fixture();
    let tokens = app.tokens_for_alice(&client, "read").await;
    // The flag alone, as a disable racing something could leave it: no family revoked.
    diesel::sql_query("UPDATE users SET disabled = TRUE WHERE username = 'alice'")
        .execute(&mut app.conn())
        .unwrap();

    let introspector = app.introspector();
    for token in [
        tokens.access_token.as_str(),
        tokens.refresh_token.as_deref().unwrap(),
    ] {
        assert_eq!(app.introspect(&introspector, token).await["active"], false);
    }
}
