//! `src/db/schema.rs` (the jobs-service's own tables; the auth tables are checked by the
//! auth-server against `shared::auth_schema`) is kept by hand; this fails when it
//! drifts from the migrations: a declared column missing or of another nullability, or a column of
//! a declared table that is not declared.

use std::collections::BTreeSet;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use jobs_service::db::schema::*;

use crate::helpers::*;

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

/// `table.column` for every column diesel selects with `all_columns`, and the nullable ones.
fn declared<T>(table: T) -> Vec<String>
where
    T: diesel::Table + diesel::query_dsl::methods::SelectDsl<<T as diesel::Table>::AllColumns> + Copy,
    <T as diesel::query_dsl::methods::SelectDsl<<T as diesel::Table>::AllColumns>>::Output:
        diesel::query_builder::QueryFragment<Pg>,
{
    let sql = diesel::debug_query::<Pg, _>(&table.select(T::all_columns())).to_string();
    let selected = sql
        .trim_start_matches("SELECT ")
        .split(" FROM ")
        .next()
        .expect("a select list")
        .to_owned();
    selected
        .split(", ")
        .map(|column| column.split(" -- ").next().expect("a column").replace('"', ""))
        .collect()
}

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

    let migrated: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, is_nullable = 'YES' AS nullable \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .load(&mut conn)
    .unwrap();
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
        ["job_runs.error", "job_runs.finished_at",]
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
