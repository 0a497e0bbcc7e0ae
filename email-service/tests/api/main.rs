//! The email-service's tests, against the real RabbitMQ and PostgreSQL of this machine and an SMTP
//! sink started by each test.

// Helpers outside `#[test]` functions are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod helpers;

mod delivery;
mod health;
mod link_loss;
mod process;
mod topology;
