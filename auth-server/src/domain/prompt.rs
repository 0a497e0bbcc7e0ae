//! OpenID Connect's `prompt` (Core §3.1.2.1): whether the user must sign in again, consent again, or
//! must not be shown any page at all.

use std::str::FromStr;

/// What `prompt` asks for. Stored normalised (`prompt` column: `none`, `login`, `consent` or
/// `login consent`; NULL when it asks for nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Why a `prompt` value was refused (an `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("unsupported prompt value {0}")]
    Unsupported(String),
    #[error("prompt=none cannot be combined with other values")]
    NoneWithOthers,
}

impl Prompt {
    /// Whether it asks for nothing (no `prompt`, or an empty one).
    pub fn is_empty(self) -> bool {
        self == Prompt::default()
    }

    /// The normalised value, in the order `none`, `login`, `consent`.
    pub const fn as_str(self) -> &'static str {
        match (self.none, self.login, self.consent) {
            (true, _, _) => "none",
            (false, true, true) => "login consent",
            (false, true, false) => "login",
            (false, false, true) => "consent",
            (false, false, false) => "",
        }
    }
}

/// Parses a sent or stored `prompt`. `select_account` asks to choose the account, which here means
/// signing in again.
impl FromStr for Prompt {
    type Err = PromptError;

    fn from_str(value: &str) -> Result<Self, PromptError> {
        let mut prompt = Prompt::default();
        for item in value.split(' ').filter(|item| !item.is_empty()) {
            match item {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                other => return Err(PromptError::Unsupported(other.to_owned())),
            }
        }
        // OIDC Core §3.1.2.1: none with any other value is an error.
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(PromptError::NoneWithOthers);
        }
        Ok(prompt)
    }
}

shared::text_column!(Prompt);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_stands_alone() {
        assert_eq!("none login".parse::<Prompt>(), Err(PromptError::NoneWithOthers));
        assert_eq!("none consent".parse::<Prompt>(), Err(PromptError::NoneWithOthers));
        assert!(matches!(
            "bogus".parse::<Prompt>(),
            Err(PromptError::Unsupported(_))
        ));
    }

    #[test]
    fn the_stored_form_reads_back_as_the_same_prompt() {
        for sent in [
            "",
            "none",
            "login",
            "consent",
            "consent login",
            "select_account consent",
        ] {
            let prompt: Prompt = sent.parse().unwrap();
            assert_eq!(prompt.as_str().parse::<Prompt>().unwrap(), prompt, "{sent}");
        }
        let prompt: Prompt = "consent  select_account".parse().unwrap();
        assert!(prompt.login && prompt.consent && !prompt.none);
        assert_eq!(prompt.as_str(), "login consent");
        assert!("".parse::<Prompt>().unwrap().is_empty());
    }
}
