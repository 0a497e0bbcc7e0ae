//! Transactions and row locks, the same promise on both backends.
//!
//! PostgreSQL locks rows: `SELECT ... FOR UPDATE` makes a second writer of the same row wait for the
//! first to commit. SQLite has one writer for the whole database, and a transaction that reads
//! first and writes later cannot wait for that lock (in WAL mode the upgrade fails at once with
//! "database is locked" if someone else wrote meanwhile). So on SQLite every transaction takes the
//! write lock at its start (`BEGIN IMMEDIATE`, waiting up to `busy_timeout`), which also serves
//! every `FOR UPDATE` inside it: [`select_for_update!`](crate::select_for_update) is a plain
//! `SELECT` there.

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::Error;

use super::DbConn;

/// Runs `work` in a transaction (a savepoint when already inside one) and commits it if `work`
/// returns `Ok`. Use this instead of diesel's `Connection::transaction` (clippy refuses that one):
/// on SQLite it takes the write lock first, see the module documentation.
pub fn transaction<T, E, F>(conn: &mut DbConn, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<Error>,
{
    let outermost_on_sqlite = match conn {
        DbConn::Sqlite(sqlite) => {
            let status = AnsiTransactionManager::transaction_manager_status_mut(sqlite);
            status.transaction_depth().map_err(E::from)?.is_none()
        }
        DbConn::Postgresql(_) => false,
    };
    if !outermost_on_sqlite {
        #[expect(
            clippy::disallowed_methods,
            reason = "the one place that calls it, for PostgreSQL and for savepoints"
        )]
        return conn.transaction(work);
    }
    if let DbConn::Sqlite(sqlite) = conn {
        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE").map_err(E::from)?;
    }
    // From here on as diesel's own `TransactionManager::transaction`: the depth is tracked by the
    // inner connection, which the `MultiConnection` delegates to.
    match work(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn).map_err(E::from)?;
            Ok(value)
        }
        Err(work_error) => match <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
            Ok(()) | Err(Error::BrokenTransactionManager) => Err(work_error),
            Err(rollback_error) => Err(rollback_error.into()),
        },
    }
}

/// `$query.for_update()` on PostgreSQL, `$query` as it is on SQLite (where [`transaction`] already
/// holds the database's write lock), then `$finish` with `$q` bound to the query and `$c` to the
/// backend's connection:
///
/// ```ignore
/// select_for_update!(conn, grants::table.find(id).select(Grant::as_select()),
///     |query, c| query.first(c).optional())
/// ```
#[macro_export]
macro_rules! select_for_update {
    ($conn:expr, $query:expr, |$q:ident, $c:ident| $finish:expr) => {
        match $conn {
            $crate::db::DbConn::Postgresql($c) => {
                let $q = diesel::QueryDsl::for_update($query);
                $finish
            }
            $crate::db::DbConn::Sqlite($c) => {
                let $q = $query;
                $finish
            }
        }
    };
}
