//! The jobs-service: runs the platform's periodic jobs. See README.md for what it does and its settings.

pub mod configuration;
pub mod db;
pub mod jobs;
pub mod scheduler;
pub mod session;
pub mod startup;
