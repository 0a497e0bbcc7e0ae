-- OpenID Connect: signing keys, per-user claims, and the client settings and request parameters the
-- OIDC flows need. Portable column types only, like the core schema.

-- The keys id_tokens are signed with. The private part is a PKCS#8 document sealed with AES-256-GCM
-- under `keys.encryption_key` (base64 of nonce || ciphertext || tag, the kid as associated data), so
-- a copy of the database alone signs nothing. A retired key stays in the JWKS until `publish_until`,
-- when every token it signed has expired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    -- The public JWK (JSON), as the JWKS publishes it.
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    publish_until TIMESTAMP
);
-- At most one active key per algorithm, even when two replicas rotate at the same moment.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE retired_at IS NULL;

-- Claims of a user beyond the account itself (name, phone_number, address, custom attributes), one
-- row per claim; `value` is JSON so structured claims (address) keep their shape.
CREATE TABLE user_claims (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claim TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, claim)
);

-- Per-client OIDC settings; the defaults are the conservative ones.
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE clients ADD COLUMN allow_hybrid BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN allow_password_grant BOOLEAN NOT NULL DEFAULT FALSE;
-- JSON array, compared by exact string equality like the redirect URIs.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';

-- What an OIDC authorization request asked for beyond OAuth.
ALTER TABLE authorization_requests ADD COLUMN response_type TEXT NOT NULL DEFAULT 'code';
ALTER TABLE authorization_requests ADD COLUMN response_mode TEXT;
ALTER TABLE authorization_requests ADD COLUMN prompt TEXT;
ALTER TABLE authorization_requests ADD COLUMN max_age BIGINT;
ALTER TABLE authorization_requests ADD COLUMN login_hint TEXT;
-- The `sub` of a verified id_token_hint: only that user may answer the request.
ALTER TABLE authorization_requests ADD COLUMN expected_subject TEXT;

-- The login session a code was issued in (the hash of its id), carried into the grant so that
-- logging out can revoke that session's tokens, and into the id_token as `sid`.
ALTER TABLE authorization_codes ADD COLUMN session_hash TEXT;
ALTER TABLE grants ADD COLUMN session_hash TEXT;
CREATE INDEX grants_session_hash_idx ON grants (session_hash);

-- The OIDC scopes (OIDC Core §5.4), so that clients and users can be given them at once. Existing
-- entries of the same name are kept.
INSERT INTO scopes (name, description, created_at) VALUES
    ('openid', 'Sign you in to the application with your account', CURRENT_TIMESTAMP),
    ('profile', 'See your name, username and profile details', CURRENT_TIMESTAMP),
    ('email', 'See your email address', CURRENT_TIMESTAMP),
    ('phone', 'See your phone number', CURRENT_TIMESTAMP),
    ('address', 'See your postal address', CURRENT_TIMESTAMP)
ON CONFLICT (name) DO NOTHING;
