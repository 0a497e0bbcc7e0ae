//! Forcing an interleaving instead of hoping for it: a trigger of the test's database makes the
//! inserts into one table sleep for a second, and the test acts while a request sleeps there,
//! after its checks and before its commit.

use std::time::{Duration, Instant};

use super::TestApp;

/// Inserts into `table` sleep for a second (a trigger of this test's database).
pub fn slow_inserts_into(app: &TestApp, table: &str) {
    let sql = format!(
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$; \
         CREATE TRIGGER slow_insert BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION slow_insert();"
    );
    diesel::connection::SimpleConnection::batch_execute(&mut *app.conn(), &sql).unwrap();
}

/// Waits (at most 10 s) until a session of the database sleeps in the trigger.
pub async fn wait_for_the_sleeping_insert(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count(
        "SELECT count(*) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event = 'PgSleep'",
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "no request reached the sleeping insert"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
