//! The email-service: delivers the platform's emails. See README.md for what it does and its settings.

pub mod admin;
pub mod amqp_consumer;
pub mod configuration;
pub mod consumer;
pub mod db;
pub mod in_process;
pub mod routes;
pub mod smtp;
pub mod startup;
pub mod templates;
pub mod topology;
pub mod transport;
