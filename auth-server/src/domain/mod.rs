//! Validated types and the rules on them: no actix, no diesel, no I/O.

pub mod account;
pub mod client;
pub mod grant_type;
pub mod opaque_token;
pub mod pkce;
pub mod redirect_uri;
pub mod response_type;
pub mod scope;
pub mod signing_alg;
pub mod time;
