//! The resource-gateway's API tests: one binary, one module per resource.

mod helpers;

mod health;
