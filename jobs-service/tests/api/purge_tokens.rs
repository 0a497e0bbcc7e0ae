//! purge-tokens on PostgreSQL: exactly the expired rows go, families go whole and only after the
//! retention, so refresh-token reuse is still recognised after a purge.

use jobs_service::jobs::Job;
use shared::db::DbConn;

use crate::helpers::*;

#[tokio::test]
async fn a_purge_of_a_million_expired_access_tokens_removes_exactly_the_expired_ones() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    // Expired rows spread over a day, live ones over the next hour; hashes tell them apart.
    execute(
        &mut conn,
        "INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, expires_at) \
         SELECT 'expired-' || n, NULL, 'c1', 'u1', 'read', now() - interval '2 days', \
                now() - interval '1 minute' - n * interval '80 milliseconds' \
         FROM generate_series(1, 1000000) AS n; \
         INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, expires_at) \
         SELECT 'live-' || n, NULL, 'c1', 'u1', 'read', now(), \
         now() + interval '1 hour' + n * interval '3 milliseconds' \
         FROM generate_series(1, 1000000) AS n; \
         ANALYZE access_tokens;",
    );
    let settings = test_settings(&database.url);

    let run = run_job(&settings, Job::PurgeTokens, now()).await;

    assert_eq!(run.status, "succeeded", "{run:?}");
    assert_eq!(run.rows_affected, 1_000_000);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM access_tokens"),
        1_000_000
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM access_tokens WHERE token_hash LIKE 'expired-%'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM access_tokens WHERE expires_at < now()"
        ),
        0
    );
}

/// Three families: one alive with a rotated (used, expired) token, one whose tokens all expired an
/// hour ago (inside the retention), one whose tokens expired before the retention.
fn seed_families(conn: &mut DbConn) {
    execute(
        conn,
        "INSERT INTO grants (id, client_id, user_id, scope, created_at) VALUES \
           ('alive', 'c1', 'u1', 'read', now() - interval '30 days'), \
           ('recent', 'c1', 'u1', 'read', now() - interval '30 days'), \
           ('old', 'c1', 'u1', 'read', now() - interval '60 days'); \
         INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, parent_hash, \
         issued_at, expires_at, used_at) VALUES \
           ('alive-1', 'alive', 'c1', 'u1', 'read', NULL, now() - interval '30 days', \
           now() - interval '20 days', now() - interval '29 days'), \
           ('alive-2', 'alive', 'c1', 'u1', 'read', 'alive-1', now() - interval '29 days', \
           now() + interval '1 day', NULL), \
           ('recent-1', 'recent', 'c1', 'u1', 'read', NULL, now() - interval '30 days', \
           now() - interval '2 days', now() - interval '3 days'), \
           ('recent-2', 'recent', 'c1', 'u1', 'read', 'recent-1', now() - interval '3 days', \
           now() - interval '1 hour', NULL), \
           ('old-1', 'old', 'c1', 'u1', 'read', NULL, now() - interval '60 days', \
           now() - interval '40 days', now() - interval '50 days'), \
           ('old-2', 'old', 'c1', 'u1', 'read', 'old-1', now() - interval '50 days', \
           now() - interval '20 days', NULL); \
         INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, \
         expires_at) VALUES \
           ('alive-at', 'alive', 'c1', 'u1', 'read', now(), now() + interval '1 hour'), \
           ('old-at', 'old', 'c1', 'u1', 'read', now() - interval '50 days', now() - interval '49 days'); \
         INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
         redirect_uri_explicit, scope, \
           auth_time, created_at, expires_at, used_at, grant_id) VALUES \
           ('old-code', 'c1', 'u1', 'https://app.example.test/cb', TRUE, 'read', now() - interval '60 days', \
            now() - interval '60 days', now() - interval '60 days', now() - interval '60 days', 'old');",
    );
}

#[tokio::test]
async fn families_are_kept_for_the_retention_so_reuse_of_a_rotated_token_is_still_detected() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    seed_families(&mut conn);
    let mut settings = test_settings(&database.url);
    settings.purge_tokens.refresh_token_retention_hours = 14 * 24;

    let run = run_job(&settings, Job::PurgeTokens, now()).await;

    assert_eq!(run.status, "succeeded", "{run:?}");
    // The auth-server recognises reuse by finding the presented token with `used_at` set (then it
    // revokes the family): that row, and its family, must survive the purge.
    let used = texts(
        &mut conn,
        "SELECT token_hash AS value FROM refresh_tokens WHERE used_at IS NOT NULL ORDER BY token_hash",
    );
    assert_eq!(used, ["alive-1", "recent-1"]);
    let grants = texts(&mut conn, "SELECT id AS value FROM grants ORDER BY id");
    assert_eq!(grants, ["alive", "recent"]);
    // The old family went whole, children first (its code, then its refresh tokens, then the grant).
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM refresh_tokens WHERE grant_id = 'old'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM access_tokens WHERE grant_id = 'old'"
        ),
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM authorization_codes"),
        0
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM access_tokens"), 1);
    let details: serde_json::Value = serde_json::from_str(&run.details).unwrap();
    assert_eq!(details["grants"], 1, "{details}");
    assert_eq!(details["refresh_tokens"], 2, "{details}");
}

