//! The jobs-service's jobs on SQLite, on data the platform made through its own endpoints: the
//! purge deletes exactly what expired, the unverified accounts are reminded then deleted, the report
//! goes out, each email through the in-process bus to the mailbox.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use jobs_service::jobs::purge_tokens::{self, Cutoffs};
use jobs_service::jobs::{self, Job, RunOutcome};
use secrecy::SecretString;
use shared::configuration::Layered;

use crate::helpers::*;

fn settings(platform: &TestPlatform) -> jobs_service::configuration::Settings {
    let mut settings = jobs_service::configuration::Settings::defaults().unwrap();
    settings.database.url = SecretString::from(platform.database_url());
    settings.auth_public_url = platform.issuer.clone();
    settings.runner_id = "test".to_owned();
    settings
}

async fn run(
    settings: &jobs_service::configuration::Settings,
    job: Job,
    now: NaiveDateTime,
) -> jobs_service::db::runs::JobRun {
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    match jobs::run_once(&Arc::new(settings.clone()), job, "test", now, stopping).await {
        Ok(RunOutcome::Ran(run)) => run,
        Ok(RunOutcome::Skipped) => panic!("the job was held by another runner"),
        Err(error) => panic!("the job could not run: {error:#}"),
    }
}

fn count(platform: &TestPlatform, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    diesel::sql_query(sql)
        .get_result::<Count>(&mut platform.connect())
        .unwrap()
        .count
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

#[tokio::test]
async fn the_purge_deletes_expired_tokens_then_whole_families_past_the_retention_on_sqlite() {
    let platform = spawn_platform().await;
    for _ in 0..3 {
        platform.service().token("api:read").await;
    }
    let browser = Browser::new(&platform.addresses.auth);
    let page = browser
        .sign_in_to_demo_app(&platform.addresses.demo, "demo", &platform.credentials.password)
        .await;
    assert_eq!(page.status(), 200);
    assert_eq!(count(&platform, "SELECT count(*) AS count FROM access_tokens"), 4);
    assert_eq!(count(&platform, "SELECT count(*) AS count FROM grants"), 1);
    let settings = settings(&platform);

    // A day on: every access token has expired (10 minutes), the family's refresh token has not.
    let day_later = run(&settings, Job::PurgeTokens, now() + Duration::days(1)).await;

    assert_eq!(day_later.status, "succeeded", "{day_later:?}");
    assert_eq!(count(&platform, "SELECT count(*) AS count FROM access_tokens"), 0);
    assert_eq!(
        count(&platform, "SELECT count(*) AS count FROM refresh_tokens"),
        1
    );
    assert_eq!(count(&platform, "SELECT count(*) AS count FROM grants"), 1);

    // Past the refresh token's 30 days and the 14 days of retention: the family goes whole.
    let later = run(&settings, Job::PurgeTokens, now() + Duration::days(45)).await;

    assert_eq!(later.status, "succeeded", "{later:?}");
    for table in [
        "refresh_tokens",
        "grants",
        "authorization_codes",
        "login_sessions",
        "authorization_requests",
    ] {
        assert_eq!(
            count(&platform, &format!("SELECT count(*) AS count FROM {table}")),
            0,
            "{table}"
        );
    }
    assert_eq!(
        count(
            &platform,
            "SELECT count(*) AS count FROM job_runs WHERE status = 'succeeded'"
        ),
        2
    );
    // The backlog gauge's counts run on SQLite too.
    let cutoffs = Cutoffs::new(now(), &settings.purge_tokens);
    let mut conn = platform.connect();
    for step in purge_tokens::backlog_steps() {
        purge_tokens::count_eligible(&mut conn, &step, &cutoffs, 1000)
            .unwrap_or_else(|error| panic!("{}: {error}", step.name));
    }
}

#[tokio::test]
async fn an_unverified_account_is_reminded_through_the_mailbox_then_deleted() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);
    browser
        .submit(
            "/register",
            "/register",
            &[],
            &[
                ("username", "ada"),
                ("email", "ada@example.test"),
                ("password", "a-long-password"),
            ],
        )
        .await;
    let settings = settings(&platform);

    let reminded = run(&settings, Job::UnverifiedAccounts, now() + Duration::days(4)).await;

    assert_eq!(reminded.status, "succeeded", "{reminded:?}");
    wait_for_link(
        &platform.addresses.email,
        "ada@example.test",
        &format!("{}/verify-email/resend", platform.issuer),
    )
    .await;

    let deleted = run(&settings, Job::UnverifiedAccounts, now() + Duration::days(15)).await;

    assert_eq!(deleted.status, "succeeded", "{deleted:?}");
    assert_eq!(
        count(
            &platform,
            "SELECT count(*) AS count FROM users WHERE username = 'ada'"
        ),
        0
    );
    assert_eq!(
        count(
            &platform,
            "SELECT count(*) AS count FROM users WHERE username = 'demo'"
        ),
        1
    );
}

#[tokio::test]
async fn the_report_reaches_its_recipients_through_the_mailbox() {
    let platform = spawn_platform().await;
    platform.service().token("api:read").await;
    let mut settings = settings(&platform);
    settings.report.recipients = "ops@example.test".to_owned();

    let report = run(&settings, Job::Report, now()).await;

    assert_eq!(report.status, "succeeded", "{report:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let messages = mailbox(&platform.addresses.email).await;
        if let Some(message) = messages
            .iter()
            .find(|message| message["recipient"] == "ops@example.test")
        {
            let text = message["text_body"].as_str().unwrap();
            assert!(
                text.lines().any(|line| line.trim() == "tokens_issued: 1"),
                "one token issued in the period: {text}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no report in the mailbox: {messages:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
