DROP INDEX job_runs_one_per_tick;
ALTER TABLE job_runs DROP COLUMN scheduled_for;
