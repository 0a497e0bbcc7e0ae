-- purge-tokens deletes revoked access tokens before they expire; this partial index finds them
-- without a scan. Built CONCURRENTLY (outside a transaction) so writers are never blocked.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_access_tokens_revoked ON access_tokens (revoked_at) WHERE revoked_at IS NOT NULL
