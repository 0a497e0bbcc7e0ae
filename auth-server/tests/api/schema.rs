//! `shared/src/auth_schema.rs` is kept by hand (backend-neutral types); this fails when it drifts from the
//! migrations: a table or column missing on either side, or a nullability that differs.

use std::collections::BTreeSet;

use shared::testing::schema::{
    AUTH_TABLE_SOURCES, MigratedColumn, declared_auth_tables, migrated, nullable_in_sources,
};

use crate::helpers::*;

#[tokio::test]
async fn schema_rs_lists_exactly_the_migrated_tables_and_columns() {
    let app = spawn_app().await;
    let declared: BTreeSet<String> = declared_auth_tables().into_iter().collect();

    let migrated: Vec<MigratedColumn> = app.with_db(migrated);
    let migrated_names: BTreeSet<String> = migrated
        .iter()
        .map(|column| format!("{}.{}", column.table_name, column.column_name))
        .collect();

    assert_eq!(declared, migrated_names);
    let nullable_in_database: BTreeSet<String> = migrated
        .iter()
        .filter(|column| column.nullable)
        .map(|column| format!("{}.{}", column.table_name, column.column_name))
        .collect();
    assert_eq!(nullable_in_database, nullable_in_schema_rs());
}

/// The columns `schema.rs` (and the outbox table that `shared` declares) declare `Nullable<…>`.
fn nullable_in_schema_rs() -> BTreeSet<String> {
    nullable_in_sources(&AUTH_TABLE_SOURCES)
}
