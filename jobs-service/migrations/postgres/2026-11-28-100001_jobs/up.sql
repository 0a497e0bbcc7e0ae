-- The jobs-service's own tables, in the auth database beside the auth-server's (this migration set
-- sorts after the auth-server's; diesel keeps both sets' versions in one __diesel_schema_migrations).

-- One row per run of a job: written when a runner takes the job's lock, finished when it lets go.
-- status: running, succeeded, failed, interrupted (stopped by SIGTERM between batches), abandoned
-- (the runner died; marked by the next runner that takes the lock).
CREATE TABLE job_runs (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    runner TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status TEXT NOT NULL,
    rows_affected BIGINT NOT NULL DEFAULT 0,
    -- JSON object: rows per table or kind.
    details TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at);

-- Unverified accounts that were sent their reminder (so it goes out once).
CREATE TABLE jobs_unverified_reminders (
    user_id TEXT PRIMARY KEY,
    reminded_at TIMESTAMP NOT NULL
);
