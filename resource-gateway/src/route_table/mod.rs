//! The route table: which requests go to which upstream, with which scopes. It is read from a TOML
//! file and validated (`file.rs`), matched against each request (`table.rs`), and swapped whole on
//! reload (`shared_routes.rs`), so a request sees either the old routes or the new ones.

mod ambiguous_path;
mod file;
mod shared_routes;
mod table;

pub use ambiguous_path::is_ambiguous as is_ambiguous_path;
pub use file::{RateLimitSpec, RoutesError};
pub use shared_routes::SharedRoutes;
pub use table::{Match, Route, RouteTable, ScopeSpec, Upstream};
