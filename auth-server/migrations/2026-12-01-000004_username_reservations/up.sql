-- A username asked for by a registration whose address already has an account. Nothing is
-- created for that address, but the username is held (with the password typed) exactly as an
-- unverified account would hold it, so no sequence of answers (registration, sign-in) tells
-- whether the address had an account. The jobs-service deletes a reservation when it would have
-- deleted an unverified account of the same age.
CREATE TABLE username_reservations (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX username_reservations_created_at ON username_reservations (created_at);
