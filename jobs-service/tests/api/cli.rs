//! The command line as operators and Kubernetes CronJobs use it: the real binary, its output and
//! exit codes (2 for a bad argument or setting, naming it).

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::*;

fn jobs_service(database_url: &str, args: &[&str], environment: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobs-service"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("JOBS_LOG__FILTER", "warn")
        .envs(environment.iter().copied())
        .output()
        .expect("the jobs-service binary runs")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("JSON on stdout: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test]
async fn run_executes_a_job_once_and_runs_list_shows_it() {
    let database = migrated_database();

    let run = stdout_json(&jobs_service(&database.url, &["run", "purge-tokens"], &[]));
    let listed = stdout_json(&jobs_service(&database.url, &["runs", "list", "--json"], &[]));
    let table = jobs_service(&database.url, &["runs", "list", "--job", "purge-tokens"], &[]);

    assert_eq!(run["job"], "purge-tokens");
    assert_eq!(run["status"], "succeeded");
    assert!(run["runner"].as_str().unwrap().starts_with("cli:"), "{run}");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], run["id"]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains(run["id"].as_str().unwrap()), "{table}");
}

#[tokio::test]
async fn run_does_nothing_while_another_runner_holds_the_job() {
    let database = migrated_database();
    let mut holder = connect(&database);
    // The lock a replica running purge-tokens holds (namespace "jobs", job 1).
    execute(&mut holder, "SELECT pg_advisory_lock(1785684595, 1)");

    let output = jobs_service(&database.url, &["run", "purge-tokens"], &[]);

    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("running on another runner"), "{stderr}");
    let mut conn = connect(&database);
    assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM job_runs"), 0);
}

#[tokio::test]
async fn migrate_applies_the_jobs_migrations_after_the_auth_ones() {
    let database = TestDatabase::create();
    let mut conn = connect(&database);
    shared::db::run_migrations(&mut conn, AUTH_MIGRATIONS).unwrap();

    let first = jobs_service(&database.url, &["migrate"], &[]);
    let again = jobs_service(&database.url, &["migrate"], &[]);

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "4 migration(s) applied"
    );
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "0 migration(s) applied"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM job_runs"), 0);
}

#[tokio::test]
async fn an_unknown_job_or_a_bad_option_exits_2_naming_the_argument() {
    let database_url = "postgres://postgres@127.0.0.1:1/none";

    let unknown = jobs_service(database_url, &["run", "purge-everything"], &[]);
    let limit = jobs_service(database_url, &["runs", "list", "--limit", "0"], &[]);

    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("purge-everything") && stderr.contains("<JOB>"),
        "{stderr}"
    );
    assert!(
        stderr.contains("purge-tokens"),
        "the valid jobs are listed: {stderr}"
    );
    assert_eq!(limit.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&limit.stderr).contains("--limit"));
}

#[tokio::test]
async fn an_invalid_schedule_exits_2_naming_the_setting() {
    let output = jobs_service(
        "postgres://postgres@127.0.0.1:1/none",
        &["run", "report"],
        &[("JOBS_REPORT__SCHEDULE", "at noon")],
    );

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("report.schedule"), "{stderr}");
}
