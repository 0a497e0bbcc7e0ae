//! The one connection type, on either backend: PostgreSQL (production, compose, Kubernetes) or SQLite
//! (the one-command platform, and a single service tried alone). The URL's scheme picks the backend,
//! and each backend gets its session settings when a connection opens.

use diesel::connection::SimpleConnection;
use diesel::{Connection, ConnectionError, ConnectionResult, PgConnection, QueryResult, SqliteConnection};

/// Every query in the platform runs on this connection type, so the same diesel code serves both
/// backends. Queries must stay portable: text ids, `TIMESTAMP` in UTC, no arrays, JSON or enums in
/// columns, no `as_returning()` (use `returning(table::all_columns)`). The few statements that differ
/// run on the variant's own connection, each in one named function (see [`transaction`](super::transaction),
/// [`select_for_update!`](crate::select_for_update) and the callers of [`on_backend!`](crate::on_backend)).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// The backend of [`DbConn`], for `check_for_backend` in models.
pub type DbBackend = MultiBackend;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgresql,
    Sqlite,
}

impl Backend {
    /// `postgres://` and `postgresql://` are PostgreSQL, `sqlite://` (or `sqlite:`) SQLite.
    pub fn of(url: &str) -> Result<Backend, ConnectionError> {
        target(url).map(|(backend, _)| backend)
    }
}

/// The backend of `url`, and what its driver wants: the URL itself for libpq, the file path for
/// SQLite (`sqlite://data/platform.db` is relative, `sqlite:///var/lib/x.db` absolute).
fn target(url: &str) -> Result<(Backend, &str), ConnectionError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgresql, url));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(ConnectionError::InvalidConnectionUrl(
                "a sqlite:// URL needs a file path, e.g. sqlite://.platform/platform.db".to_owned(),
            ));
        }
        return Ok((Backend::Sqlite, path));
    }
    Err(ConnectionError::InvalidConnectionUrl(
        "the database URL must start with postgres://, postgresql:// or sqlite://".to_owned(),
    ))
}

impl DbConn {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Postgresql(_) => Backend::Postgresql,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Opens a connection to `url` and applies the session settings. Unlike diesel's `establish` on a
/// `MultiConnection`, which tries every backend and reports only "invalid URL", this names the
/// driver's own reason (connection refused, no such file, authentication failed).
pub fn connect(url: &str, session: &SessionSettings) -> ConnectionResult<DbConn> {
    let mut conn = match target(url)? {
        (Backend::Postgresql, url) => DbConn::Postgresql(PgConnection::establish(&with_client_bounds(url))?),
        (Backend::Sqlite, path) => DbConn::Sqlite(SqliteConnection::establish(path)?),
    };
    session
        .apply(&mut conn)
        .map_err(|error| ConnectionError::BadConnection(format!("cannot set up the session: {error}")))?;
    Ok(conn)
}

/// libpq's client-side bounds, added to a PostgreSQL URL that does not set them itself. Without
/// them a server that stops answering without closing the connection (power loss, a partition,
/// packets silently dropped) holds a connection until the kernel gives up, about 15 minutes:
/// - `connect_timeout`: a connection attempt gives up after 5 s;
/// - `keepalives*`: while we wait for a result, a silent peer is noticed after 10 + 3 x 5 s;
/// - `tcp_user_timeout`: data we sent and nobody acknowledged ends the connection after 15 s.
const CLIENT_BOUNDS: &[(&str, &str)] = &[
    ("connect_timeout", "5"),
    ("keepalives", "1"),
    ("keepalives_idle", "10"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "15000"),
];

/// `url` with every [`CLIENT_BOUNDS`] parameter it does not set itself.
fn with_client_bounds(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let present: Vec<&str> = query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key))
        .collect();
    let mut bounded = url.to_owned();
    for (key, value) in CLIENT_BOUNDS {
        if !present.contains(key) {
            bounded.push(if bounded.contains('?') { '&' } else { '?' });
            bounded.push_str(&format!("{key}={value}"));
        }
    }
    bounded
}

