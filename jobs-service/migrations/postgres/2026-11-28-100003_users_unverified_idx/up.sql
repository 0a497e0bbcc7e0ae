-- unverified-accounts finds accounts never verified, oldest first, without a scan of users.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_users_unverified ON users (created_at) WHERE email_verified_at IS NULL
