//! Administration of clients, users and scopes: validation and storage behind the admin CLI (and
//! behind tests, which register clients exactly as an operator does).
//!
//! Ids cross this boundary as text, the way the operator types and reads them (and the platform's
//! seed and the tests pass them on); inside, they become `ClientId` and `UserId` on the way to the
//! queries.

pub mod clients;
pub mod keys;
pub mod scopes;
pub mod user_claims;
pub mod users;

/// An administrative action that could not be done. `InvalidArgument` names the CLI argument.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{argument}: {message}")]
    InvalidArgument { argument: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("{0}")]
    Internal(#[from] anyhow::Error),
}

impl AdminError {
    pub fn invalid(argument: &'static str, message: impl Into<String>) -> Self {
        AdminError::InvalidArgument {
            argument,
            message: message.into(),
        }
    }
}

/// Who runs an admin action, for the log line every action writes: `AUTH_ADMIN_ACTOR`, else the
/// operating-system user.
pub fn actor() -> String {
    ["AUTH_ADMIN_ACTOR", "SUDO_USER", "USER"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
