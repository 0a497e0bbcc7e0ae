//! `src/db/schema.rs` (the jobs-service's own tables; the auth tables are checked by the
//! auth-server against `shared::auth_schema`) is kept by hand; this fails when it
//! drifts from the migrations: a declared column missing or of another nullability, or a column of
//! a declared table that is not declared.

use std::collections::BTreeSet;

use jobs_service::db::schema::*;

use shared::testing::schema::{MigratedColumn, declared, migrated};

use crate::helpers::*;

#[tokio::test]
async fn the_declared_tables_match_the_migrated_ones_column_for_column() {
    let database = migrated_database();
    let mut conn = connect(&database);
    let declared: BTreeSet<String> = [
        declared(job_runs::table),
        declared(jobs_unverified_reminders::table),
    ]
    .concat()
    .into_iter()
    .collect();
    let tables: BTreeSet<&str> = declared
        .iter()
        .map(|column| column.split('.').next().unwrap())
        .collect();

    let migrated: Vec<MigratedColumn> = migrated(&mut conn);
    let migrated_names: BTreeSet<String> = migrated
        .iter()
        .filter(|column| tables.contains(column.table_name.as_str()))
        .map(|column| format!("{}.{}", column.table_name, column.column_name))
        .collect();

    assert_eq!(declared, migrated_names);
    let nullable: BTreeSet<String> = migrated
        .iter()
        .filter(|column| tables.contains(column.table_name.as_str()) && column.nullable)
        .map(|column| format!("{}.{}", column.table_name, column.column_name))
        .collect();
    assert_eq!(
        nullable,
        ["job_runs.error", "job_runs.finished_at", "job_runs.scheduled_for"]
            .map(str::to_owned)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        "keep Nullable<...> in schema.rs in step with the migrations"
    );
}

#[tokio::test]
async fn the_tables_and_columns_the_purge_names_in_sql_exist() {
    let database = migrated_database();
    let mut conn = connect(&database);
    // Every step's table, key, filter and order column, checked by PostgreSQL itself.
    let cutoffs =
        jobs_service::jobs::purge_tokens::Cutoffs::new(now(), &test_settings(&database.url).purge_tokens);
    for step in jobs_service::jobs::purge_tokens::backlog_steps() {
        jobs_service::jobs::purge_tokens::count_eligible(&mut conn, &step, &cutoffs, 1)
            .unwrap_or_else(|error| panic!("{}: {error}", step.name));
    }
}
