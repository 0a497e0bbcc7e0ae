//! The test harness: a database per test with the auth-server's schema (its migrations, embedded
//! from `../auth-server/migrations`) and the jobs-service's; the real application on a free port;
//! seeding in SQL; and the real binary as child processes that die with the test.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::embed_migrations;
use jobs_service::configuration::Settings;
use jobs_service::jobs::{self, Job, RunOutcome};
use jobs_service::startup::Application;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::db::{DbConn, Migrations};
pub use shared::testing::TestDatabase;

/// The auth-server's migrations: the schema the jobs-service purges (it never depends on the
/// auth-server's crate, only on its tables).
pub const AUTH_MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("../auth-server/migrations"),
    sqlite: embed_migrations!("../auth-server/migrations"),
};

/// A fresh database with the auth schema and the jobs-service's tables.
pub fn migrated_database() -> Arc<TestDatabase> {
    let database = TestDatabase::create();
    let mut conn = connect(&database);
    shared::db::run_migrations(&mut conn, AUTH_MIGRATIONS).expect("the auth migrations apply");
    shared::db::run_migrations(&mut conn, jobs_service::db::MIGRATIONS).expect("the jobs migrations apply");
    Arc::new(database)
}

/// The defaults pointed at `database_url`, with every scheduled job off (tests turn on what they use).
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.listen_addr = "127.0.0.1:0".to_owned();
    settings.workers = 1;
    settings.database.url = SecretString::from(database_url.to_owned());
    settings.database.pool_size = 2;
    settings.purge_tokens.enabled = false;
    // Fast purges (the defaults leave room for the token endpoint).
    settings.purge_tokens.batch_size = 10_000;
    settings.purge_tokens.pause_ms = 20;
    settings.unverified_accounts.enabled = false;
    settings.report.enabled = false;
    settings.runner_id = "test".to_owned();
    settings.auth_public_url = "https://auth.example.test".to_owned();
    settings
}

pub fn connect(database: &TestDatabase) -> DbConn {
    let mut conn = DbConn::Postgresql(
        PgConnection::establish(&database.url).expect("the test database accepts connections"),
    );
    diesel::sql_query("SET TIME ZONE 'UTC'")
        .execute(&mut conn)
        .expect("the session accepts a time zone");
    conn
}

/// Runs `job` once in this process at the instant `now` and returns its `job_runs` row.
pub async fn run_job(
    settings: &Settings,
    job: Job,
    now: chrono::NaiveDateTime,
) -> jobs_service::db::runs::JobRun {
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    match jobs::run_once(&Arc::new(settings.clone()), job, "test", now, stopping)
        .await
        .expect("the job runs")
    {
        RunOutcome::Ran(run) => run,
        RunOutcome::Skipped => panic!("no other runner holds {}", job.name()),
    }
}

pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// `SELECT count(*) AS count ...`
pub fn count(conn: &mut DbConn, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .count
}

#[derive(QueryableByName)]
pub struct TextRow {
    #[diesel(sql_type = Text)]
    pub value: String,
}

/// `SELECT ... AS value ...`, one text column.
pub fn texts(conn: &mut DbConn, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<TextRow>(conn)
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .into_iter()
        .map(|row| row.value)
        .collect()
}

pub fn execute(conn: &mut DbConn, sql: &str) {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(sql)
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// `families` token families of `c1` and `u1`, each with `tokens` refresh tokens, all expired and
/// past the retention: work for purge-tokens that lasts, in small batches.
pub fn seed_expired_families(conn: &mut DbConn, families: u32, tokens: u32) {
    execute(
        conn,
        &format!(
            "INSERT INTO grants (id, client_id, user_id, scope, created_at) \
             SELECT 'family-' || n, 'c1', 'u1', 'read', now() - interval '90 days' \
             FROM generate_series(1, {families}) AS n; \
             INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, \
                                         expires_at) \
             SELECT 'token-' || n || '-' || k, 'family-' || n, 'c1', 'u1', 'read', \
                    now() - interval '90 days', \
                    now() - interval '60 days' + k * interval '1 minute' + n * interval '1 millisecond' \
             FROM generate_series(1, {families}) AS n, generate_series(1, {tokens}) AS k; \
             ANALYZE grants; ANALYZE refresh_tokens;"
        ),
    );
}

/// A client `c1` and a verified user `u1` that tokens can belong to.
pub fn seed_client_and_user(conn: &mut DbConn) {
    execute(
        conn,
        "INSERT INTO clients (id, name, secret_hash, is_public, grant_types, redirect_uris, can_introspect, \
         skip_consent, created_at, updated_at) \
         VALUES ('c1', 'Client', NULL, TRUE, 'authorization_code refresh_token', '[]', FALSE, FALSE, now(), \
         now()); \
         INSERT INTO users (id, username, email, password_hash, created_at, updated_at, email_verified_at) \
         VALUES ('u1', 'alice', 'alice@example.test', 'x', now(), now(), now());",
    );
}

/// A running application and a client to talk to it.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    /// Dropped (the database with it) when the test ends.
    pub database: Arc<TestDatabase>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the application on a fresh database after `customize` has changed its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let database = migrated_database();
    let mut settings = test_settings(&database.url);
    customize(&mut settings);
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("jobs-service-test", &settings.log);
    }
    let application = Application::build(settings)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        http: reqwest::Client::new(),
        database,
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the server answers")
    }
}
/// Polls `check` every 50 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real binary as a child process, killed (SIGKILL) and reaped when dropped, so a failing
/// test leaves no process behind.
pub struct Replica {
    pub child: Child,
}

impl Replica {
    /// Starts `jobs-service serve` on `database_url` with these extra environment variables.
    pub fn start(database_url: &str, environment: &[(&str, &str)]) -> Replica {
        let log = if std::env::var("TEST_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_jobs-service"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("JOBS_LISTEN_ADDR", "127.0.0.1:0")
            .env("JOBS_LOG__FILTER", "warn")
            .env("JOBS_UNVERIFIED_ACCOUNTS__ENABLED", "false")
            .env("JOBS_REPORT__ENABLED", "false")
            .env("JOBS_PURGE_TOKENS__ENABLED", "false")
            .envs(environment.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the jobs-service binary starts");
        Replica { child }
    }

    /// SIGKILL: no chance to finish a batch, release a lock or record anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
