//! /metrics: runs, durations, rows affected per job, and the purge backlog.

use std::time::Duration;

use jobs_service::jobs::Job;

use crate::helpers::*;

#[tokio::test]
async fn metrics_show_the_backlog_and_then_the_runs_and_rows_purged() {
    let app = spawn_app_with(|settings| settings.backlog_interval_ms = 1000).await;
    let mut conn = connect(&app.database);
    seed_client_and_user(&mut conn);
    execute(
        &mut conn,
        "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at) \
         SELECT 'expired-' || n, 'c1', 'read', now(), now() - interval '1 minute' FROM generate_series(1, \
         3) AS n",
    );

    // The gauges are refreshed every second, one step after another: wait for both.
    let mut backlog = String::new();
    for _ in 0..200 {
        backlog = app.get("/metrics").await.text().await.unwrap();
        if backlog.contains("jobs_backlog_rows{table=\"access_tokens\"} 3")
            && backlog.contains("jobs_backlog_rows{table=\"login_sessions\"} 0")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        backlog.contains("jobs_backlog_rows{table=\"access_tokens\"} 3"),
        "{backlog}"
    );
    assert!(
        backlog.contains("jobs_backlog_rows{table=\"login_sessions\"} 0"),
        "{backlog}"
    );

    run_job(&test_settings(&app.database.url), Job::PurgeTokens, now()).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("jobs_runs_total{job=\"purge-tokens\",status=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("jobs_rows_affected_total{job=\"purge-tokens\",table=\"access_tokens\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("jobs_run_duration_seconds_count{job=\"purge-tokens\"} 1"),
        "{metrics}"
    );
}
