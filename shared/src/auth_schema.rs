//! The tables of the auth database, kept by hand with backend-neutral types (see the auth-server's
//! diesel.toml). The auth-server owns them and their migrations; they are declared here because the
//! jobs-service reads and deletes in the same database (DESIGN.md). The auth-server's
//! `tests/api/schema.rs` fails when this drifts from the migrations.

diesel::table! {
    access_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Nullable<Text>,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        redirect_uri_explicit -> Bool,
        scope -> Text,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        nonce -> Nullable<Text>,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        grant_id -> Nullable<Text>,
        session_hash -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_requests (id) {
        id -> Text,
        browser_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        redirect_uri_explicit -> Bool,
        scope -> Text,
        state -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        nonce -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        response_type -> Text,
        response_mode -> Nullable<Text>,
        prompt -> Nullable<Text>,
        max_age -> Nullable<BigInt>,
        login_hint -> Nullable<Text>,
        expected_subject -> Nullable<Text>,
    }
}

diesel::table! {
    client_scopes (client_id, scope) {
        client_id -> Text,
        scope -> Text,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        is_public -> Bool,
        grant_types -> Text,
        redirect_uris -> Text,
        can_introspect -> Bool,
        skip_consent -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        id_token_signed_response_alg -> Text,
        allow_hybrid -> Bool,
        allow_password_grant -> Bool,
        post_logout_redirect_uris -> Text,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        session_hash -> Nullable<Text>,
    }
}

diesel::table! {
    login_sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        parent_hash -> Nullable<Text>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    scopes (name) {
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    user_scopes (user_id, scope) {
        user_id -> Text,
        scope -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    account_events (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    account_links (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(access_tokens -> users (user_id));
diesel::joinable!(account_links -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(client_scopes -> scopes (scope));
diesel::joinable!(user_scopes -> scopes (scope));

diesel::allow_tables_to_appear_in_same_query!(
    access_tokens,
    account_events,
    account_links,
    authorization_codes,
    authorization_requests,
    client_scopes,
    clients,
    consents,
    grants,
    login_sessions,
    refresh_tokens,
    scopes,
    user_scopes,
    users,
);

// OpenID Connect (migration 2026-11-28-000003_oidc).

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key_sealed -> Text,
        public_jwk -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        publish_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_claims (user_id, claim) {
        user_id -> Text,
        claim -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(user_claims -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(signing_keys, user_claims, users);

// Registration (migration 2026-12-01-000004_username_reservations).

diesel::table! {
    username_reservations (username) {
        username -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(username_reservations, users);
