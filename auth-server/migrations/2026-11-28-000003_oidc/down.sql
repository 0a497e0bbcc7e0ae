-- The seeded OIDC scopes stay: clients and users may hold them by now.
DROP INDEX grants_session_hash_idx;
ALTER TABLE grants DROP COLUMN session_hash;
ALTER TABLE authorization_codes DROP COLUMN session_hash;
ALTER TABLE authorization_requests DROP COLUMN expected_subject;
ALTER TABLE authorization_requests DROP COLUMN login_hint;
ALTER TABLE authorization_requests DROP COLUMN max_age;
ALTER TABLE authorization_requests DROP COLUMN prompt;
ALTER TABLE authorization_requests DROP COLUMN response_mode;
ALTER TABLE authorization_requests DROP COLUMN response_type;
ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE clients DROP COLUMN allow_password_grant;
ALTER TABLE clients DROP COLUMN allow_hybrid;
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
DROP TABLE user_claims;
DROP TABLE signing_keys;
