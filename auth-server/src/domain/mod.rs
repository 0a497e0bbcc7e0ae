//! Validated types and the rules on them: no actix, no I/O. A type stored in a column derives
//! diesel's `AsExpression` and `FromSqlRow` and gets its conversion from `shared::text_column!`
//! (`RedirectUri`, which has no `FromStr`, writes the same two impls out); nothing else of diesel
//! belongs here.

pub mod account;
pub mod client;
pub mod grant_type;
pub mod ids;
pub mod opaque_token;
pub mod pkce;
pub mod prompt;
pub mod redirect_uri;
pub mod response_mode;
pub mod response_type;
pub mod scope;
pub mod signing_alg;
pub mod time;
