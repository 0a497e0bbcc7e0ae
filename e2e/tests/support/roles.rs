//! The databases and least-privilege roles of `deploy/sql/roles.sql`, made for one test under names
//! of its own (roles are global to the server, and tests run in parallel), migrated and granted as
//! compose and the Kubernetes Job do it, and dropped when the test ends. A killed run's leftovers
//! carry their creation time in their names; `.ci/run` drops them after three hours.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};
use shared::testing::{LOCAL_OPTIONS, server_url};

use super::{psql, repository, run};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// One test's platform databases (`auth`, `email`) and roles.
pub struct PlatformDatabases {
    prefix: String,
}

/// The roles, as `deploy/sql/roles.sql` names them.
pub const ROLES: [&str; 5] = [
    "auth_owner",
    "auth_service",
    "jobs_service",
    "email_owner",
    "email_service",
];

impl PlatformDatabases {
    /// Creates the databases and roles with `deploy/sql/roles.sql`, run as the superuser.
    pub fn create() -> PlatformDatabases {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        let prefix = format!(
            "authtest_{created}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let databases = PlatformDatabases { prefix };
        let mut args = vec![
            format!("auth_db={}", databases.database("auth")),
            format!("email_db={}", databases.database("email")),
        ];
        for role in ROLES {
            args.push(format!("{role}={}", databases.role(role)));
            // The test server trusts local connections; the passwords only have to be set.
            args.push(format!("{role}_password=not-checked-by-the-test-server"));
        }
        let script = repository().join("deploy/sql/roles.sql");
        let mut psql_args: Vec<String> = args.into_iter().flat_map(|arg| ["-v".to_owned(), arg]).collect();
        psql_args.extend(["-f".to_owned(), script.display().to_string()]);
        let borrowed: Vec<&str> = psql_args.iter().map(String::as_str).collect();
        psql("postgres", "postgres", &borrowed);
        databases
    }

    /// The name this test gives `role` (`auth_service` -> `authtest_..._auth_service`).
    pub fn role(&self, role: &str) -> String {
        format!("{}_{role}", self.prefix)
    }

    /// The name this test gives the database `auth` or `email`.
    pub fn database(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// A `DATABASE_URL` connecting `role` to the database `name`.
    pub fn url(&self, role: &str, name: &str) -> String {
        let server = url::Url::parse(&server_url()).expect("the test server URL parses");
        format!(
            "postgres://{}:unused@{}:{}/{}{LOCAL_OPTIONS}",
            self.role(role),
            server.host_str().unwrap_or("127.0.0.1"),
            server.port().unwrap_or(5432),
            self.database(name)
        )
    }

    /// Migrates both databases as their owners, then grants the services their rights, as the
    /// compose one-shots and the Kubernetes migration Job do.
    pub fn migrate_and_grant(&self) {
        let auth_owner = self.url("auth_owner", "auth");
        run(
            "auth-server",
            &["migrate"],
            &[("DATABASE_URL", &auth_owner)],
            None,
        );
        run(
            "jobs-service",
            &["migrate"],
            &[("DATABASE_URL", &auth_owner)],
            None,
        );
        let email_owner = self.url("email_owner", "email");
        run(
            "email-service",
            &["migrate"],
            &[("DATABASE_URL", &email_owner)],
            None,
        );
        self.grant();
    }

    /// Applies `deploy/sql/auth-grants.sql` and `email-grants.sql` as the owners.
    pub fn grant(&self) {
        let sql = repository().join("deploy/sql");
        let auth_service = format!("auth_service={}", self.role("auth_service"));
        let jobs_service = format!("jobs_service={}", self.role("jobs_service"));
        let auth_grants = sql.join("auth-grants.sql").display().to_string();
        psql(
            &self.role("auth_owner"),
            &self.database("auth"),
            &["-v", &auth_service, "-v", &jobs_service, "-f", &auth_grants],
        );
        let email_service = format!("email_service={}", self.role("email_service"));
        let email_grants = sql.join("email-grants.sql").display().to_string();
        psql(
            &self.role("email_owner"),
            &self.database("email"),
            &["-v", &email_service, "-f", &email_grants],
        );
    }

    /// A connection as `role` to the database `name`.
    pub fn connect(&self, role: &str, name: &str) -> diesel::ConnectionResult<PgConnection> {
        PgConnection::establish(&self.url(role, name))
    }
}

impl Drop for PlatformDatabases {
    fn drop(&mut self) {
        let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres{LOCAL_OPTIONS}", server_url()))
        else {
            return;
        };
        for name in ["auth", "email"] {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.database(name)
            ))
            .execute(&mut admin);
        }
        let roles: Vec<String> = ROLES
            .iter()
            .map(|role| format!("\"{}\"", self.role(role)))
            .collect();
        let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {}", roles.join(", "))).execute(&mut admin);
    }
}
