//! Least privilege in the database, as `deploy/sql/` sets it up for compose and Kubernetes: each
//! service connects as its own role, does its work with the rights it was given, and is refused
//! the rest. The roles and grants are the deployment's files, applied by `psql` as the deployments
//! apply them; the work is the real binaries'.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod support;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use serde_json::Value;
use support::roles::PlatformDatabases;
use support::{repository, run};

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    granted: bool,
}

/// Whether `role` may select, insert, update and delete in each table of the connected database.
fn full_rights(conn: &mut PgConnection, role: &str) -> Vec<(String, bool)> {
    diesel::sql_query(
        "SELECT table_name::text AS name, \
         has_table_privilege($1, quote_ident(table_name), 'SELECT, INSERT, UPDATE, DELETE') \
           AND has_table_privilege($1, quote_ident(table_name), 'SELECT') \
           AND has_table_privilege($1, quote_ident(table_name), 'INSERT') \
           AND has_table_privilege($1, quote_ident(table_name), 'UPDATE') \
           AND has_table_privilege($1, quote_ident(table_name), 'DELETE') AS granted \
         FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    )
    .bind::<Text, _>(role)
    .load::<Table>(conn)
    .unwrap()
    .into_iter()
    .map(|table| (table.name, table.granted))
    .collect()
}

/// The statement fails with PostgreSQL's "permission denied".
fn assert_denied(conn: &mut PgConnection, statement: &str) {
    let error = conn
        .batch_execute(statement)
        .expect_err(&format!("{statement} should be refused"));
    assert!(
        error.to_string().contains("permission denied") || error.to_string().contains("must be owner"),
        "{statement}: {error}"
    );
}

#[test]
fn the_auth_server_reads_and_writes_every_table_of_its_own_and_nothing_of_the_jobs_service() {
    let databases = PlatformDatabases::create();
    databases.migrate_and_grant();
    let mut owner = databases.connect("auth_owner", "auth").unwrap();
    let rights = full_rights(&mut owner, &databases.role("auth_service"));
    for (table, granted) in &rights {
        let jobs_table = table.starts_with("job") || table == "__diesel_schema_migrations";
        assert_eq!(*granted, !jobs_table, "auth_service on {table}");
    }

    // What an operator does with the admin CLI works as the service's role.
    let auth_service = databases.url("auth_service", "auth");
    let seed = repository().join("deploy/k8s/base/bootstrap/bootstrap.sh");
    let path = format!(
        "{}:{}",
        support::binary("auth-server").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new("sh")
        .arg(&seed)
        .env_clear()
        .env("PATH", &path)
        .env("DATABASE_URL", &auth_service)
        .env("GATEWAY_CLIENT_SECRET", "g".repeat(64))
        .env("DEMO_SERVICE_CLIENT_SECRET", "d".repeat(64))
        .env("DEMO_USER_PASSWORD", "correct horse battery staple")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut service = databases.connect("auth_service", "auth").unwrap();
    for statement in [
        "SELECT * FROM job_runs",
        "CREATE TABLE intruder (id TEXT)",
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN intruder TEXT",
        "TRUNCATE access_tokens",
    ] {
        assert_denied(&mut service, statement);
    }
    // Its own database only.
    assert!(databases.connect("auth_service", "email").is_err());
}

#[test]
fn the_jobs_service_runs_every_job_with_its_rights_and_cannot_touch_the_rest() {
    let databases = PlatformDatabases::create();
    databases.migrate_and_grant();
    let mut owner = databases.connect("auth_owner", "auth").unwrap();
    // Work for every job: an expired token family past the retention, accounts never verified
    // (one due for its reminder, one for deletion), and the report's recipients below.
    owner
        .batch_execute(
            "INSERT INTO clients (id, name, secret_hash, is_public, grant_types, redirect_uris, \
               can_introspect, skip_consent, created_at, updated_at) \
             VALUES ('c1', 'Client', NULL, true, 'authorization_code', '[]', false, false, now(), now()); \
             INSERT INTO users (id, username, email, password_hash, created_at, updated_at, \
               email_verified_at) VALUES \
               ('u1', 'alice', 'alice@example.test', 'x', now() - interval '60 days', now(), now()), \
               ('u-remind', 'bob', 'bob@example.test', 'x', now() - interval '4 days', now(), NULL), \
               ('u-delete', 'carol', 'carol@example.test', 'x', now() - interval '20 days', now(), NULL); \
             INSERT INTO grants (id, client_id, user_id, scope, created_at) \
               VALUES ('family', 'c1', 'u1', 'read', now() - interval '40 days'); \
             INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, parent_hash, \
               issued_at, expires_at, used_at) VALUES ('r1', 'family', 'c1', 'u1', 'read', NULL, \
               now() - interval '40 days', now() - interval '20 days', NULL); \
             INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, \
               expires_at) VALUES ('a1', 'family', 'c1', 'u1', 'read', now() - interval '40 days', \
               now() - interval '39 days');",
        )
        .unwrap();

    let jobs = databases.url("jobs_service", "auth");
    let env = [
        ("DATABASE_URL", jobs.as_str()),
        ("JOBS_REPORT__RECIPIENTS", "admin@example.test"),
        ("JOBS_LOG__FILTER", "warn"),
    ];
    let mut affected = serde_json::Map::new();
    for job in ["purge-tokens", "unverified-accounts", "report"] {
        let output = run("jobs-service", &["run", job], &env, None);
        let run: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(run["status"], "succeeded", "{run}");
        affected.insert(job.to_owned(), run["details"].clone());
    }
    let details = |job: &str| -> Value { serde_json::from_str(affected[job].as_str().unwrap()).unwrap() };
    assert_eq!(details("unverified-accounts")["reminders_sent"], 1);
    assert_eq!(details("unverified-accounts")["users_deleted"], 1);
    assert_eq!(details("report")["reports_sent"], 1);
    let purged = details("purge-tokens");
    assert!(purged["access_tokens"].as_u64().unwrap() >= 1, "{purged}");
    assert_eq!(purged["grants"], 1, "{purged}");

    let mut service = databases.connect("jobs_service", "auth").unwrap();
    for statement in [
        "SELECT * FROM clients",
        "SELECT * FROM signing_keys",
        "SELECT * FROM user_claims",
        "UPDATE users SET email = 'intruder@example.test'",
        "UPDATE grants SET revoked_at = now()",
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
         VALUES ('x', 'x', 'x@example.test', 'x', now(), now())",
        "DELETE FROM clients",
        "UPDATE outbox_messages SET attempts = 0",
        "CREATE TABLE intruder (id TEXT)",
        "CREATE INDEX intruder ON users (email)",
    ] {
        assert_denied(&mut service, statement);
    }
    assert!(databases.connect("jobs_service", "email").is_err());
}

#[test]
fn the_email_service_owns_its_database_and_cannot_reach_the_auth_database() {
    let databases = PlatformDatabases::create();
    databases.migrate_and_grant();
    let mut owner = databases.connect("email_owner", "email").unwrap();
    let rights = full_rights(&mut owner, &databases.role("email_service"));
    assert!(!rights.is_empty());
    for (table, granted) in &rights {
        assert_eq!(
            *granted,
            table != "__diesel_schema_migrations",
            "email_service on {table}"
        );
    }
    let mut service = databases.connect("email_service", "email").unwrap();
    assert_denied(&mut service, "CREATE TABLE intruder (id TEXT)");
    assert_denied(&mut service, "DROP TABLE deliveries");
    assert!(databases.connect("email_service", "auth").is_err());

    // The email-service's own work, as its role: its admin command reads the delivery records.
    let email = databases.url("email_service", "email");
    let listed = run(
        "email-service",
        &["deliveries", "list"],
        &[("DATABASE_URL", &email)],
        None,
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&listed.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn a_service_waits_for_the_migration_job_with_read_access_only_and_concurrent_jobs_migrate_once() {
    let databases = PlatformDatabases::create();
    let auth_service = databases.url("auth_service", "auth");
    let env = [("DATABASE_URL", auth_service.as_str())];

    // Nothing applied yet: the wait gives up after its limit, saying why.
    let early = support::command("auth-server", &["migrate", "--wait", "1"], &env, None);
    assert_eq!(early.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("not applied yet"),
        "{early:?}"
    );

    // A waiting service, then two migration runs at once (a Job started twice): each migration is
    // applied once, both runs succeed, and the waiting service goes on.
    let waiting = std::process::Command::new(support::binary("auth-server"))
        .args(["migrate", "--wait", "60"])
        .env_clear()
        .env("DATABASE_URL", &auth_service)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let auth_owner = databases.url("auth_owner", "auth");
    let migrations: Vec<_> = (0..2)
        .map(|_| {
            let url = auth_owner.clone();
            std::thread::spawn(move || run("auth-server", &["migrate"], &[("DATABASE_URL", &url)], None))
        })
        .collect();
    let applied: usize = migrations
        .into_iter()
        .map(|run| {
            let output = run.join().unwrap();
            let line = String::from_utf8_lossy(&output.stdout).into_owned();
            line.split_whitespace().next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    let known = std::fs::read_dir(repository().join("auth-server/migrations"))
        .unwrap()
        .count();
    assert_eq!(applied, known, "every migration applied exactly once");
    // The rest of the Job: the jobs-service's migrations, then the rights.
    run(
        "jobs-service",
        &["migrate"],
        &[("DATABASE_URL", &auth_owner)],
        None,
    );
    let email_owner = databases.url("email_owner", "email");
    run(
        "email-service",
        &["migrate"],
        &[("DATABASE_URL", &email_owner)],
        None,
    );
    databases.grant();
    let waited = waiting.wait_with_output().unwrap();
    assert!(waited.status.success(), "{waited:?}");
}
