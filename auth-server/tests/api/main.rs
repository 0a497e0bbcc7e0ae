//! The auth-server's API tests: one binary, one module per resource.

// Helpers outside `#[test]` functions are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod helpers;

mod account_abuse;
mod accounts;
mod authorization_code;
mod authorize;
mod authorize_pkce;
mod cli;
mod cli_admin;
mod client_credentials;
mod database_down;
mod hardening;
mod introspection;
mod login_and_consent;
mod logs;
mod metadata;
mod oauth2_client;
mod oidc;
mod refresh_token;
mod revocation;
mod schema;
mod sign_in_races;
mod snapshots;
mod token_endpoint;
