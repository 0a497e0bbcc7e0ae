-- The claim of the attempt in progress (issue 13, M3): while a 'sending' record's claim lasts (the
-- database's clock), another copy of the message waits instead of being sent too; once the claim
-- has run out, the attempt is taken to have died with its consumer.
ALTER TABLE deliveries ADD COLUMN claimed_until TIMESTAMP;
-- Attempts that began and never finished (their claim ran out while 'sending'): at
-- consumer.delivery_limit the message is dead-lettered, as one that keeps killing the consumer.
ALTER TABLE deliveries ADD COLUMN unfinished_attempts INTEGER NOT NULL DEFAULT 0;
