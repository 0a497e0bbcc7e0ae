//! The jobs-service's purge and the auth-server's refresh-token reuse detection, together on one
//! database: after a purge inside the retention window, presenting an already rotated refresh
//! token through the real token endpoint is still recognised as reuse and revokes its family.

use auth_server::domain::grant_type::GrantType;
use std::net::TcpListener;
use std::sync::Arc;

use auth_server::admin;
use auth_server::domain::opaque_token::{self, TokenKind};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use jobs_service::jobs::{self, Job, RunOutcome};
use secrecy::SecretString;
use serde_json::Value;
use shared::configuration::Layered;
use shared::testing::TestDatabase;

#[derive(QueryableByName)]
struct Revocation {
    #[diesel(sql_type = Nullable<Text>)]
    revoked_reason: Option<String>,
}

/// The `keys.encryption_key` of this test (base64 of 32 bytes).
const KEY_ENCRYPTION_KEY: &str = "ZTJlLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5LTMyYnk=";

#[tokio::test]
async fn a_rotated_refresh_token_presented_after_a_purge_inside_the_retention_still_revokes_its_family() {
    // The auth-server (which migrates its schema on start), then the jobs-service's tables.
    let database = TestDatabase::create();
    let mut auth_settings = auth_server::configuration::Settings::defaults().unwrap();
    auth_settings.database.url = SecretString::from(database.url.clone());
    auth_settings.workers = 1;
    auth_settings.outbox.relay_enabled = false; // The security alert stays in the outbox here.
    auth_settings.keys.encryption_key = Some(SecretString::from(KEY_ENCRYPTION_KEY.to_owned()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let auth = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    auth_settings.issuer = auth.clone();
    let application = auth_server::startup::Application::build_with_listener(auth_settings.clone(), listener)
        .await
        .unwrap();
    tokio::spawn(application.run_until_stopped());
    let mut conn = database.connect();
    shared::db::run_migrations(&mut conn, jobs_service::db::MIGRATIONS).unwrap();

    // A web client, a user, and a family whose first refresh token was rotated a while ago and
    // has expired since (a day ago, inside the 14-day retention); its successor is alive.
    admin::scopes::create(&mut conn, "read", "Read").unwrap();
    let client = admin::clients::create(
        &mut conn,
        &admin::clients::ClientSpec {
            name: "Web".into(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            redirect_uris: vec!["https://client.test/cb".into()],
            scope: Some("read".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let rotated = opaque_token::generate(TokenKind::RefreshToken);
    let current = opaque_token::generate(TokenKind::RefreshToken);
    conn.batch_execute(&format!(
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at, email_verified_at) \
         VALUES ('u1', 'alice', 'alice@example.test', 'x', now(), now(), now()); \
         INSERT INTO grants (id, client_id, user_id, scope, created_at) \
         VALUES ('family', '{client_id}', 'u1', 'read', now() - interval '40 days'); \
         INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, parent_hash, \
         issued_at, expires_at, used_at) VALUES \
           ('{rotated_hash}', 'family', '{client_id}', 'u1', 'read', NULL, now() - interval '40 days', \
           now() - interval '1 day', now() - interval '39 days'), \
           ('{current_hash}', 'family', '{client_id}', 'u1', 'read', '{rotated_hash}', \
           now() - interval '39 days', now() + interval '20 days', NULL);",
        client_id = client.client_id,
        rotated_hash = rotated.hash.as_str(),
        current_hash = current.hash.as_str(),
    ))
    .unwrap();

    // The purge, as the jobs-service runs it, with the default 14-day retention.
    let mut jobs_settings = jobs_service::configuration::Settings::defaults().unwrap();
    jobs_settings.database.url = SecretString::from(database.url.clone());
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    let now = chrono::Utc::now().naive_utc();
    let outcome = jobs::run_once(&Arc::new(jobs_settings), Job::PurgeTokens, "e2e", now, stopping)
        .await
        .unwrap();
    assert!(
        matches!(&outcome, RunOutcome::Ran(run) if run.status == "succeeded"),
        "{outcome:?}"
    );

    // The stolen, already rotated token is presented: reuse, and the whole family is revoked.
    let http = reqwest::Client::new();
    let refresh = |token: String| {
        http.post(format!("{auth}/oauth2/token"))
            .basic_auth(&client.client_id, client.client_secret.clone())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
            .send()
    };
    let reuse = refresh(rotated.value.clone()).await.unwrap();
    assert_eq!(reuse.status(), 400);
    let body: Value = reuse.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let family: Revocation = diesel::sql_query("SELECT revoked_reason FROM grants WHERE id = 'family'")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(family.revoked_reason.as_deref(), Some("refresh_token_reused"));
    let successor = refresh(current.value.clone()).await.unwrap();
    assert_eq!(
        successor.status(),
        400,
        "the live token of the revoked family no longer works"
    );
}
