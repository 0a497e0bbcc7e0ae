//! The database's clock, as SQL. Leases and due times that several machines compare (the outbox
//! relay's claims, the email-service's delivery claims) are written and compared in the database's
//! time, so machines whose clocks disagree cannot both hold one lease.

use std::time::Duration;

use diesel::expression::SqlLiteral;
use diesel::sql_types::Timestamp;

use super::Backend;

/// The database's current UTC time, an SQL expression of type `TIMESTAMP`.
pub fn now(backend: Backend) -> String {
    now_plus(backend, Duration::ZERO)
}

/// The database's current UTC time plus `offset` (millisecond precision).
pub fn now_plus(backend: Backend, offset: Duration) -> String {
    let millis = offset.as_millis();
    match backend {
        // The time the statement began, whatever transaction it runs in; UTC whatever the session's
        // time zone.
        Backend::Postgresql => {
            format!("(statement_timestamp() AT TIME ZONE 'UTC' + interval '{millis} milliseconds')")
        }
        // The text form diesel writes and reads (`YYYY-MM-DD HH:MM:SS.SSS`), which sorts as the time.
        Backend::Sqlite => format!(
            "strftime('%Y-%m-%d %H:%M:%f', 'now', '+{}.{:03} seconds')",
            millis / 1000,
            millis % 1000
        ),
    }
}

/// [`now`] as a diesel expression, for `set` and `filter`.
pub fn now_expression(backend: Backend) -> SqlLiteral<Timestamp> {
    now_plus_expression(backend, Duration::ZERO)
}

/// [`now_plus`] as a diesel expression, for `set` and `filter`.
pub fn now_plus_expression(backend: Backend, offset: Duration) -> SqlLiteral<Timestamp> {
    diesel::dsl::sql(&now_plus(backend, offset))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::time::Duration;

    use chrono::NaiveDateTime;
    use diesel::prelude::*;
    use diesel::sql_types::{Bool, Timestamp};

    use super::*;
    use crate::db::{SessionSettings, connect};

    #[derive(QueryableByName)]
    struct Times {
        #[diesel(sql_type = Timestamp)]
        now: NaiveDateTime,
        #[diesel(sql_type = Timestamp)]
        later: NaiveDateTime,
        #[diesel(sql_type = Bool)]
        ordered: bool,
    }

    #[test]
    fn on_sqlite_the_database_clock_reads_back_as_a_timestamp_and_sorts_as_time() {
        let session = SessionSettings {
            statement_timeout_ms: 1000,
        };
        let mut conn = connect("sqlite://:memory:", &session).unwrap();
        let (now, later) = (
            now(Backend::Sqlite),
            now_plus(Backend::Sqlite, Duration::from_millis(1500)),
        );

        let times: Times = diesel::sql_query(format!(
            "SELECT {now} AS now, {later} AS later, {later} > {now} AS ordered"
        ))
        .get_result(&mut conn)
        .unwrap();

        assert_eq!((times.later - times.now).num_milliseconds(), 1500);
        assert!(times.ordered);
        let wall = chrono::Utc::now().naive_utc();
        assert!(
            (wall - times.now).num_seconds().abs() < 5,
            "UTC: {} against {wall}",
            times.now
        );
    }
}
