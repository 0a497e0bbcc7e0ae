//! The resource-gateway: the front door for APIs. See README.md for what it does and its settings.

pub mod configuration;
pub mod startup;
