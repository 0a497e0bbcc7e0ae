-- Account emails (issue 4): verified addresses, single-use account links, and the transactional
-- outbox through which the auth-server (and the jobs-service, which shares this database) publish
-- messages to RabbitMQ.

-- NULL until the user follows the verification link. Users created before this migration (and by
-- the admin CLI) count as verified.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
UPDATE users SET email_verified_at = created_at;

-- Single-use links sent by email: 'verify_email' and 'reset_password'. Stored as the hex SHA-256
-- of the token, like every other secret.
CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX account_links_user ON account_links (user_id, purpose);
CREATE INDEX account_links_expiry ON account_links (expires_at);

-- Messages written in the same transaction as the change that causes them; the relay publishes
-- them with publisher confirms and sets published_at. JSON as TEXT (portable).
CREATE TABLE outbox_messages (
    message_id TEXT PRIMARY KEY,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    message_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- The relay skips a row until then: the back-off after a failed publish.
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    published_at TIMESTAMP
);
-- The relay's scan: pending rows in order.
CREATE INDEX outbox_messages_pending ON outbox_messages (next_attempt_at, created_at) WHERE published_at IS NULL;
CREATE INDEX outbox_messages_published ON outbox_messages (published_at) WHERE published_at IS NOT NULL;

-- Security-relevant facts the jobs-service reports on: 'login_failed', 'refresh_token_reuse',
-- 'password_reset', 'registered', 'email_verified'. No foreign key: counts outlive deleted users.
CREATE TABLE account_events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX account_events_time ON account_events (occurred_at, kind);
