//! The auth-server's API tests: one binary, one module per resource.

mod helpers;

mod authorization_code;
