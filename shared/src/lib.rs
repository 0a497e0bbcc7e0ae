//! Plumbing shared by the platform's services. It holds no business rules: the command-line entry
//! point (`cli`), configuration loading, telemetry, the request id, the JSON error body, the database
//! (one connection type over PostgreSQL and SQLite, pool, transactions, migrations), the auth
//! database's table declarations (`auth_schema`, for the auth-server and the jobs-service), the
//! health/readiness/metrics endpoints (`health`, `observability`), the HTTP skeleton with graceful
//! shutdown (`server`), the gateway identity contract (`identity`), reading bearer tokens and
//! building RFC 6750 challenges (`bearer`), resilience (breaker, back-off, retry budget), messaging
//! (contracts, outbox, relay, the bus) and test support (`testing`).

pub mod auth_schema;
pub mod bearer;
pub mod cli;
pub mod configuration;
pub mod db;
pub mod health;
pub mod http_error;
pub mod identity;
pub mod messaging;
pub mod observability;
pub mod request_id;
pub mod resilience;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
