//! `shared/src/auth_schema.rs` is kept by hand (backend-neutral types); this fails when it drifts from the
//! migrations: a table or column missing on either side, or a nullability that differs.

use std::collections::BTreeSet;

use auth_server::db::schema::*;

use shared::testing::schema::{MigratedColumn, declared, migrated};

use crate::helpers::*;

#[tokio::test]
async fn schema_rs_lists_exactly_the_migrated_tables_and_columns() {
    let app = spawn_app().await;
    let declared: BTreeSet<String> = [
        declared(access_tokens::table),
        declared(account_events::table),
        declared(account_links::table),
        declared(shared::messaging::outbox::outbox_messages::table),
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
    ]
    .concat()
    .into_iter()
    .collect();

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
    let sources = [
        include_str!("../../../shared/src/auth_schema.rs"),
        include_str!("../../../shared/src/messaging/outbox.rs"),
    ];
    let mut table = String::new();
    let mut nullable = BTreeSet::new();
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
