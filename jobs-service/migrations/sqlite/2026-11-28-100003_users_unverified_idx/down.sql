DROP INDEX IF EXISTS jobs_users_unverified
