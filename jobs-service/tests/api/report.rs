//! report: the period's figures, emailed to every configured admin through the outbox.

use jobs_service::jobs::{self, Job, RunOutcome};

use crate::helpers::*;

#[tokio::test]
async fn the_report_counts_the_period_and_goes_to_every_admin_through_the_email_queue() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    execute(
        &mut conn,
        "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at) VALUES \
           ('today-1', 'c1', 'read', now() - interval '1 hour', now() + interval '1 hour'), \
           ('today-2', 'c1', 'read', now() - interval '2 hours', now() - interval '1 hour'), \
           ('last-week', 'c1', 'read', now() - interval '7 days', \
           now() - interval '7 days' + interval '1 hour'); \
         INSERT INTO account_events (id, kind, occurred_at) VALUES \
           ('1', 'login_failed', now() - interval '1 hour'), ('2', 'login_failed', \
           now() - interval '2 hours'), \
           ('3', 'refresh_token_reuse', now() - interval '3 hours'), ('4', 'registered', \
           now() - interval '4 hours'), \
           ('5', 'login_failed', now() - interval '2 days');",
    );
    let mut settings = test_settings(&database.url);
    settings.report.period_hours = 24;
    settings.report.recipients = "ops@example.test, security@example.test".to_owned();
    // The purge in the period counts in the report.
    run_job(&settings, Job::PurgeTokens, now()).await;

    let run = run_job(&settings, Job::Report, now()).await;

    assert_eq!(run.status, "succeeded", "{run:?}");
    let emails: Vec<serde_json::Value> = texts(
        &mut conn,
        "SELECT body AS value FROM outbox_messages WHERE routing_key = 'email.send' ORDER BY body::json #>> \
            '{payload,to}'",
    )
    .iter()
    .map(|body| serde_json::from_str(body).unwrap())
    .collect();
    let recipients: Vec<&str> = emails
        .iter()
        .map(|email| email["payload"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(recipients, ["ops@example.test", "security@example.test"]);
    let variables = &emails[0]["payload"]["variables"];
    assert_eq!(emails[0]["payload"]["template"], "cleanup-report");
    assert!(
        variables["period"].as_str().unwrap().ends_with("UTC"),
        "{variables}"
    );
    // Issued tokens are counted from the token tables: `today-2`, already purged, no longer counts.
    assert_eq!(variables["tokens_issued"], "1", "{variables}");
    assert_eq!(variables["rows_purged"], "2", "{variables}");
    assert_eq!(variables["refresh_token_reuse"], "1", "{variables}");
    assert_eq!(variables["failed_logins"], "2", "{variables}");
    assert_eq!(variables["registrations"], "1", "{variables}");
}

#[tokio::test]
async fn a_tick_runs_once_across_replicas_even_when_their_timers_fire_one_after_the_other() {
    let database = migrated_database();
    let mut conn = connect(&database);
    let mut settings = test_settings(&database.url);
    settings.report.recipients = "ops@example.test".to_owned();
    let settings = std::sync::Arc::new(settings);
    let tick = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|day| day.and_hms_opt(7, 0, 0))
        .unwrap();
    let (_stop, stopping) = tokio::sync::watch::channel(false);

    // Replica b's timer fires after replica a has finished and let the job's lock go.
    let first = run_tick(&settings, "a", tick, stopping.clone()).await;
    let second = run_tick(&settings, "b", tick, stopping.clone()).await;

    let RunOutcome::Ran(run) = first else {
        panic!("the first replica runs the tick")
    };
    assert_eq!(run.scheduled_for, Some(tick));
    assert!(matches!(second, RunOutcome::Skipped), "{second:?}");
    let reports = count(
        &mut conn,
        "SELECT count(*) AS count FROM outbox_messages WHERE routing_key = 'email.send'",
    );
    assert_eq!(reports, 1, "one report for the tick");
    // The next tick, and runs started by hand, still run.
    let next = run_tick(&settings, "b", tick + chrono::Duration::days(1), stopping).await;
    assert!(matches!(next, RunOutcome::Ran(_)), "{next:?}");
    run_job(&settings, Job::Report, now()).await;
    run_job(&settings, Job::Report, now()).await;
}

/// The report's run for `tick`, as `replica`'s scheduler starts it.
async fn run_tick(
    settings: &std::sync::Arc<jobs_service::configuration::Settings>,
    replica: &str,
    tick: chrono::NaiveDateTime,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> RunOutcome {
    jobs::run_tick(settings, Job::Report, replica, tick, now(), stopping)
        .await
        .expect("the report runs or is skipped")
}
