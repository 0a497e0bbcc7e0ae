//! The jobs-service's API tests: one binary, one module per concern.

mod helpers;

mod cli;
mod dead_runner;
mod health;
mod metrics;
mod purge_tokens;
mod replicas;
mod report;
mod schema;
mod unverified_accounts;
