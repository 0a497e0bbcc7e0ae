//! The response types the authorization endpoint offers (OAuth 2.1 §4.1.1, OIDC Core §3.3): the code
//! flow, and the hybrid flow for clients that enable it. Nothing that returns an access token from
//! the authorization endpoint (no implicit flow).

/// A response type we answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

/// The stored form (a TEXT column holds `as_str()`).
impl From<ResponseType> for String {
    fn from(response_type: ResponseType) -> String {
        response_type.as_str().to_owned()
    }
}

impl TryFrom<String> for ResponseType {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        match stored.as_str() {
            "code" => Ok(ResponseType::Code),
            "code id_token" => Ok(ResponseType::CodeIdToken),
            _ => Err(format!("{stored:?} is not a response type")),
        }
    }
}
