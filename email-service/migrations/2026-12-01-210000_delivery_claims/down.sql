ALTER TABLE deliveries DROP COLUMN unfinished_attempts;
ALTER TABLE deliveries DROP COLUMN claimed_until;
