//! Bearer tokens (RFC 6750), read and refused the same way by every service: the resource-gateway,
//! the `GatewayIdentity` extractor, and the auth-server's userinfo endpoint.
//!
//! Reading (§2.1): only the `Authorization` header counts, with its scheme matched
//! case-insensitively. Another scheme (`Basic ...`) means no bearer token. More than one
//! `Authorization` header, or a bearer value that is not a `token68`, is an `invalid_request`. A
//! token in the query string is never looked at; one in a form body (§2.2) is the endpoint's
//! business.
//!
//! Refusing (§3): [`Challenge`] builds the `WWW-Authenticate` value
//! `Bearer realm="...", error="...", error_description="...", scope="..."`. RFC 6750 allows neither
//! `"` nor `\`, nor anything outside printable ASCII, in `error_description` and `scope`, so such
//! characters are dropped. The realm is a quoted-string (RFC 9110 §5.6.4): `"` and `\` are escaped
//! there, and control and non-ASCII characters dropped. The value is always a valid header value.

use std::fmt;

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, AsHeaderName, HeaderMap};

/// What a request's `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// A bearer token: a `token68` of at most 4096 characters.
    Token(&'a str),
    /// No `Authorization` header, or one with another scheme.
    Missing,
    /// Several `Authorization` headers, or a value that is not a `token68`: `invalid_request`.
    Malformed,
}

/// The bearer token of `request` (see [`from_headers`]).
pub fn from_request(request: &HttpRequest) -> Bearer<'_> {
    from_headers(request.headers())
}

/// The bearer token in `headers`: only the `Authorization` header, which must appear at most once.
pub fn from_headers(headers: &HeaderMap) -> Bearer<'_> {
    match sole_value(headers, AUTHORIZATION) {
        Ok(Some(value)) => parse(value),
        Ok(None) => Bearer::Missing,
        Err(NotSole) => Bearer::Malformed,
    }
}

/// Reads one `Authorization` value: `Bearer <token68>`, the scheme in any case.
pub fn parse(value: &str) -> Bearer<'_> {
    let Some((scheme, token)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") {
            Bearer::Malformed
        } else {
            Bearer::Missing
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Bearer::Missing;
    }
    let token = token.trim_start_matches(' ');
    if is_token68(token) {
        Bearer::Token(token)
    } else {
        Bearer::Malformed
    }
}

/// A header that may appear at most once was sent several times, or its value is not visible ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSole;

/// The value of header `name` when it appears at most once (`Ok(None)`: absent). A credential
/// header sent twice is refused rather than either copy picked.
pub fn sole_value(headers: &HeaderMap, name: impl AsHeaderName) -> Result<Option<&str>, NotSole> {
    let mut values = headers.get_all(name);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(NotSole);
    }
    value.to_str().map(Some).map_err(|_| NotSole)
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= 4096
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte))
}

/// The error codes of RFC 6750 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the request is malformed (several `Authorization` headers, a bad token syntax).
    InvalidRequest,
    /// 401: the token is expired, revoked, malformed or otherwise invalid.
    InvalidToken,
    /// 403: the token lacks the scope the request needs.
    InsufficientScope,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
        }
    }
}

/// A `WWW-Authenticate: Bearer` challenge. Its `Display` is the header value, with the attributes
/// given in the order `realm`, `error`, `error_description`, `scope`:
///
/// ```
/// use shared::bearer::{Challenge, ErrorCode};
///
/// let challenge = Challenge::new()
///     .realm("api")
///     .error(ErrorCode::InsufficientScope)
///     .scope("orders:read");
/// assert_eq!(
///     challenge.to_string(),
///     r#"Bearer realm="api", error="insufficient_scope", scope="orders:read""#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Challenge {
    realm: Option<String>,
    error: Option<ErrorCode>,
    description: Option<String>,
    scope: Option<String>,
}

impl Challenge {
    /// A challenge without attributes: `Bearer`.
    pub fn new() -> Challenge {
        Challenge::default()
    }

