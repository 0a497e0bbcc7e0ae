DROP TABLE account_events;
DROP TABLE outbox_messages;
DROP TABLE account_links;
ALTER TABLE users DROP COLUMN email_verified_at;
