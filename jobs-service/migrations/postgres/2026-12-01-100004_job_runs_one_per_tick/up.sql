-- The scheduled tick a run belongs to (NULL for a run started by hand, `jobs-service run JOB`), so
-- that each tick runs once across replicas: a replica whose timer fires after another one has
-- already finished the same tick finds the row and skips (the advisory lock alone only keeps runs
-- from overlapping). A unique index allows any number of NULLs on both backends.
ALTER TABLE job_runs ADD COLUMN scheduled_for TIMESTAMP;
CREATE UNIQUE INDEX job_runs_one_per_tick ON job_runs (job, scheduled_for);
