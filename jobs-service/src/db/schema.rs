// The tables the jobs-service reads and deletes in the auth database (owned and migrated by the
// auth-server; declared again here because no service depends on another's crate), then the
// jobs-service's own tables. `tests/api/schema.rs` fails when either drifts from the migrations.
// `outbox_messages` is declared in `shared::messaging::outbox`.

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
    account_events (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        occurred_at -> Timestamp,
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
    job_runs (id) {
        id -> Text,
        job -> Text,
        runner -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        status -> Text,
        rows_affected -> BigInt,
        details -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    jobs_unverified_reminders (user_id) {
        user_id -> Text,
        reminded_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    access_tokens,
    account_events,
    users,
    job_runs,
    jobs_unverified_reminders,
);
