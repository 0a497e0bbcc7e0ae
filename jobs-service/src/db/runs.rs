//! The `job_runs` history: one row per run, written by the runner that holds the job's lock.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use shared::db::{Backend, DbConn};

use super::schema::job_runs;

/// A row of `job_runs`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = job_runs)]
pub struct JobRun {
    pub id: String,
    pub job: String,
    pub runner: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub status: String,
    pub rows_affected: i64,
    /// JSON object: rows per table or kind.
    pub details: String,
    pub error: Option<String>,
    /// The scheduled tick the run belongs to; `None` for a run started by hand.
    pub scheduled_for: Option<NaiveDateTime>,
}

/// Marks the runs of `job` still `running` as `abandoned`. Only the holder of the job's lock calls
/// it, so any such run belongs to a runner that died (its lock went with its connection).
pub fn abandon_unfinished(conn: &mut DbConn, job: &str, taken_over_by: &str) -> QueryResult<usize> {
    diesel::update(job_runs::table)
        .filter(job_runs::job.eq(job))
        .filter(job_runs::status.eq("running"))
        .set((
            job_runs::status.eq("abandoned"),
            job_runs::error.eq(format!(
                "the runner stopped without finishing; taken over by {taken_over_by}"
            )),
        ))
        .execute(conn)
}

/// The database's clock (so runs of several replicas compare), as a UTC `TIMESTAMP`.
fn clock(conn: &DbConn) -> &'static str {
    match conn.backend() {
        Backend::Postgresql => "clock_timestamp() AT TIME ZONE 'UTC'",
        // The text form diesel writes and reads for SQLite's timestamps, to the millisecond.
        Backend::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    }
}

/// The columns a statement returns for a [`JobRun`].
const RETURNED: &str =
    "id, job, runner, started_at, finished_at, status, rows_affected, details, error, scheduled_for";

/// Records the start of a run of the tick `scheduled_for` (`None`: a run started by hand). `None`
/// back when that tick has a run already: another replica took it, and it must not run twice.
pub fn start(
    conn: &mut DbConn,
    id: &str,
    job: &str,
    runner: &str,
    scheduled_for: Option<NaiveDateTime>,
) -> QueryResult<Option<JobRun>> {
    let statement = format!(
        "INSERT INTO job_runs (id, job, runner, started_at, status, scheduled_for) \
         VALUES ($1, $2, $3, {}, 'running', $4) ON CONFLICT DO NOTHING RETURNING {RETURNED}",
        clock(conn)
    );
    shared::db::sql_query(conn, &statement)
        .bind::<diesel::sql_types::Text, _>(id)
        .bind::<diesel::sql_types::Text, _>(job)
        .bind::<diesel::sql_types::Text, _>(runner)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamp>, _>(scheduled_for)
        .get_result::<JobRunRow>(conn)
        .optional()
        .map(|row| row.map(JobRun::from))
}

/// Records the end of a run and returns it.
pub fn finish(
    conn: &mut DbConn,
    id: &str,
    status: &str,
    rows_affected: i64,
    details: &str,
    error: Option<&str>,
) -> QueryResult<JobRun> {
    let statement = format!(
        "UPDATE job_runs SET finished_at = {}, status = $2, \
         rows_affected = $3, details = $4, error = $5 WHERE id = $1 RETURNING {RETURNED}",
        clock(conn)
    );
    shared::db::sql_query(conn, &statement)
        .bind::<diesel::sql_types::Text, _>(id)
        .bind::<diesel::sql_types::Text, _>(status)
        .bind::<diesel::sql_types::BigInt, _>(rows_affected)
        .bind::<diesel::sql_types::Text, _>(details)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(error)
        .get_result::<JobRunRow>(conn)
        .map(JobRun::from)
}

/// The most recent runs, newest first, of one job or of all.
pub fn list(conn: &mut DbConn, job: Option<&str>, limit: i64) -> QueryResult<Vec<JobRun>> {
    let mut query = job_runs::table
        .select(JobRun::as_select())
        .order((job_runs::started_at.desc(), job_runs::id))
        .limit(limit)
        .into_boxed();
    if let Some(job) = job {
        query = query.filter(job_runs::job.eq(job));
    }
    query.load(conn)
}

/// Rows deleted by the finished runs of `job` that started at or after `since` (for the report).
pub fn rows_affected_since(conn: &mut DbConn, job: &str, since: NaiveDateTime) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    shared::db::sql_query(
        conn,
        "SELECT CAST(COALESCE(SUM(rows_affected), 0) AS BIGINT) AS total FROM job_runs \
         WHERE job = $1 AND started_at >= $2 AND status <> 'running'",
    )
    .bind::<diesel::sql_types::Text, _>(job)
    .bind::<diesel::sql_types::Timestamp, _>(since)
    .get_result::<Total>(conn)
    .map(|row| row.total)
}

#[derive(QueryableByName)]
#[diesel(table_name = job_runs)]
struct JobRunRow {
    id: String,
    job: String,
    runner: String,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    status: String,
    rows_affected: i64,
    details: String,
    error: Option<String>,
    scheduled_for: Option<NaiveDateTime>,
}

impl From<JobRunRow> for JobRun {
    fn from(row: JobRunRow) -> Self {
        JobRun {
            id: row.id,
            job: row.job,
            runner: row.runner,
            started_at: row.started_at,
            finished_at: row.finished_at,
            status: row.status,
            rows_affected: row.rows_affected,
            details: row.details,
            error: row.error,
            scheduled_for: row.scheduled_for,
        }
    }
}
