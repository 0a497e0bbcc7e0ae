//! Benchmark of purge-tokens, measured in one run:
//!
//!     cargo build --release -p auth-server
//!     cargo run --release -p jobs-service --example purge_bench -- \
//!         [--rows 1000000] [--batch-size N] [--auth-server target/release/auth-server] \
//!         [--rounds 3] [--seconds N] [--connections 32] [--driver wrk|builtin]
//!
//! It creates a scratch PostgreSQL database (TEST_DATABASE_SERVER_URL, default
//! postgres://postgres@127.0.0.1:5432) with the auth-server's schema and the jobs-service's, then:
//! 1. purge rate: inserts `--rows` expired and as many live access tokens, runs purge-tokens once
//!    and prints rows/s (and checks that exactly the expired rows went); then the same for
//!    `--rows` refresh tokens in grant families of five, past the retention;
//! 2. with `--auth-server PATH`: starts that auth-server binary on the same database, loads
//!    `POST /oauth2/token` (client_credentials, which inserts into the table being purged) without
//!    a purge, then again while a purge of `--rows` fresh expired rows runs, `--rounds` times, and
//!    prints both p99s of each round, their ratio and the median ratio. The load window defaults to
//!    70 % of the first purge's time, so that it falls inside the purge.
//!
//! Server, database, purge and load share the machine: compare the ratio, not absolute figures.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::embed_migrations;
use jobs_service::configuration::Settings;
use jobs_service::jobs::{self, Job, RunOutcome};
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::db::{DbConn, Migrations};
use shared::testing::TestDatabase;
use shared::testing::load::{self, LoadOptions, Target};

const AUTH_MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("../auth-server/migrations"),
    sqlite: embed_migrations!("../auth-server/migrations"),
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: i64 = load::arg("--rows").unwrap_or(1_000_000);
    let database = TestDatabase::create();
    let mut conn = database.connect();
    shared::db::run_migrations(&mut conn, AUTH_MIGRATIONS)?;
    shared::db::run_migrations(&mut conn, jobs_service::db::MIGRATIONS)?;
    conn.batch_execute(
        "INSERT INTO clients (id, name, secret_hash, is_public, grant_types, redirect_uris, can_introspect, \
         skip_consent, created_at, updated_at) \
         VALUES ('seed', 'Seed', NULL, TRUE, 'client_credentials', '[]', FALSE, FALSE, now(), now())",
    )?;
    let mut settings = Settings::defaults()?;
    settings.database.url = SecretString::from(database.url.clone());
    settings.log.filter = std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".to_owned());
    if let Some(batch_size) = load::arg("--batch-size") {
        settings.purge_tokens.batch_size = batch_size;
    }
    if let Some(pause_ms) = load::arg("--pause-ms") {
        settings.purge_tokens.pause_ms = pause_ms;
    }
    shared::telemetry::init("purge-bench", &settings.log);
    let settings = Arc::new(settings);
    println!(
        "purge-tokens benchmark: {rows} expired + {rows} live access tokens, batch size {}, budget {} ms, \
            pause {} ms",
        settings.purge_tokens.batch_size,
        settings.purge_tokens.batch_budget_ms,
        settings.purge_tokens.pause_ms
    );

    let seeding = Instant::now();
    seed(&mut conn, "first", rows, true)?;
    println!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());
    let (deleted, access_token_seconds) = purge(&settings).await?;
    let seconds = access_token_seconds;
    let left: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM access_tokens WHERE expires_at < now())",
    ))
    .get_result(&mut conn)?;
    anyhow::ensure!(
        deleted == rows && left == 0,
        "the purge deleted {deleted} rows and left {left} expired"
    );
    println!(
        "purge rate: {deleted} rows in {seconds:.2} s = {:.0} rows/s",
        deleted as f64 / seconds
    );

    purge_families(&mut conn, &settings, rows / 5).await?;

    if let Some(binary) = load::arg::<String>("--auth-server") {
        latency_under_purge(
            &binary,
            &database,
            &settings,
            &mut conn,
            rows,
            access_token_seconds,
        )
        .await?;
    }
    Ok(())
}

/// Inserts `rows` expired access tokens (and as many live ones when `with_live`).
fn seed(conn: &mut DbConn, prefix: &str, rows: i64, with_live: bool) -> anyhow::Result<()> {
    conn.batch_execute(&format!(
        "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at) \
         SELECT '{prefix}-expired-' || n, 'seed', 'read', now() - interval '2 days', \
                now() - interval '1 minute' - n * interval '80 milliseconds' FROM generate_series(1, \
                {rows}) AS n;"
    ))?;
    if with_live {
        conn.batch_execute(&format!(
            "INSERT INTO access_tokens (token_hash, client_id, scope, issued_at, expires_at) \
             SELECT '{prefix}-live-' || n, 'seed', 'read', now(), \
             now() + interval '1 day' + n * interval '3 milliseconds' \
             FROM generate_series(1, {rows}) AS n;"
        ))?;
    }
    conn.batch_execute("ANALYZE access_tokens")?;
    Ok(())
}

/// Runs purge-tokens once; the rows it deleted and the seconds it took.
async fn purge(settings: &Arc<Settings>) -> anyhow::Result<(i64, f64)> {
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let now = chrono::Utc::now().naive_utc();
    match jobs::run_once(settings, Job::PurgeTokens, "bench", now, stopping).await? {
        RunOutcome::Ran(run) => {
            anyhow::ensure!(run.status == "succeeded", "the purge failed: {:?}", run.error);
            Ok((run.rows_affected, started.elapsed().as_secs_f64()))
        }
        RunOutcome::Skipped => anyhow::bail!("the purge was skipped"),
    }
}

