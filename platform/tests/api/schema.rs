//! The tables every crate declares in Rust (hand-kept `diesel::table!` blocks) against the SQLite
//! database the migrations make: the same check the auth-server's and the jobs-service's tests make
//! on PostgreSQL, here on the backend whose migrations differ.

use std::collections::BTreeSet;

use shared::testing::schema::{
    AUTH_TABLE_SOURCES, MigratedColumn, declared, declared_auth_tables, migrated, nullable_in_sources,
};

use crate::helpers::*;

#[tokio::test]
async fn every_declared_table_and_column_is_what_the_sqlite_migrations_make() {
    let platform = spawn_platform().await;
    let declared: BTreeSet<String> = [
        declared_auth_tables(),
        declared(jobs_service::db::schema::job_runs::table),
        declared(jobs_service::db::schema::jobs_unverified_reminders::table),
        declared(email_service::db::deliveries::deliveries::table),
        declared(email_service::db::mailbox::mailbox_messages::table),
    ]
    .concat()
    .into_iter()
    .collect();

    let migrated: Vec<MigratedColumn> = migrated(&mut platform.connect());

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
    let [auth_schema, outbox] = AUTH_TABLE_SOURCES;
    let nullable_in_rust = nullable_in_sources(&[
        auth_schema,
        outbox,
        include_str!("../../../jobs-service/src/db/schema.rs"),
        include_str!("../../../email-service/src/db/deliveries.rs"),
        include_str!("../../../email-service/src/db/mailbox.rs"),
    ]);
    assert_eq!(nullable_in_database, nullable_in_rust);
}
