//! The whole platform in one process: the four services on their usual ports, one SQLite database
//! in a data directory, the in-process bus between them, a mailbox for the emails, demo data, and a
//! demo app. See README.md.

pub mod credentials;
pub mod data_dir;
pub mod demo;
pub mod error;
pub mod listeners;
pub mod platform;
pub mod routes;
pub mod seed;
pub mod settings;
pub mod try_it;
