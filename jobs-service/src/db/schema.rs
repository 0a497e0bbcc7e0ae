// The jobs-service's own tables (in the auth database, next to the auth-server's, which
// `shared::auth_schema` declares). `tests/api/schema.rs` fails when they drift from the migrations.

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
        scheduled_for -> Nullable<Timestamp>,
    }
}

diesel::table! {
    jobs_unverified_reminders (user_id) {
        user_id -> Text,
        reminded_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(job_runs, jobs_unverified_reminders);