#[tokio::test]
async fn the_same_purge_after_the_retention_takes_the_whole_expired_family() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    seed_families(&mut conn);
    let mut settings = test_settings(&database.url);
    settings.purge_tokens.refresh_token_retention_hours = 1;

    // Injected time: a day later, the `recent` family's tokens are past the one-hour retention.
    let run = run_job(&settings, Job::PurgeTokens, now() + chrono::Duration::days(1)).await;

    assert_eq!(run.status, "succeeded", "{run:?}");
    assert_eq!(texts(&mut conn, "SELECT id AS value FROM grants"), ["alive"]);
    assert_eq!(
        texts(
            &mut conn,
            "SELECT token_hash AS value FROM refresh_tokens ORDER BY token_hash"
        ),
        ["alive-1", "alive-2"]
    );
}

#[tokio::test]
async fn expired_codes_sessions_links_requests_and_old_messages_and_events_go_and_the_rest_stays() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    execute(
        &mut conn,
        "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at, revoked_at) VALUES \
           ('revoked', 'c1', 'read', now(), now() + interval '1 hour', now() - interval '1 minute'), \
           ('live', 'c1', 'read', now(), now() + interval '1 hour', NULL); \
         INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
         redirect_uri_explicit, scope, \
           auth_time, created_at, expires_at) VALUES \
           ('expired', 'c1', 'u1', 'https://a/cb', TRUE, 'read', now(), now(), now() - interval '1 minute'), \
           ('live', 'c1', 'u1', 'https://a/cb', TRUE, 'read', now(), now(), now() + interval '1 minute'); \
         INSERT INTO authorization_requests (id, browser_hash, client_id, redirect_uri, \
         redirect_uri_explicit, scope, \
           created_at, expires_at) VALUES \
           ('expired', 'b', 'c1', 'https://a/cb', TRUE, 'read', now(), now() - interval '1 minute'), \
           ('live', 'b', 'c1', 'https://a/cb', TRUE, 'read', now(), now() + interval '1 minute'); \
         INSERT INTO login_sessions (id_hash, user_id, auth_time, created_at, expires_at) VALUES \
           ('expired', 'u1', now(), now(), now() - interval '1 minute'), \
           ('live', 'u1', now(), now(), now() + interval '1 day'); \
         INSERT INTO account_links (token_hash, user_id, purpose, created_at, expires_at) VALUES \
           ('expired', 'u1', 'verify_email', now(), now() - interval '1 minute'), \
           ('live', 'u1', 'verify_email', now(), now() + interval '1 day'); \
         INSERT INTO outbox_messages (message_id, exchange, routing_key, message_type, body, created_at, \
         next_attempt_at, published_at) VALUES \
           ('old', 'events', 'x', 'x', '{}', now(), now(), now() - interval '8 days'), \
           ('recent', 'events', 'x', 'x', '{}', now(), now(), now() - interval '1 day'), \
           ('pending', 'events', 'x', 'x', '{}', now() - interval '30 days', now(), NULL); \
         INSERT INTO account_events (id, kind, occurred_at) VALUES \
           ('old', 'login_failed', now() - interval '91 days'), ('recent', 'login_failed', \
           now() - interval '89 days');",
    );
    let settings = test_settings(&database.url);

    let run = run_job(&settings, Job::PurgeTokens, now()).await;

    assert_eq!(run.status, "succeeded", "{run:?}");
    for table in [
        "access_tokens",
        "authorization_codes",
        "login_sessions",
        "account_links",
    ] {
        let key = match table {
            "login_sessions" => "id_hash",
            "authorization_codes" => "code_hash",
            _ => "token_hash",
        };
        assert_eq!(
            texts(&mut conn, &format!("SELECT {key} AS value FROM {table}")),
            ["live"],
            "{table}"
        );
    }
    assert_eq!(
        texts(&mut conn, "SELECT id AS value FROM authorization_requests"),
        ["live"]
    );
    assert_eq!(
        texts(
            &mut conn,
            "SELECT message_id AS value FROM outbox_messages WHERE message_type = 'x' ORDER BY message_id"
        ),
        ["pending", "recent"]
    );
    assert_eq!(
        texts(&mut conn, "SELECT id AS value FROM account_events"),
        ["recent"]
    );
    assert_eq!(run.rows_affected, 7);
}

#[tokio::test]
async fn every_run_is_recorded_and_published_through_the_outbox() {
    let database = migrated_database();
    let mut conn = connect(&database);
    let settings = test_settings(&database.url);

    let run = run_job(&settings, Job::PurgeTokens, now()).await;

    assert_eq!(run.job, "purge-tokens");
    assert_eq!(run.runner, "test");
    assert!(run.finished_at.unwrap() >= run.started_at);
    let bodies = texts(
        &mut conn,
        "SELECT body AS value FROM outbox_messages WHERE routing_key = 'jobs.cleanup.completed'",
    );
    assert_eq!(bodies.len(), 1);
    let event: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(event["payload"]["run_id"], run.id.as_str());
    assert_eq!(event["payload"]["status"], "succeeded");
    assert_eq!(event["payload"]["job"], "purge-tokens");
}
