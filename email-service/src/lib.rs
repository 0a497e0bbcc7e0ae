//! The email-service: delivers the platform's emails. See README.md for what it does and its settings.

pub mod configuration;
pub mod startup;
