//! What a database call can fail with, and the one place that decides "the database is unavailable"
//! (answered 503 with `Retry-After`) as opposed to "the query failed" (500).

use crate::http_error::error_chain_fmt;

/// A database call that failed: no connection, or the query itself (for callers of
/// [`run`](super::run) whose closure returns diesel errors).
#[derive(thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (see [`DbError`]).
    #[error(transparent)]
    Unavailable(#[from] DbError),
    #[error("a database query failed")]
    Query(#[from] diesel::result::Error),
}

impl StoreError {
    /// Whether the database could not do the work now (no connection, a connection that died, a
    /// statement or lock wait that ran out of time), as opposed to a query it refused.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Query(error) => is_connection_failure(error),
        }
    }
}

impl std::fmt::Debug for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

/// Why a database call could not be made at all (as opposed to a query that failed).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be obtained in time: the database is down or saturated.
    #[error("the database is unavailable")]
    Unavailable(#[source] diesel::r2d2::PoolError),
    /// Every connection stayed busy for the whole acquire timeout.
    #[error("the database is saturated")]
    Saturated,
    /// No answer within the call's bound: the server stopped answering without closing the
    /// connection (see [`run`](super::run)).
    #[error("the database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
    /// The blocking task panicked or was cancelled.
    #[error("the database task did not complete")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// Whether a query error means the database could not do the work now (so 503, not 500): the
/// connection failed, or a statement or lock wait ran out of time under load.
pub fn is_connection_failure(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        // diesel exposes neither PostgreSQL's SQLSTATE (57014, 55P03) nor SQLite's result code
        // (SQLITE_BUSY once `busy_timeout` has passed); these are their messages.
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("statement timeout")
                || message.contains("lock timeout")
                || message.contains("database is locked")
        }
        _ => false,
    }
}

/// Whether `error`, somewhere in its chain, is a [`StoreError`], [`DbError`] or diesel error that
/// means the database is unavailable (for code that carries database failures in `anyhow`).
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_unavailable)
            || cause.downcast_ref::<DbError>().is_some()
            || cause
                .downcast_ref::<diesel::result::Error>()
                .is_some_and(is_connection_failure)
    })
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_dead_connection_a_timeout_and_a_busy_sqlite_are_unavailability() {
        for error in [
            database_error(
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            database_error(
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout",
            ),
            database_error(DatabaseErrorKind::Unknown, "database is locked"),
            Error::BrokenTransactionManager,
        ] {
            assert!(StoreError::from(error).is_unavailable());
        }
    }

    #[test]
    fn a_refused_query_is_not_unavailability_even_inside_anyhow() {
        let refused = database_error(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(!StoreError::from(refused).is_unavailable());
        let wrapped = anyhow::Error::new(StoreError::from(Error::NotFound)).context("loading keys");
        assert!(!is_unavailable(&wrapped));
        let down = anyhow::Error::new(StoreError::from(DbError::Saturated)).context("loading keys");
        assert!(is_unavailable(&down));
        let closed = anyhow::Error::new(database_error(DatabaseErrorKind::ClosedConnection, "gone"))
            .context("signing");
        assert!(is_unavailable(&closed));
    }
}
