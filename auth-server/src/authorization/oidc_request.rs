//! The OpenID Connect parameters of an authorization request (OIDC Core §3.1.2.1, §3.3.2):
//! `response_type=code id_token`, `response_mode`, `prompt`, `max_age`, `login_hint`,
//! `id_token_hint`.

use crate::domain::client::Client;
use crate::domain::ids::UserId;
use crate::domain::prompt::{Prompt, PromptError};
use crate::domain::response_mode::ResponseMode;
pub use crate::domain::response_type::ResponseType;
use crate::error::ErrorCode;
use crate::params::Params;

/// The mode a request asked for, and the one its answers use.
#[derive(Debug, Clone, Copy)]
pub struct ModeChoice {
    pub requested: Option<ResponseMode>,
    pub effective: ResponseMode,
}

/// Reads `response_type` (its values in any order) and `response_mode`.
pub fn response_type_and_mode(
    params: &Params,
    client: &Client,
) -> Result<(ResponseType, ModeChoice), Refusal> {
    let single = |name: &str| {
        params
            .get(name)
            .map_err(|error| (ErrorCode::InvalidRequest, error.to_string()))
    };
    let mut values: Vec<&str> = match single("response_type")? {
        None => return Err((ErrorCode::InvalidRequest, "response_type is required".to_owned())),
        Some(value) => value.split(' ').filter(|value| !value.is_empty()).collect(),
    };
    values.sort_unstable();
    let response_type = match values.as_slice() {
        ["code"] => ResponseType::Code,
        ["code", "id_token"] => ResponseType::CodeIdToken,
        _ => {
            return Err((
                ErrorCode::UnsupportedResponseType,
                "only response_type=code (and code id_token for clients that enable it) is supported"
                    .to_owned(),
            ));
        }
    };
    if response_type == ResponseType::CodeIdToken && !client.allow_hybrid {
        return Err((
            ErrorCode::UnauthorizedClient,
            "this client may not use the hybrid flow".to_owned(),
        ));
    }
    let requested = match single("response_mode")? {
        None => None,
        Some(mode) => Some(
            mode.parse::<ResponseMode>()
                .map_err(|_| (ErrorCode::InvalidRequest, "unsupported response_mode".to_owned()))?,
        ),
    };
    // OAuth 2.0 Multiple Response Types §5: an id_token never travels in the query.
    if response_type == ResponseType::CodeIdToken && requested == Some(ResponseMode::Query) {
        return Err((
            ErrorCode::InvalidRequest,
            "response_mode=query is not allowed with response_type=code id_token".to_owned(),
        ));
    }
    let effective = requested.unwrap_or(response_type.default_mode());
    Ok((response_type, ModeChoice { requested, effective }))
}

/// The OIDC parameters of a validated request, as stored with it.
#[derive(Debug, Clone, Default)]
pub struct OidcParams {
    pub response_type: ResponseType,
    /// `None`: the response type's default.
    pub response_mode: Option<ResponseMode>,
    /// `None`: no prompt, or an empty one.
    pub prompt: Option<Prompt>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a verified `id_token_hint`.
    pub expected_subject: Option<UserId>,
}

/// A parameter that makes the request invalid: the error code and its description.
pub type Refusal = (ErrorCode, String);

/// Reads `prompt`, `max_age` and `login_hint` (the hint checks and response types are done by the
/// caller, which has the database and the client).
pub fn parse(params: &Params) -> Result<OidcParams, Refusal> {
    let single = |name: &str| {
        params
            .get(name)
            .map(|value| value.map(str::to_owned))
            .map_err(|error| (ErrorCode::InvalidRequest, error.to_string()))
    };
    let prompt: Prompt = single("prompt")?
        .unwrap_or_default()
        .parse()
        .map_err(|error: PromptError| (ErrorCode::InvalidRequest, error.to_string()))?;
    let max_age = match single("max_age")? {
        None => None,
        Some(value) => Some(value.parse::<u32>().map(i64::from).map_err(|_| {
            (
                ErrorCode::InvalidRequest,
                "max_age must be a number of seconds".to_owned(),
            )
        })?),
    };
    let login_hint = single("login_hint")?.filter(|hint| hint.chars().count() <= 256);
    Ok(OidcParams {
        response_type: ResponseType::Code,
        response_mode: None,
        prompt: (!prompt.is_empty()).then_some(prompt),
        max_age,
        login_hint,
        expected_subject: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_is_stored_normalised_and_an_empty_one_not_at_all() {
        let parsed = parse(&Params::parse(b"prompt=consent+select_account")).unwrap();
        assert_eq!(parsed.prompt.map(Prompt::as_str), Some("login consent"));
        assert_eq!(parse(&Params::parse(b"prompt=")).unwrap().prompt, None);
        assert!(parse(&Params::parse(b"prompt=none+login")).is_err());
    }

    #[test]
    fn max_age_must_be_a_non_negative_number() {
        assert!(parse(&Params::parse(b"max_age=-1")).is_err());
        assert!(parse(&Params::parse(b"max_age=abc")).is_err());
        assert_eq!(parse(&Params::parse(b"max_age=0")).unwrap().max_age, Some(0));
    }
}
