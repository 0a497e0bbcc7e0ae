//! The email-service's own tables: the delivery records and the development mailbox, with their
//! embedded migrations (portable SQL: both backends apply the same files).

use diesel_migrations::embed_migrations;
use shared::db::Migrations;

pub mod deliveries;
pub mod mailbox;

pub use deliveries::{
    Claim, Delivery, DeliveryStatus, NewAttempt, claim, find, finish, list, mask_address, void_claims,
};

pub const MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("migrations"),
    sqlite: embed_migrations!("migrations"),
};
