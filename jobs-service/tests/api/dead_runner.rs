//! A runner that stops without closing its connection (frozen with SIGSTOP here; a partition or a
//! power loss looks the same to PostgreSQL) loses the job's lock within `dead_runner_timeout_secs`,
//! and another replica takes the job over: without it the lock stays until the kernel gives up on
//! the socket, about two hours.

use std::process::Command;
use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn a_frozen_runner_loses_the_job_within_the_dead_runner_timeout() {
    let database = migrated_database();
    let mut conn = connect(&database);
    seed_client_and_user(&mut conn);
    // Enough families, in small paused batches, that the run is still going when it is frozen.
    seed_expired_families(&mut conn, 20_000, 1);
    let slow = [
        ("JOBS_PURGE_TOKENS__ENABLED", "true"),
        ("JOBS_PURGE_TOKENS__SCHEDULE", "* * * * * *"),
        ("JOBS_PURGE_TOKENS__BATCH_SIZE", "50"),
        ("JOBS_PURGE_TOKENS__PAUSE_MS", "50"),
        ("JOBS_DEAD_RUNNER_TIMEOUT_SECS", "3"),
    ];
    let frozen = Replica::start(
        &database.url,
        &[&slow[..], &[("JOBS_RUNNER_ID", "frozen")]].concat(),
    );
    eventually(
        Duration::from_secs(30),
        "the first runner to start deleting",
        || {
            let deleted = 20_000 - count(&mut conn, "SELECT count(*) AS count FROM grants");
            (deleted > 0).then_some(())
        },
    )
    .await;

    let stopped = Command::new("kill")
        .args(["-STOP", &frozen.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let _other = Replica::start(
        &database.url,
        &[&slow[..], &[("JOBS_RUNNER_ID", "other")]].concat(),
    );

    // Without the timeout the frozen runner's session would hold the lock for hours.
    eventually(
        Duration::from_secs(60),
        "another runner to take the job over",
        || {
            let taken = count(
                &mut conn,
                "SELECT count(*) AS count FROM job_runs WHERE runner = 'other'",
            );
            (taken > 0).then_some(())
        },
    )
    .await;
    let abandoned = count(
        &mut conn,
        "SELECT count(*) AS count FROM job_runs WHERE runner = 'frozen' AND status = 'abandoned'",
    );
    assert_eq!(
        abandoned, 1,
        "the frozen runner's run is marked abandoned by the one that took over"
    );
}