/// What every connection is set up with when it opens.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// PostgreSQL: the server-side `statement_timeout`. SQLite: how long a statement waits for the
    /// write lock another connection holds (`busy_timeout`) before it fails as "database is locked".
    pub statement_timeout_ms: u64,
}

impl SessionSettings {
    fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        match conn {
            // Timestamps are stored as UTC `TIMESTAMP`; a session time zone other than UTC would
            // shift `now()`-based defaults.
            DbConn::Postgresql(pg) => pg.batch_execute(&format!(
                "SET TIME ZONE 'UTC'; SET statement_timeout = {};",
                self.statement_timeout_ms
            )),
            // Foreign keys are off by default in SQLite, and the schema's ON DELETE CASCADE relies on
            // them. WAL lets readers run beside the one writer; `synchronous = NORMAL` in WAL mode
            // survives a crash of the process (not of the machine's power), which is the promise of
            // the embedded mode.
            DbConn::Sqlite(sqlite) => sqlite.batch_execute(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; \
                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                self.statement_timeout_ms
            )),
        }
    }
}

/// Runs the same diesel code on the connection of either backend: for the statements diesel can
/// build for PostgreSQL and for SQLite but not for the two together (an upsert, a multi-row insert).
/// The body is compiled once per backend, with `$inner` bound to that backend's connection.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $inner:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgresql($inner) => $body,
            $crate::db::DbConn::Sqlite($inner) => $body,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend_and_sqlite_urls_name_a_file() {
        assert_eq!(
            target("postgres://u@h/db").unwrap(),
            (Backend::Postgresql, "postgres://u@h/db")
        );
        assert_eq!(target("postgresql://h/db").unwrap().0, Backend::Postgresql);
        assert_eq!(
            target("sqlite://.platform/platform.db").unwrap(),
            (Backend::Sqlite, ".platform/platform.db")
        );
        assert_eq!(
            target("sqlite:///var/lib/platform.db").unwrap(),
            (Backend::Sqlite, "/var/lib/platform.db")
        );
        assert_eq!(target("sqlite:x.db").unwrap(), (Backend::Sqlite, "x.db"));
    }

    #[test]
    fn postgresql_urls_get_client_side_bounds_unless_they_set_their_own() {
        assert_eq!(
            with_client_bounds("postgres://u@h/db"),
            "postgres://u@h/db?connect_timeout=5&keepalives=1&keepalives_idle=10&keepalives_interval=5\
             &keepalives_count=3&tcp_user_timeout=15000"
        );
        let own =
            with_client_bounds("postgres://u@h/db?sslmode=require&connect_timeout=2&tcp_user_timeout=1000");
        assert!(
            own.starts_with(
                "postgres://u@h/db?sslmode=require&connect_timeout=2&tcp_user_timeout=1000&keepalives=1"
            ),
            "{own}"
        );
        assert_eq!(own.matches("connect_timeout").count(), 1, "{own}");
        assert_eq!(own.matches("tcp_user_timeout").count(), 1, "{own}");
    }

    #[test]
    fn other_schemes_and_an_empty_path_are_refused_with_what_to_write() {
        for url in ["mysql://h/db", "platform.db", "sqlite://", ""] {
            let error = target(url).unwrap_err().to_string();
            assert!(error.contains("sqlite://"), "{url}: {error}");
        }
    }

    #[test]
    fn a_sqlite_connection_opens_with_foreign_keys_on() {
        use diesel::RunQueryDsl;
        use diesel::sql_types::Integer;

        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Integer)]
            foreign_keys: i32,
        }
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/test.db", directory.path().display());
        let mut conn = connect(
            &url,
            &SessionSettings {
                statement_timeout_ms: 1000,
            },
        )
        .unwrap();
        assert_eq!(conn.backend(), Backend::Sqlite);
        let setting: Setting = diesel::sql_query("PRAGMA foreign_keys")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(setting.foreign_keys, 1);
    }

    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let error = connect(
            "sqlite:///nonexistent-directory/x.db",
            &SessionSettings {
                statement_timeout_ms: 1000,
            },
        )
        .err()
        .expect("cannot open a file in a missing directory")
        .to_string();
        assert!(error.contains("unable to open"), "{error}");
    }
}
