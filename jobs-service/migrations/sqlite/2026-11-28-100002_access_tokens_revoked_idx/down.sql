DROP INDEX IF EXISTS jobs_access_tokens_revoked
