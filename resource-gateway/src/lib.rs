//! The resource-gateway: the front door of the APIs. It matches each request to a route, checks its
//! bearer token through a cache in front of the auth-server's introspection (with a circuit breaker,
//! bounded retries and a deadline), checks scopes and rate limits, and forwards it with a trusted
//! identity. See README.md.

pub mod caller;
pub mod configuration;
pub mod error;
pub mod identity;
pub mod introspection;
pub mod proxy;
pub mod rate_limit;
pub mod route_table;
pub mod startup;
pub mod state;
pub mod token_cache;
pub mod upstream;
