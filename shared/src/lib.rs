//! Plumbing shared by the platform's services. It holds no business rules: configuration loading,
//! telemetry, the request id, the JSON error body, the database pool and migrations runner, the
//! health/readiness/metrics endpoints and graceful shutdown.

pub mod auth_schema;
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
