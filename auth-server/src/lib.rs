//! The auth-server: an OAuth 2.1 authorization server. See README.md for the endpoints and settings.

pub mod accounts;
pub mod admin;
pub mod authorization;
pub mod browser;
pub mod cli;
pub mod client_address;
pub mod client_auth;
pub mod client_cache;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod form_body;
pub mod grants;
pub mod introspection;
pub mod oidc;
pub mod pages;
pub mod params;
pub mod password;
pub mod revocation;
pub mod routes;
pub mod startup;
pub mod state;
pub mod throttle;
pub mod token_writer;
