//! The response types the authorization endpoint offers (OAuth 2.1 §4.1.1, OIDC Core §3.3): the code
//! flow, and the hybrid flow for clients that enable it. Nothing that returns an access token from
//! the authorization endpoint (no implicit flow).

use std::str::FromStr;

use super::response_mode::ResponseMode;

/// A response type we answer. Stored by its name (`response_type` column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum ResponseType {
    #[default]
    Code,
    CodeIdToken,
}

impl ResponseType {
    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::CodeIdToken => "code id_token",
        }
    }

    /// Where the answer travels when the request names no `response_mode`: the query for a code,
    /// the fragment once an id_token is in the answer (OAuth 2.0 Multiple Response Types §5).
    pub const fn default_mode(self) -> ResponseMode {
        match self {
            ResponseType::Code => ResponseMode::Query,
            ResponseType::CodeIdToken => ResponseMode::Fragment,
        }
    }
}

/// The stored name. (The request parameter, whose values come in any order, is read by
/// `authorization::oidc_request`.)
impl FromStr for ResponseType {
    type Err = String;

    fn from_str(stored: &str) -> Result<Self, String> {
        match stored {
            "code" => Ok(ResponseType::Code),
            "code id_token" => Ok(ResponseType::CodeIdToken),
            _ => Err(format!("{stored:?} is not a response type")),
        }
    }
}

shared::text_column!(ResponseType);
