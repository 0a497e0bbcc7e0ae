//! Schema drift checks: the columns a hand-kept diesel `table!` declares, and the columns the
//! migrated database has, so a test can compare them.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

/// A column of the migrated database.
#[derive(QueryableByName, Debug)]
pub struct MigratedColumn {
    #[diesel(sql_type = Text)]
    pub table_name: String,
    #[diesel(sql_type = Text)]
    pub column_name: String,
    #[diesel(sql_type = Bool)]
    pub nullable: bool,
}

/// `table.column` for every column diesel selects with `all_columns`.
pub fn declared<T>(table: T) -> Vec<String>
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
        .unwrap_or_default()
        .to_owned();
    selected
        .split(", ")
        .map(|column| column.split(" -- ").next().unwrap_or_default().replace('"', ""))
        .collect()
}

/// Every column of the `public` schema but diesel's own table.
///
/// # Panics
/// When the query fails: the test needs the answer.
pub fn migrated(conn: &mut PgConnection) -> Vec<MigratedColumn> {
    diesel::sql_query(
        "SELECT table_name::text, column_name::text, is_nullable = 'YES' AS nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(conn)
    .expect("information_schema answers")
}
