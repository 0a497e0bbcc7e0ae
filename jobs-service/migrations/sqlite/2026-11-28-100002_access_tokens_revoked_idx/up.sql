-- purge-tokens deletes revoked access tokens before they expire; this partial index finds them
-- without a scan. (PostgreSQL builds it CONCURRENTLY; SQLite has no such thing and needs none here.)
CREATE INDEX IF NOT EXISTS jobs_access_tokens_revoked ON access_tokens (revoked_at) WHERE revoked_at IS NOT NULL
