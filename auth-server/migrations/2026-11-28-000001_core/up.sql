-- The auth-server's core schema. Portable column types only (TEXT ids, UTC TIMESTAMP, BOOLEAN,
-- space-separated scope lists, JSON as TEXT) so the same queries run on SQLite in embedded mode.
-- Codes, tokens, sessions and client secrets are stored only as the hex SHA-256 of their value.

CREATE TABLE scopes (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE user_scopes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL REFERENCES scopes (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, scope)
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- NULL for public clients, which have no secret.
    secret_hash TEXT,
    is_public BOOLEAN NOT NULL,
    -- Space-separated grant types, e.g. 'authorization_code refresh_token'.
    grant_types TEXT NOT NULL,
    -- JSON array of the registered redirect URIs, compared by exact string equality.
    redirect_uris TEXT NOT NULL,
    can_introspect BOOLEAN NOT NULL,
    skip_consent BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE client_scopes (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL REFERENCES scopes (name) ON DELETE CASCADE,
    PRIMARY KEY (client_id, scope)
);

-- A login session of a browser; the cookie holds the value, the row its hash.
CREATE TABLE login_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX login_sessions_expires_at_idx ON login_sessions (expires_at);
CREATE INDEX login_sessions_user_id_idx ON login_sessions (user_id);

-- A validated /authorize request waiting for login and consent, bound to the browser that made it.
CREATE TABLE authorization_requests (
    id TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    redirect_uri_explicit BOOLEAN NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    nonce TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX authorization_requests_expires_at_idx ON authorization_requests (expires_at);

-- A grant family: everything issued from one authorization (one code, or one client_credentials
-- request is not a family). Revoking the family revokes all of its tokens.
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX grants_user_id_idx ON grants (user_id);
CREATE INDEX grants_client_id_idx ON grants (client_id);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    redirect_uri_explicit BOOLEAN NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    nonce TEXT,
    auth_time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- Set once, atomically, by the one redemption that wins.
    used_at TIMESTAMP,
    -- The family created by that redemption, revoked if the code is replayed.
    grant_id TEXT REFERENCES grants (id) ON DELETE CASCADE
);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_grant_id_idx ON authorization_codes (grant_id);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    -- NULL for client_credentials tokens, which belong to no family.
    grant_id TEXT REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);
CREATE INDEX access_tokens_grant_id_idx ON access_tokens (grant_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    -- The token this one replaced (lineage within the family).
    parent_hash TEXT,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- Set when the token is rotated; presenting it again is reuse.
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);

-- What a user agreed to share with a client: the union of the scopes consented so far.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id_idx ON consents (client_id);
