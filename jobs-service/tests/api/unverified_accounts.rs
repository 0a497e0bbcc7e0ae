//! unverified-accounts: one reminder after N days (through the outbox), deletion after M days.

use jobs_service::jobs::Job;
use shared::db::DbConn;

use crate::helpers::*;

fn seed_accounts(conn: &mut DbConn) {
    execute(
        conn,
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at, \
            email_verified_at) VALUES \
           ('new', 'newcomer', 'new@example.test', 'x', now() - interval '1 day', now(), NULL), \
           ('due', 'dawdler', 'due@example.test', 'x', now() - interval '4 days', now(), NULL), \
           ('stale', 'ghost', 'stale@example.test', 'x', now() - interval '15 days', now(), NULL), \
           ('verified', 'veteran', 'verified@example.test', 'x', now() - interval '100 days', now(), \
           now() - interval '99 days'); \
         INSERT INTO account_links (token_hash, user_id, purpose, created_at, expires_at) VALUES \
           ('stale-link', 'stale', 'verify_email', now() - interval '15 days', now() + interval '1 day');",
    );
}

#[tokio::test]
async fn an_unverified_account_is_reminded_once_after_n_days_and_deleted_after_m_days() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_accounts(&mut conn);
    let mut settings = test_settings(&database.url);
    settings.unverified_accounts.remind_after_days = 3;
    settings.unverified_accounts.delete_after_days = 14;

    let first = run_job(&settings, Job::UnverifiedAccounts, now()).await;
    let second = run_job(&settings, Job::UnverifiedAccounts, now()).await;

    assert_eq!(first.status, "succeeded", "{first:?}");
    let details: serde_json::Value = serde_json::from_str(&first.details).unwrap();
    assert_eq!(details["reminders_sent"], 1, "{details}");
    assert_eq!(details["users_deleted"], 1, "{details}");
    assert_eq!(second.rows_affected, 0, "{second:?}");
    assert_eq!(
        texts(&mut conn, "SELECT id AS value FROM users ORDER BY id"),
        ["due", "new", "verified"]
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM account_links"), 0);
    let emails = texts(
        &mut conn,
        "SELECT body AS value FROM outbox_messages WHERE routing_key = 'email.send'",
    );
    assert_eq!(emails.len(), 1);
    let email: serde_json::Value = serde_json::from_str(&emails[0]).unwrap();
    assert_eq!(email["payload"]["to"], "due@example.test");
    assert_eq!(email["payload"]["template"], "verify-email-reminder");
    assert_eq!(email["payload"]["variables"]["username"], "dawdler");
    assert_eq!(
        email["payload"]["variables"]["link"],
        "https://auth.example.test/verify-email/resend"
    );
    assert_eq!(email["payload"]["variables"]["days"], "11");
}

#[tokio::test]
async fn a_reminded_account_that_stays_unverified_is_deleted_with_its_reminder() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_accounts(&mut conn);
    let settings = test_settings(&database.url);
    run_job(&settings, Job::UnverifiedAccounts, now()).await;

    // Injected time: eleven days later, `due` is past the deletion delay too.
    let later = run_job(
        &settings,
        Job::UnverifiedAccounts,
        now() + chrono::Duration::days(11),
    )
    .await;

    let details: serde_json::Value = serde_json::from_str(&later.details).unwrap();
    assert_eq!(details["users_deleted"], 1, "{details}");
    assert_eq!(
        texts(&mut conn, "SELECT id AS value FROM users ORDER BY id"),
        ["new", "verified"]
    );
    // `due`'s reminder went with it; `newcomer` is now due for its own.
    assert_eq!(
        texts(
            &mut conn,
            "SELECT user_id AS value FROM jobs_unverified_reminders"
        ),
        ["new"]
    );
}

#[tokio::test]
async fn a_reserved_username_is_released_when_an_unverified_account_of_its_age_would_be_deleted() {
    // A registration whose address had an account reserves its username instead of creating an
    // account; from outside the two must look alike, so they go at the same age.
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_accounts(&mut conn);
    execute(
        &mut conn,
        "INSERT INTO username_reservations (username, password_hash, created_at) VALUES \
           ('recent-probe', 'x', now() - interval '13 days'), \
           ('stale-probe', 'x', now() - interval '15 days');",
    );
    let mut settings = test_settings(&database.url);
    settings.unverified_accounts.delete_after_days = 14;

    let run = run_job(&settings, Job::UnverifiedAccounts, now()).await;

    let details: serde_json::Value = serde_json::from_str(&run.details).unwrap();
    assert_eq!(details["users_deleted"], 1, "{details}");
    assert_eq!(details["usernames_released"], 1, "{details}");
    assert_eq!(
        texts(&mut conn, "SELECT username AS value FROM username_reservations"),
        ["recent-probe"]
    );
}
