//! The authorization code grant: the whole flow, single use, replay, concurrency, PKCE binding.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_full_flow_issues_tokens_with_the_granted_scope() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();

    let tokens = app.tokens_for_alice(&client, "read").await;

    assert_eq!(tokens.scope, "read");
    assert!(tokens.access_token.starts_with("oat_"));
    assert!(tokens.refresh_token.as_deref().unwrap().starts_with("ort_"));
    let introspection = app.introspect(&introspector, &tokens.access_token).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["username"], "alice");
    assert_eq!(introspection["scope"], "read");
    assert_eq!(introspection["client_id"], client.id.as_str());
}

#[tokio::test]
async fn the_token_response_follows_rfc_6749() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read write", &pkce)
        .await;

    let response = app.exchange_code(&client, &code, &pkce.verifier).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read write");
}

#[tokio::test]
async fn a_code_can_be_redeemed_only_once_and_a_valid_replay_revokes_its_tokens() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;
    let first = tokens(app.exchange_code(&client, &code, &pkce.verifier).await).await;

    let replay = app.exchange_code(&client, &code, &pkce.verifier).await;

    assert_eq!(replay.status(), 400);
    assert_eq!(replay.headers()["cache-control"], "no-store");
    assert_eq!(replay.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        app.introspect(&introspector, &first.access_token).await,
        serde_json::json!({"active": false})
    );
    let refresh = app
        .refresh(&client, first.refresh_token.as_deref().unwrap())
        .await;
    assert_eq!(refresh.status(), 400);
}

#[tokio::test]
async fn a_replay_with_a_wrong_verifier_revokes_nothing() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;
    let first = tokens(app.exchange_code(&client, &code, &pkce.verifier).await).await;

    let attacker = app.exchange_code(&client, &code, &Pkce::new().verifier).await;

    assert_eq!(attacker.status(), 400);
    assert_eq!(attacker.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        app.introspect(&introspector, &first.access_token).await["active"],
        true
    );
}

#[tokio::test]
async fn twenty_concurrent_redemptions_of_one_code_give_exactly_one_success() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;

    let attempts = (0..20).map(|_| app.exchange_code(&client, &code, &pkce.verifier));
    let responses = futures_util::future::join_all(attempts).await;

    let statuses: Vec<u16> = responses
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 400).count(),
        19,
        "{statuses:?}"
    );
    let families: i64 = app.with_db(|conn| {
        use diesel::prelude::*;
        auth_server::db::schema::grants::table
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(families, 1, "one token family was created");
}

#[tokio::test]
async fn a_code_is_bound_to_the_client_it_was_issued_to() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let other = app.create_client(web_client_spec());
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;

    let stolen = app
        .exchange_code(
            &TestClient {
                redirect_uri: client.redirect_uri.clone(),
                ..other
            },
            &code,
            &pkce.verifier,
        )
        .await;

    assert_eq!(stolen.status(), 400);
    assert_eq!(stolen.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        app.exchange_code(&client, &code, &pkce.verifier).await.status(),
        200,
        "the right client still can"
    );
}

#[tokio::test]
async fn the_redirect_uri_of_the_token_request_must_match_the_authorization_request() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;

    for redirect_uri in [None, Some("https://client.test/other")] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", &pkce.verifier),
        ];
        form.extend(redirect_uri.map(|uri| ("redirect_uri", uri)));
        let response = app.token(&client, &form).await;
        assert_eq!(response.status(), 400, "{redirect_uri:?}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_invalid_grant_and_the_code_survives() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;

    let wrong = app.exchange_code(&client, &code, &Pkce::new().verifier).await;
    let missing = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await;

    for response in [wrong, missing] {
        assert_eq!(response.status(), 400);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
    // Policy: a failed verifier does not burn the code, so a thief cannot deny the real client.
    assert_eq!(
        app.exchange_code(&client, &code, &pkce.verifier).await.status(),
        200
    );
}

#[tokio::test]
async fn malformed_verifiers_are_refused() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;

    for verifier in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+", "a".repeat(42)),
        format!("{}=", "a".repeat(42)),
    ] {
        let response = app.exchange_code(&client, &code, &verifier).await;
        assert_eq!(response.status(), 400, "{verifier}");
    }
}

#[tokio::test]
async fn an_expired_code_is_rejected() {
    let app = spawn_app_with(|settings| settings.tokens.authorization_code_ttl_secs = 0).await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;

    let response = app.exchange_code(&client, &code, &pkce.verifier).await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn an_unknown_code_is_invalid_grant() {
    let app = spawn_app().await;
    let client = app.standard_fixture();

    let response = app
        .exchange_code(&client, "oac_not-a-real-code", &Pkce::new().verifier)
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn codes_and_tokens_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    let code = app
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;
    let issued = tokens(app.exchange_code(&client, &code, &pkce.verifier).await).await;

    let dump = app.with_db(|conn| {
        use auth_server::db::schema::*;
        use diesel::prelude::*;
        let codes: Vec<String> = authorization_codes::table
            .select(authorization_codes::code_hash)
            .load(conn)
            .unwrap();
        let access: Vec<String> = access_tokens::table
            .select(access_tokens::token_hash)
            .load(conn)
            .unwrap();
        let refresh: Vec<String> = refresh_tokens::table
            .select(refresh_tokens::token_hash)
            .load(conn)
            .unwrap();
        [codes, access, refresh].concat().join("\n")
    });
    for secret in [
        &code,
        &issued.access_token,
        issued.refresh_token.as_ref().unwrap(),
        client.secret.as_ref().unwrap(),
    ] {
        assert!(!dump.contains(secret.as_str()));
        assert!(
            dump.contains(auth_server::domain::opaque_token::hash(secret).as_str())
                || secret.starts_with("ocs_")
        );
    }
}