    /// The protection space; `"` and `\` are escaped, control and non-ASCII characters dropped.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Challenge {
        self.realm = Some(quoted_string_content(realm.as_ref()));
        self
    }

    pub fn error(mut self, code: ErrorCode) -> Challenge {
        self.error = Some(code);
        self
    }

    /// Human-readable text for the developer; characters RFC 6750 does not allow are dropped.
    pub fn description(mut self, description: impl AsRef<str>) -> Challenge {
        self.description = Some(rfc6750_value(description.as_ref()));
        self
    }

    /// The space-separated scopes the request needs; characters RFC 6750 does not allow are dropped.
    pub fn scope(mut self, scope: impl AsRef<str>) -> Challenge {
        self.scope = Some(rfc6750_value(scope.as_ref()));
        self
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attributes = [
            ("realm", self.realm.as_deref()),
            ("error", self.error.map(ErrorCode::as_str)),
            ("error_description", self.description.as_deref()),
            ("scope", self.scope.as_deref()),
        ];
        f.write_str("Bearer")?;
        let present = attributes
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)));
        for (index, (name, value)) in present.enumerate() {
            let separator = if index == 0 { " " } else { ", " };
            write!(f, "{separator}{name}=\"{value}\"")?;
        }
        Ok(())
    }
}

/// `error_description` and `scope` (RFC 6750 §3): `%x20-21 / %x23-5B / %x5D-7E` only.
fn rfc6750_value(value: &str) -> String {
    value
        .chars()
        .filter(|character| matches!(character, ' '..='~') && !matches!(character, '"' | '\\'))
        .collect()
}

