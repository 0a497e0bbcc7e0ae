DROP TABLE jobs_unverified_reminders;
DROP TABLE job_runs;