/// The family purge: `families` grant families of five refresh tokens each, all past the retention.
async fn purge_families(conn: &mut DbConn, settings: &Arc<Settings>, families: i64) -> anyhow::Result<()> {
    conn.batch_execute(&format!(
        "INSERT INTO grants (id, client_id, scope, created_at) \
         SELECT 'family-' || n, 'seed', 'read', now() - interval '90 days' FROM generate_series(1, \
         {families}) AS n; \
         INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
         VALUES ('seed', 'seed', 'seed@example.test', 'x', now(), now()); \
         INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, expires_at) \
         SELECT 'token-' || n || '-' || k, 'family-' || n, 'seed', 'seed', 'read', \
         now() - interval '90 days', \
                now() - interval '60 days' + n * interval '10 milliseconds' + k * interval '1 millisecond' \
         FROM generate_series(1, {families}) AS n, generate_series(1, 5) AS k; \
         ANALYZE grants; ANALYZE refresh_tokens;"
    ))?;
    let (deleted, seconds) = purge(settings).await?;
    println!(
        "family purge rate: {families} families ({deleted} rows: grants and refresh tokens) in {seconds:.2} \
            s = {:.0} rows/s",
        deleted as f64 / seconds
    );

    Ok(())
}

/// The auth-server as a child process, killed when dropped.
struct AuthServer(Child);

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real auth-server on `database`, alone (no broker link, a throwaway signing key), with a
/// client_credentials client registered through its CLI; returns it, its URL and the client.
async fn start_auth_server(
    binary: &str,
    database: &TestDatabase,
) -> anyhow::Result<(AuthServer, String, (String, String))> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let auth = format!("http://127.0.0.1:{port}");
    let cli = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new(binary)
            .args(args)
            .env("DATABASE_URL", &database.url)
            .env("AUTH_LOG__FILTER", "warn")
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8(output.stdout)?)
    };
    cli(&["scopes", "create", "read", "--description", "Read"])?;
    let created: serde_json::Value = serde_json::from_str(&cli(&[
        "clients",
        "create",
        "--name",
        "bench",
        "--grant-type",
        "client_credentials",
        "--scope",
        "read",
        "--json",
    ])?)?;
    let client = (
        created["client_id"].as_str().unwrap_or_default().to_owned(),
        created["client_secret"].as_str().unwrap_or_default().to_owned(),
    );
    let server = AuthServer(
        Command::new(binary)
            .env("DATABASE_URL", &database.url)
            .env("AUTH_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("AUTH_ISSUER", &auth)
            .env("AUTH_LOG__FILTER", "warn")
            // Measured alone: no broker link (nothing here sends email), a throwaway signing key.
            .env("AUTH_OUTBOX__RELAY_ENABLED", "false")
            .env(
                "AUTH_KEYS__ENCRYPTION_KEY",
                "cHVyZ2UtYmVuY2gta2V5LWVuY3J5cHRpb24ta2V5ISE=",
            )
            .stdout(Stdio::null())
            .spawn()?,
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{auth}/readyz"))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
    {
        anyhow::ensure!(Instant::now() < deadline, "the auth-server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((server, auth, client))
}

async fn latency_under_purge(
    binary: &str,
    database: &TestDatabase,
    settings: &Arc<Settings>,
    conn: &mut DbConn,
    rows: i64,
    purge_seconds: f64,
) -> anyhow::Result<()> {
    let mut options = LoadOptions::from_args();
    // The load window (after its one-second warm-up) must fall inside the purge: 70 % of the time
    // the same purge took alone, unless --seconds says otherwise.
    if load::arg::<u64>("--seconds").is_none() {
        options.seconds = ((purge_seconds * 0.7) as u64).saturating_sub(1).max(2);
    }
    let rounds: usize = load::arg("--rounds").unwrap_or(3).max(1);
    let (_server, auth, client) = start_auth_server(binary, database).await?;
    let target = Target::post_form(
        "token",
        format!("{auth}/oauth2/token"),
        "grant_type=client_credentials".into(),
        &client,
    );
    println!(
        "\ntoken endpoint p99 with and without a purge: {} connections, {} s windows, load from {}, \
            {rounds} rounds",
        options.connections, options.seconds, options.driver
    );
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        seed(conn, &format!("round{round}"), rows, false)?;
        let quiet = load::run(&target, &options).await?;
        println!("{}", quiet.line("no purge"));
        let purge_settings = settings.clone();
        let purging =
            tokio::spawn(async move { purge(&purge_settings).await.map(|done| (done, Instant::now())) });
        let busy = load::run(&target, &options).await?;
        let load_ended = Instant::now();
        println!("{}", busy.line("purging"));
        let ((deleted, seconds), purge_ended) = purging.await??;
        let ratio = busy.p99_ms / quiet.p99_ms;
        println!(
            "round {round}: purge of {deleted} rows in {seconds:.2} s = {:.0} rows/s ({}); p99 ratio \
                {ratio:.2}",
            deleted as f64 / seconds,
            if purge_ended >= load_ended {
                "it outlasted the load window"
            } else {
                "it ended inside the load window"
            }
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "p99 purging / no purge: median {:.2} x over {rounds} rounds (min {:.2}, max {:.2}; target < 2)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    Ok(())
}
