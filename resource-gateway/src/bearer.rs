//! Reading the bearer token of a request (RFC 6750 §2.1): only the `Authorization` header, scheme
//! matched case-insensitively; a token in the query string or the body is never looked at.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

/// What the `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Bearer<'a> {
    Token(&'a str),
    /// No header, or another scheme.
    Missing,
    /// Several headers, or a value that is not a `token68`: `invalid_request`.
    Malformed,
}

pub fn from_request(request: &HttpRequest) -> Bearer<'_> {
    let mut headers = request.headers().get_all(AUTHORIZATION);
    let Some(header) = headers.next() else {
        return Bearer::Missing;
    };
    if headers.next().is_some() {
        return Bearer::Malformed;
    }
    let Ok(value) = header.to_str() else {
        return Bearer::Malformed;
    };
    parse(value)
}

fn parse(value: &str) -> Bearer<'_> {
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

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= 4096
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
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
    }
}
