//! `/oauth2/userinfo`: the three ways to present the token, claims by scope, and the RFC 6750 §3
//! refusals (a bare challenge when no token is presented, `invalid_request` for a malformed one).

use auth_server::configuration::Settings;
use serde_json::Value;

use super::*;

async fn userinfo_get(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

fn access_token(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_answers_get_post_with_the_header_and_post_with_the_body_alike() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let token = access_token(&code_flow_tokens(&app, &client, &[]).await);

    let get: Value = userinfo_get(&app, &token).await.json().await.unwrap();
    let post_header: Value = app
        .http
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post_body = app
        .post_form("/oauth2/userinfo", &[("access_token", &token)], None)
        .await;
    assert_eq!(post_body.status(), 200);
    let post_body: Value = post_body.json().await.unwrap();

    assert_eq!(get["sub"], app.user_id("alice").as_str());
    assert_eq!(get, post_header);
    assert_eq!(get, post_body);
}

#[tokio::test]
async fn userinfo_releases_only_the_claims_of_the_granted_scopes() {
    let app = spawn_app_with(|settings: &mut Settings| {
        settings
            .oidc
            .custom_claims
            .insert("read".into(), vec!["department".into()]);
    })
    .await;
    let client = oidc_fixture(&app);

    let email_only = access_token(&code_flow_tokens(&app, &client, &[("scope", "openid email")]).await);
    let everything = access_token(
        &code_flow_tokens(
            &app,
            &client,
            &[("scope", "openid profile email phone address read")],
        )
        .await,
    );

    let claims: Value = userinfo_get(&app, &email_only).await.json().await.unwrap();
    let names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["email", "email_verified", "sub"], "{claims}");

    let claims: Value = userinfo_get(&app, &everything).await.json().await.unwrap();
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["phone_number"], "+44 20 7946 0000");
    assert_eq!(claims["address"]["locality"], "Oxford");
    assert_eq!(
        claims["department"], "Wonderland",
        "custom claim mapped to `read`"
    );
}

async fn assert_invalid_token(app: &TestApp, response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let expected = format!(
        "Bearer realm=\"{}\", error=\"invalid_token\", error_description=",
        app.issuer
    );
    assert!(challenge.starts_with(&expected), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

/// RFC 6750 §3.1: a request with no authentication information gets a challenge without an
/// error code; the JSON body still names one for clients that read only the body.
async fn assert_bare_challenge(app: &TestApp, response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        format!("Bearer realm=\"{}\"", app.issuer)
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

async fn assert_invalid_request(app: &TestApp, response: reqwest::Response) {
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            "Bearer realm=\"{}\", error=\"invalid_request\", error_description=\"the request is malformed\"",
            app.issuer
        )
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn userinfo_answers_a_missing_or_query_string_token_with_a_bare_challenge() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let token = access_token(&code_flow_tokens(&app, &client, &[]).await);

    let missing = app.http.get(app.url("/oauth2/userinfo")).send().await.unwrap();
    assert_bare_challenge(&app, missing).await;
    // OAuth 2.1 §5.2: a token in the query string is not read at all.
    let in_query = app
        .http
        .get(app.url(&format!("/oauth2/userinfo?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_bare_challenge(&app, in_query).await;
    let basic = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_bare_challenge(&app, basic).await;
}

#[tokio::test]
async fn userinfo_refuses_a_malformed_header_two_headers_or_a_token_sent_two_ways_with_invalid_request() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let token = access_token(&code_flow_tokens(&app, &client, &[]).await);
    let userinfo = app.url("/oauth2/userinfo");

    let not_token68 = app
        .http
        .get(&userinfo)
        .header("authorization", format!("Bearer {token} extra"))
        .send()
        .await
        .unwrap();
    assert_invalid_request(&app, not_token68).await;
    let twice = app
        .http
        .get(&userinfo)
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_invalid_request(&app, twice).await;
    let header_and_body = app
        .http
        .post(&userinfo)
        .bearer_auth(&token)
        .form(&[("access_token", &token)])
        .send()
        .await
        .unwrap();
    assert_invalid_request(&app, header_and_body).await;
}

#[tokio::test]
async fn userinfo_refuses_an_unknown_or_revoked_token_with_invalid_token() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let token = access_token(&code_flow_tokens(&app, &client, &[]).await);

    assert_invalid_token(&app, userinfo_get(&app, "oat_not-a-real-token").await).await;

    assert_eq!(app.revoke(&client, &token).await.status(), 200);
    assert_invalid_token(&app, userinfo_get(&app, &token).await).await;
}

#[tokio::test]
async fn userinfo_refuses_an_expired_token_with_invalid_token() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let token = access_token(&code_flow_tokens(&app, &client, &[]).await);
    // Expire it in the database rather than waiting for it.
    app.with_db(|conn| {
        use auth_server::db::schema::access_tokens;
        use diesel::prelude::*;
        diesel::update(access_tokens::table)
            .set(
                access_tokens::expires_at
                    .eq(auth_server::domain::time::now() - chrono::TimeDelta::seconds(1)),
            )
            .execute(conn)
            .unwrap();
    });

    assert_invalid_token(&app, userinfo_get(&app, &token).await).await;
}

#[tokio::test]
async fn a_token_without_the_openid_scope_gets_insufficient_scope() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let token = access_token(&code_flow_tokens(&app, &client, &[("scope", "read")]).await);

    let response = userinfo_get(&app, &token).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            "Bearer realm=\"{}\", error=\"insufficient_scope\", \
             error_description=\"the access token was not issued with the openid scope\"",
            app.issuer
        )
    );
}
