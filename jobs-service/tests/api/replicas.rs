//! Several replicas of the real binary on one schedule: one runner per job at a time, and a
//! runner killed mid-run is taken over at a later tick without leaving a half-deleted family.

use shared::db::DbConn;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};

use crate::helpers::*;

#[derive(QueryableByName, Debug)]
struct Run {
    #[diesel(sql_type = Text)]
    job: String,
    #[diesel(sql_type = Text)]
    runner: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Timestamp)]
    started_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    finished_at: Option<NaiveDateTime>,
}

fn runs(conn: &mut DbConn) -> Vec<Run> {
    diesel::sql_query(
        "SELECT job, runner, status, started_at, finished_at FROM job_runs ORDER BY job, started_at",
    )
    .load(conn)
    .expect("job_runs can be read")
}

#[tokio::test]
async fn three_replicas_on_a_one_second_schedule_for_a_minute_never_overlap_runs_of_a_job() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    // Work for the purges: expired tokens arrive during the minute (see below).
    let every_second = "* * * * * *";
    let mut replicas: Vec<Replica> = ["a", "b", "c"]
        .into_iter()
        .map(|runner| {
            Replica::start(
                &database.url,
                &[
                    ("JOBS_RUNNER_ID", runner),
                    ("JOBS_PURGE_TOKENS__ENABLED", "true"),
                    ("JOBS_PURGE_TOKENS__SCHEDULE", every_second),
                    ("JOBS_PURGE_TOKENS__BATCH_SIZE", "500"),
                    ("JOBS_PURGE_TOKENS__PAUSE_MS", "20"),
                    ("JOBS_UNVERIFIED_ACCOUNTS__ENABLED", "true"),
                    ("JOBS_UNVERIFIED_ACCOUNTS__SCHEDULE", every_second),
                    ("JOBS_REPORT__ENABLED", "true"),
                    ("JOBS_REPORT__SCHEDULE", every_second),
                    ("JOBS_REPORT__RECIPIENTS", "admin@example.test"),
                ],
            )
        })
        .collect();

    let started = std::time::Instant::now();
    let mut wave = 0;
    while started.elapsed() < Duration::from_secs(60) {
        // Each wave of expired tokens makes the next purge last a few batches.
        execute(
            &mut conn,
            &format!(
                "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at) \
                 SELECT 'w{wave}-' || n, 'c1', 'read', now(), now() - interval '1 second' \
                 FROM generate_series(1, 3000) AS n"
            ),
        );
        wave += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for replica in &mut replicas {
        replica.kill();
    }

    let all = runs(&mut conn);
    for job in ["purge-tokens", "unverified-accounts", "report"] {
        let of_job: Vec<&Run> = all
            .iter()
            .filter(|run| run.job == job && run.status != "abandoned")
            .collect();
        assert!(
            of_job.len() >= 30,
            "{job} ran only {} times in a minute",
            of_job.len()
        );
        for pair in of_job.windows(2) {
            let (earlier, later) = (pair[0], pair[1]);
            // A run killed with the replicas at the end has no end: it is the last one.
            let ended = earlier
                .finished_at
                .unwrap_or_else(|| panic!("{job}: an unfinished run is followed by another: {earlier:?}"));
            assert!(
                ended <= later.started_at,
                "{job}: overlapping runs {earlier:?} and {later:?}"
            );
        }
    }
    // Every scheduled run names its tick, and no tick ran twice (the unique index would refuse
    // it; this proves the scheduler records the ticks at all).
    let unticked = count(
        &mut conn,
        "SELECT count(*) AS count FROM job_runs WHERE scheduled_for IS NULL",
    );
    assert_eq!(unticked, 0, "a scheduled run without its tick");
    let repeated = count(
        &mut conn,
        "SELECT count(*) AS count FROM (SELECT job, scheduled_for FROM job_runs \
         GROUP BY job, scheduled_for HAVING count(*) > 1) AS twice",
    );
    assert_eq!(repeated, 0, "a tick ran twice");
    // The replicas really competed: the ticks were won by more than one of them.
    let runners: std::collections::BTreeSet<&str> = all.iter().map(|run| run.runner.as_str()).collect();
    assert!(runners.len() >= 2, "only {runners:?} ever ran a job");
    let purged: i64 = count(
        &mut conn,
        "SELECT COALESCE(SUM(rows_affected), 0)::BIGINT AS count FROM job_runs WHERE job = 'purge-tokens'",
    );
    assert!(purged > 0, "the purges had work to do");
    let failed: Vec<&Run> = all.iter().filter(|run| run.status == "failed").collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test]