/// The inside of a quoted-string: `"` and `\` as quoted-pairs, only space and visible ASCII kept.
fn quoted_string_content(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len());
    for character in value.chars().filter(|character| matches!(character, ' '..='~')) {
        if matches!(character, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(character);
    }
    quoted
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(parse("Bearer abc"), Bearer::Token("abc"));
        assert_eq!(parse("bearer abc"), Bearer::Token("abc"));
        assert_eq!(
            parse("BEARER oat_x-y.z~1+2/3=="),
            Bearer::Token("oat_x-y.z~1+2/3==")
        );
    }

    #[test]
    fn other_schemes_are_no_token_and_bad_values_are_malformed() {
        assert_eq!(parse("Basic dXNlcjpwdw=="), Bearer::Missing);
        assert_eq!(parse("Bearer"), Bearer::Malformed);
        assert_eq!(parse("Bearer a b"), Bearer::Malformed);
        assert_eq!(parse("Bearer a\"b"), Bearer::Malformed);
        assert_eq!(parse("Bearer ==="), Bearer::Malformed);
        assert_eq!(parse(&format!("Bearer {}", "a".repeat(4097))), Bearer::Malformed);
    }

    #[test]
    fn only_one_authorization_header_counts_and_two_are_malformed() {
        let none = TestRequest::default().to_http_request();
        let one = TestRequest::default()
            .insert_header(("authorization", "Bearer abc"))
            .to_http_request();
        let two = TestRequest::default()
            .append_header(("authorization", "Bearer abc"))
            .append_header(("authorization", "Bearer abc"))
            .to_http_request();
        let elsewhere = TestRequest::with_uri("/?access_token=abc")
            .insert_header(("x-access-token", "abc"))
            .to_http_request();

        assert_eq!(from_request(&none), Bearer::Missing);
        assert_eq!(from_request(&one), Bearer::Token("abc"));
        assert_eq!(from_request(&two), Bearer::Malformed);
        assert_eq!(from_request(&elsewhere), Bearer::Missing);
    }

    #[test]
    fn a_header_value_that_is_not_visible_ascii_is_malformed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer caf\xc3\xa9").unwrap(),
        );
        assert_eq!(from_headers(&headers), Bearer::Malformed);
        let name = HeaderName::from_static("x-auth-identity");
        assert_eq!(sole_value(&headers, name), Ok(None));
    }

    #[test]
    fn challenges_list_the_attributes_in_order() {
        let bare = Challenge::new().realm("api");
        let inactive = Challenge::new()
            .realm("api")
            .error(ErrorCode::InvalidToken)
            .description("the token is not active");
        let scope = Challenge::new()
            .realm("upstream")
            .error(ErrorCode::InsufficientScope)
            .scope("orders:read orders:write");

        assert_eq!(Challenge::new().to_string(), "Bearer");
        assert_eq!(bare.to_string(), r#"Bearer realm="api""#);
        assert_eq!(
            inactive.to_string(),
            r#"Bearer realm="api", error="invalid_token", error_description="the token is not active""#
        );
        assert_eq!(
            scope.to_string(),
            r#"Bearer realm="upstream", error="insufficient_scope", scope="orders:read orders:write""#
        );
        assert_eq!(
            Challenge::new().error(ErrorCode::InvalidRequest).to_string(),
            r#"Bearer error="invalid_request""#
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_in_the_realm_and_dropped_elsewhere() {
        let challenge = Challenge::new()
            .realm(r#"a "b" \c"#)
            .description("say \"hi\"\\\r\n now")
            .scope("a\"b c\u{e9}");

        assert_eq!(
            challenge.to_string(),
            r#"Bearer realm="a \"b\" \\c", error_description="say hi now", scope="ab c""#
        );
    }

    /// Reads a challenge back: its attributes in order, quoted-pairs unescaped.
    fn attributes(challenge: &str) -> Vec<(String, String)> {
        let mut rest = challenge.strip_prefix("Bearer").unwrap();
        let mut found = Vec::new();
        while !rest.is_empty() {
            let separator = if found.is_empty() { " " } else { ", " };
            let (name, after) = rest.strip_prefix(separator).unwrap().split_once("=\"").unwrap();
            let mut value = String::new();
            let mut characters = after.char_indices();
            let end = loop {
                match characters.next().unwrap() {
                    (_, '\\') => value.push(characters.next().unwrap().1),
                    (index, '"') => break index,
                    (_, other) => value.push(other),
                }
            };
            found.push((name.to_owned(), value));
            rest = &after[end + 1..];
        }
        found
    }

    fn printable(value: &str) -> String {
        value.chars().filter(|c| matches!(c, ' '..='~')).collect()
    }

    /// Every ASCII character (controls, `"` and `\` included) and two that are not ASCII.
    const ASCII_AND_MORE: &str = "[\\x00-\\x7F\u{e9}\u{1F600}]{0,40}";

    proptest! {
        #[test]
        fn any_token68_after_any_casing_of_bearer_is_that_token(
            scheme in "[bB][eE][aA][rR][eE][rR]",
            spaces in " {1,3}",
            token in "[A-Za-z0-9._~+/-]{1,64}={0,2}",
        ) {
            let value = format!("{scheme}{spaces}{token}");
            prop_assert_eq!(parse(&value), Bearer::Token(&token));
        }

        #[test]
        fn another_scheme_is_never_a_token(
            scheme in "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}",
            rest in "[ -~]{0,40}",
        ) {
            prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
            let value = format!("{scheme} {rest}");
            prop_assert_eq!(parse(&value), Bearer::Missing);
        }

        #[test]
        fn a_token_found_is_a_suffix_of_the_value_and_a_token68(value in any::<String>()) {
            if let Bearer::Token(token) = parse(&value) {
                prop_assert!(value.ends_with(token));
                prop_assert!(is_token68(token));
            }
        }

        #[test]
        fn any_challenge_is_a_header_value_that_reads_back_what_rfc_6750_allows(
            realm in ASCII_AND_MORE,
            description in ASCII_AND_MORE,
            scope in ASCII_AND_MORE,
        ) {
            let challenge = Challenge::new()
                .realm(&realm)
                .error(ErrorCode::InvalidToken)
                .description(&description)
                .scope(&scope)
                .to_string();

            prop_assert!(HeaderValue::from_str(&challenge).is_ok());
            let allowed = |value: &str| printable(value).replace(['"', '\\'], "");
            let expected = [
                ("realm", printable(&realm)),
                ("error", "invalid_token".to_owned()),
                ("error_description", allowed(&description)),
                ("scope", allowed(&scope)),
            ]
            .map(|(name, value)| (name.to_owned(), value));
            prop_assert_eq!(attributes(&challenge), expected.to_vec());
        }
    }
}
