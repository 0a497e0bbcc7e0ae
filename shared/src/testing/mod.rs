//! Test support for every crate (feature `testing`, for dev-dependencies only): a PostgreSQL
//! database per test, dropped when the test ends.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// Connections to the local test server skip TLS: libpq's OpenSSL state freed by a pool thread while
/// the process exits (the atexit cleanup runs on the main thread) was seen to crash a test process
/// about once in 500 runs. Production keeps libpq's default (TLS when the server offers it).
pub const LOCAL_OPTIONS: &str = "?sslmode=disable";

/// The PostgreSQL server the tests use: `TEST_DATABASE_SERVER_URL`, or the local one.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database created for one test and dropped when the test ends (or when a later CI run finds it
/// abandoned: the creation time is in its name, and `.ci/run` drops those older than three hours).
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDatabase {
    /// Creates an empty database.
    ///
    /// # Panics
    /// When PostgreSQL is unreachable: the tests need it and must fail, not skip.
    pub fn create() -> TestDatabase {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        let name = format!(
            "authtest_{created}_{}_{}",
            std::process::id(),
            DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = maintenance_connection().unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is not reachable at {} (TEST_DATABASE_SERVER_URL), \
                    and this test needs it: start it \
                 (`pg_ctlcluster --skip-systemctl-redirect 15 main start`, or .ci/run, which starts it) \
                 and run the tests again; see README, Test it. The driver said: {error}",
                server_url()
            )
        });
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .expect("create the test database");
        TestDatabase {
            url: format!("{}/{name}{LOCAL_OPTIONS}", server_url()),
            name,
        }
    }
}

impl TestDatabase {
    /// A connection to the database, set up as the pool sets up its own.
    ///
    /// # Panics
    /// When the database does not accept it.
    pub fn connect(&self) -> crate::db::DbConn {
        crate::db::connect(
            &self.url,
            &crate::db::SessionSettings {
                statement_timeout_ms: 30_000,
            },
        )
        .expect("the test database accepts connections")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = maintenance_connection() {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
                .execute(&mut admin);
        }
    }
}

fn maintenance_connection() -> diesel::ConnectionResult<PgConnection> {
    PgConnection::establish(&format!("{}/postgres{LOCAL_OPTIONS}", server_url()))
}

pub mod amqp;
pub mod fault_proxy;
pub mod html;
pub mod load;
mod quoted_printable;
pub mod schema;
pub mod smtp_sink;
pub mod tls;
