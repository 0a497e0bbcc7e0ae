//! The jobs-service's API tests: one binary, one module per concern.

mod helpers;

mod health;
mod purge_tokens;
mod replicas;
mod report;
mod unverified_accounts;
