//! Schema drift checks: the columns a hand-kept diesel `table!` declares, and the columns the
//! migrated database has, so a test can compare them.

use diesel::pg::Pg;

use crate::db::{Backend, DbConn};
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

/// Every column of the database's tables but diesel's own, on either backend.
///
/// # Panics
/// When the query fails: the test needs the answer.
pub fn migrated(conn: &mut DbConn) -> Vec<MigratedColumn> {
    let statement = match conn.backend() {
        Backend::Postgresql => {
            "SELECT table_name::text, column_name::text, is_nullable = 'YES' AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
        }
        // SQLite lets a non-integer primary key hold NULL unless declared NOT NULL; diesel (and our
        // code) treat a key as never null, and so does this comparison.
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, \
             (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND m.name <> '__diesel_schema_migrations'"
        }
    };
    diesel::sql_query(statement)
        .load(conn)
        .expect("the catalogue answers")
}

/// `table.column` of every column declared `Nullable<...>` in the `diesel::table!` blocks of
/// `sources` (the text of the files that declare them, `include_str!`-ed by the test).
pub fn nullable_in_sources(sources: &[&str]) -> std::collections::BTreeSet<String> {
    let mut table = String::new();
    let mut nullable = std::collections::BTreeSet::new();
    for line in sources.iter().flat_map(|source| source.lines()).map(str::trim) {
        if let Some(name) = line.strip_suffix(") {").and_then(|head| head.split(" (").next()) {
            table = name.to_owned();
        } else if let Some((column, kind)) = line.split_once(" -> ")
            && kind.starts_with("Nullable<")
        {
            nullable.insert(format!("{table}.{column}"));
        }
    }
    nullable
}

/// `table.column` of every column of the auth database's tables as `shared` declares them
/// (`auth_schema` and the outbox), for the drift checks of the crates that migrate them.
pub fn declared_auth_tables() -> Vec<String> {
    use crate::auth_schema::*;
    [
        declared(access_tokens::table),
        declared(account_events::table),
        declared(account_links::table),
        declared(crate::messaging::outbox::outbox_messages::table),
        declared(authorization_codes::table),
        declared(authorization_requests::table),
        declared(client_scopes::table),
        declared(clients::table),
        declared(consents::table),
        declared(grants::table),
        declared(login_sessions::table),
        declared(refresh_tokens::table),
        declared(scopes::table),
        declared(user_scopes::table),
        declared(users::table),
        declared(signing_keys::table),
        declared(user_claims::table),
        declared(username_reservations::table),
    ]
    .concat()
}

/// The sources of [`declared_auth_tables`], for [`nullable_in_sources`].
pub const AUTH_TABLE_SOURCES: [&str; 2] = [
    include_str!("../auth_schema.rs"),
    include_str!("../messaging/outbox.rs"),
];
