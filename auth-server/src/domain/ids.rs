//! The identifiers of clients, users and grants (token families). All three are opaque text in TEXT
//! columns, and side by side in most rows (`client_id`, `user_id`, `grant_id`): as plain `String`s
//! one passed where another is expected compiles, and the query quietly finds nothing. As distinct
//! types the compiler refuses the mix-up.
//!
//! An id is any text (random ones from [`opaque_token::random_id`], client ids an operator chose,
//! ids already stored), so making one never fails: it comes from a row, from a request parameter
//! that names one, or from `random()`. Rows hold the types themselves (`shared::text_column!`), and
//! JSON and `Display` show the bare text, so what clients, pages and logs see is unchanged.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use super::opaque_token;

/// Declares an id type over `String`: constructors, `Display`, `AsRef<str>`, transparent serde and
/// the TEXT column conversions.
macro_rules! text_id {
    ($(#[$attribute:meta])* $name:ident) => {
        $(#[$attribute])*
        #[derive(
            Clone,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            diesel::AsExpression,
            diesel::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $name(String);

        impl $name {
            /// A new random id (16 random bytes, base64url).
            pub fn random() -> Self {
                $name(opaque_token::random_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        /// Any text is an id; `shared::text_column!` reads the column through this.
        impl FromStr for $name {
            type Err = Infallible;

            fn from_str(id: &str) -> Result<Self, Infallible> {
                Ok($name::from(id))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // The bare string's `Debug` (`"abc"`, not `ClientId("abc")`): error messages and log
        // fields that print an id with `{:?}` read as they did when it was a `String`.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        shared::text_column!($name);
    };
}

text_id!(
    /// A registered client's id (`clients.id`, and `client_id` in the rows issued to it). The `aud`
    /// and `azp` of the id_tokens it receives.
    ClientId
);

text_id!(
    /// A user's id (`users.id`, and `user_id` in the rows about that user): the `sub` of the
    /// id_tokens and userinfo answers about them.
    UserId
);

text_id!(
    /// A grant's id (`grants.id`): the family of the access and refresh tokens issued from one
    /// authorization, revoked together.
    GrantId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_shows_and_serialises_as_its_bare_text() {
        let id = ClientId::from("my-app");
        assert_eq!(id.to_string(), "my-app");
        assert_eq!(format!("{id:?}"), r#""my-app""#);
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""my-app""#);
        assert_eq!(serde_json::from_str::<ClientId>(r#""my-app""#).unwrap(), id);
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(GrantId::random(), GrantId::random());
        assert_eq!(UserId::random().as_str().len(), 22);
    }
}
