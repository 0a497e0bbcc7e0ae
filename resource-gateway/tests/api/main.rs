//! The resource-gateway's API tests: the real gateway between a fake auth-server and a fake upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod helpers;

mod auth_server_breaker;
mod auth_server_retries;
mod health;
mod proxying;
mod tokens;
mod upstream_failover;
mod upstreams_and_metrics;
