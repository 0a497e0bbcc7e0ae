-- One row per email command (message id): what happened to it. A message id whose row says 'sent'
-- is acknowledged and never sent again.
CREATE TABLE deliveries (
    message_id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    -- The recipient, masked (a***@example.com): enough to answer "did it go out", not a mailing list.
    recipient_hint TEXT NOT NULL,
    -- 'sending' (an attempt began), 'retrying', 'sent', 'dead'.
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    -- The SMTP Message-ID header sent, derived from the message id.
    smtp_message_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX deliveries_status ON deliveries (status, updated_at);
