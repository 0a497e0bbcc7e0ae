-- The development mailbox (`transport: mailbox`): emails kept in the database instead of sent, one
-- row per message id (a redelivered command replaces nothing), readable at /mail.
CREATE TABLE mailbox_messages (
    message_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX mailbox_messages_received ON mailbox_messages (received_at);