async fn a_runner_killed_mid_run_is_taken_over_at_a_later_tick_and_no_family_is_half_deleted() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    // 20,000 families of 5 expired refresh tokens each, past the retention.
    seed_expired_families(&mut conn, 20_000, 5);
    // Small batches with a pause: the run lasts long enough to be killed in the middle.
    let slow = [
        ("JOBS_PURGE_TOKENS__ENABLED", "true"),
        ("JOBS_PURGE_TOKENS__SCHEDULE", "* * * * * *"),
        ("JOBS_PURGE_TOKENS__BATCH_SIZE", "200"),
        ("JOBS_PURGE_TOKENS__PAUSE_MS", "20"),
    ];
    let mut first = Replica::start(
        &database.url,
        &[&slow[..], &[("JOBS_RUNNER_ID", "first")]].concat(),
    );
    eventually(
        Duration::from_secs(30),
        "the first runner to delete some families",
        || {
            let deleted = 20_000 - count(&mut conn, "SELECT count(*) AS count FROM grants");
            (deleted > 0).then_some(())
        },
    )
    .await;
    // The second replica competes from now on, skipping every tick while the first holds the job.
    let _second = Replica::start(
        &database.url,
        &[&slow[..], &[("JOBS_RUNNER_ID", "second")]].concat(),
    );

    first.kill();
    let killed_at: NaiveDateTime = diesel::select(diesel::dsl::sql::<Timestamp>(
        "(now() AT TIME ZONE 'UTC')::timestamp",
    ))
    .get_result(&mut conn)
    .unwrap();

    // Every family left is whole, and no token is left without its family (one snapshot each,
    // while the second runner may already be deleting).
    let whole_families = "SELECT count(*) AS count FROM grants g \
                          WHERE (SELECT count(*) FROM refresh_tokens r WHERE r.grant_id = g.id) <> 5";
    let stray_tokens =
        "SELECT ((SELECT count(*) FROM refresh_tokens) - 5 * (SELECT count(*) FROM grants))::BIGINT AS count";
    assert_eq!(count(&mut conn, whole_families), 0);
    assert_eq!(count(&mut conn, stray_tokens), 0);
    let taken_over = eventually(
        Duration::from_secs(60),
        "the second runner to finish the purge",
        || {
            runs(&mut conn)
                .into_iter()
                .find(|run| run.runner == "second" && run.status == "succeeded")
        },
    )
    .await;

    let all = runs(&mut conn);
    let first_runs: Vec<&Run> = all.iter().filter(|run| run.runner == "first").collect();
    assert_eq!(first_runs.len(), 1, "{all:?}");
    assert_eq!(first_runs[0].status, "abandoned");
    let second_started = all
        .iter()
        .filter(|run| run.runner == "second")
        .map(|run| run.started_at)
        .min();
    assert_eq!(
        second_started,
        Some(taken_over.started_at),
        "the takeover was the second's first run"
    );
    // Taken over at one of the next ticks (the schedule ticks every second).
    let delay = taken_over.started_at - killed_at;
    assert!(
        delay < chrono::Duration::seconds(10),
        "taken over {delay} after the kill"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM grants"), 0);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM refresh_tokens"),
        0
    );
}

#[tokio::test]
async fn sigterm_stops_a_running_job_between_batches_and_records_it_as_interrupted() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    execute(
        &mut conn,
        "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at) \
         SELECT 'expired-' || n, 'c1', 'read', now(), \
         now() - interval '1 minute' - n * interval '1 millisecond' \
         FROM generate_series(1, 100000) AS n",
    );
    let mut replica = Replica::start(
        &database.url,
        &[
            ("JOBS_RUNNER_ID", "stopping"),
            ("JOBS_PURGE_TOKENS__ENABLED", "true"),
            ("JOBS_PURGE_TOKENS__SCHEDULE", "* * * * * *"),
            ("JOBS_PURGE_TOKENS__BATCH_SIZE", "100"),
            ("JOBS_PURGE_TOKENS__PAUSE_MS", "20"),
        ],
    );
    eventually(Duration::from_secs(30), "the purge to be under way", || {
        (count(&mut conn, "SELECT count(*) AS count FROM access_tokens") < 100_000).then_some(())
    })
    .await;

    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &replica.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let exit = eventually(Duration::from_secs(30), "the replica to exit", || {
        replica.child.try_wait().expect("the child can be waited for")
    })
    .await;

    assert!(exit.success(), "{exit:?}");
    let all = runs(&mut conn);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].status, "interrupted");
    assert!(all[0].finished_at.is_some());
    assert!(count(&mut conn, "SELECT count(*) AS count FROM access_tokens") > 0);
}
