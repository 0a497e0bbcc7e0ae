//! How the authorization endpoint's answer reaches the client (OAuth 2.0 Multiple Response Types §2.1,
//! OAuth 2.0 Form Post Response Mode): in the query, in the fragment, or in a form the browser posts.

use std::str::FromStr;

/// A response mode. Stored by its name (`response_mode` column, NULL when the request named none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }
}

impl FromStr for ResponseMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "query" => Ok(ResponseMode::Query),
            "fragment" => Ok(ResponseMode::Fragment),
            "form_post" => Ok(ResponseMode::FormPost),
            _ => Err(format!("{value:?} is not a response mode")),
        }
    }
}

shared::text_column!(ResponseMode);
