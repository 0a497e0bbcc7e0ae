//! The platform's tests: the journeys of a new user on SQLite and the in-process bus, the printed
//! lines, the jobs on SQLite, restarts, a kill mid-email, and the refusals at start. They need
//! neither PostgreSQL nor RabbitMQ.

// Helpers outside `#[test]` functions are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod helpers;

mod jobs;
mod journeys;
mod mailbox;
mod process;
mod schema;
mod try_it;
