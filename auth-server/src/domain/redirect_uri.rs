//! Redirect URIs: what may be registered (RFC 9700 §2.1, §4.1; RFC 8252 for native apps) and how a
//! request's `redirect_uri` is matched against the registered list: exact string equality, with the
//! single exception RFC 8252 §7.3 requires (any port on an `http` loopback IP literal).
//!
//! A [`RedirectUri`] is one that passed: registered through [`validate_for_registration`], or a
//! request's URI that [`resolve`] matched to a registered one. The clients' lists, the stored
//! authorization requests and codes, and every answer sent to a client hold one, so a URI taken
//! straight from a request cannot be redirected to.

use std::fmt;

use diesel::sql_types::Text;
use url::Url;

/// A validated redirect URI, kept exactly as registered or requested (never normalised: matching
/// is exact). Serialises as the bare string; there is deliberately no `Deserialize` or `FromStr`,
/// which would make one from any text.
#[derive(Clone, PartialEq, Eq, serde::Serialize, diesel::AsExpression, diesel::FromSqlRow)]
#[serde(transparent)]
#[diesel(sql_type = Text)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// A URI read back from our own storage (a client's registered lists, an authorization request
    /// or code row), where it was written as a `RedirectUri`. Not validated again: a URI that
    /// [`resolve`] matched was never validated on its own, and a rule tightened since must not make
    /// a stored request, or a registered client, unreadable.
    pub fn from_stored(uri: String) -> RedirectUri {
        RedirectUri(uri)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for RedirectUri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// As the bare string, like the `String` it replaces wherever it is printed with `{:?}`.
impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

// The TEXT column conversions of `shared::text_column!`, written out: that macro reads through
// `FromStr`, which this type must not have (see above). Reading is `from_stored`.
impl<DB> diesel::deserialize::FromSql<Text, DB> for RedirectUri
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        <String as diesel::deserialize::FromSql<Text, DB>>::from_sql(bytes).map(RedirectUri::from_stored)
    }
}

impl<DB> diesel::serialize::ToSql<Text, DB> for RedirectUri
where
    DB: diesel::backend::Backend,
    str: diesel::serialize::ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        <str as diesel::serialize::ToSql<Text, DB>>::to_sql(self.as_str(), out)
    }
}

/// Why a URI cannot be registered as a redirect URI.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidRedirectUri {
    #[error("{0:?} is not an absolute URI")]
    NotAbsolute(String),
    #[error("{0:?} has a fragment; redirect URIs must not")]
    Fragment(String),
    #[error("{0:?} contains a wildcard; redirect URIs are matched exactly")]
    Wildcard(String),
    #[error("{0:?} uses a scheme that can run code or read local files")]
    DangerousScheme(String),
    #[error("{0:?} uses http on a host that is not a loopback address; use https")]
    PlainHttp(String),
    #[error("{0:?} has user information in it")]
    UserInfo(String),
    #[error("{0:?} uses a custom scheme that is not a reverse domain name (such as com.example.app)")]
    CustomScheme(String),
}

/// Checks that `uri` may be registered, returning it unchanged (never normalised: matching is exact).
pub fn validate_for_registration(uri: &str) -> Result<RedirectUri, InvalidRedirectUri> {
    validate(uri).map(|()| RedirectUri(uri.to_owned()))
}

fn validate(uri: &str) -> Result<(), InvalidRedirectUri> {
    let owned = || uri.to_owned();
    if uri.contains('*') {
        return Err(InvalidRedirectUri::Wildcard(owned()));
    }
    if uri.contains('#') {
        return Err(InvalidRedirectUri::Fragment(owned()));
    }
    let parsed = Url::parse(uri).map_err(|_| InvalidRedirectUri::NotAbsolute(owned()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(InvalidRedirectUri::UserInfo(owned()));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if is_loopback_host(&parsed) => Ok(()),
        "http" => Err(InvalidRedirectUri::PlainHttp(owned())),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            Err(InvalidRedirectUri::DangerousScheme(owned()))
        }
        // Native apps use private-use schemes named after a domain they own (RFC 8252 §7.1).
        scheme if scheme.contains('.') => Ok(()),
        "https" => Err(InvalidRedirectUri::NotAbsolute(owned())),
        _ => Err(InvalidRedirectUri::CustomScheme(owned())),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// Finds the registered URI that `requested` designates, or `None`.
pub fn find_match<'a>(registered: &'a [RedirectUri], requested: &str) -> Option<&'a str> {
    registered
        .iter()
        .map(RedirectUri::as_str)
        .find(|candidate| *candidate == requested || loopback_port_variant(candidate, requested))
}

/// The redirect URI a request's `redirect_uri` designates, if it matches a registered one: the
/// requested URI itself. Under the loopback port exception that is not the registered string, but
/// the app listens on the requested port, so that is where the answer goes.
pub fn resolve(registered: &[RedirectUri], requested: &str) -> Option<RedirectUri> {
    find_match(registered, requested).map(|_| RedirectUri(requested.to_owned()))
}

/// The registered URI exactly equal to `requested` (post-logout redirects: no loopback exception).
pub fn find_exact<'a>(registered: &'a [RedirectUri], requested: &str) -> Option<&'a RedirectUri> {
    registered
        .iter()
        .find(|candidate| candidate.as_str() == requested)
}

/// RFC 8252 §7.3: for `http` redirect URIs on a loopback IP literal, the port is chosen by the app at
/// run time, so any port is accepted; every other byte must still be equal.
fn loopback_port_variant(registered: &str, requested: &str) -> bool {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        if let (Some(registered_rest), Some(requested_rest)) =
            (registered.strip_prefix(host), requested.strip_prefix(host))
        {
            return strip_port(registered_rest) == strip_port(requested_rest);
        }
    }
    false
}

/// Removes a leading `:port` from what follows the host; `None` when it is not a TCP port (1 to
/// 65535): a browser could not follow the redirect, and the URL parser would refuse it.
fn strip_port(after_host: &str) -> Option<&str> {
    match after_host.strip_prefix(':') {
        Some(rest) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let port: u16 = rest[..digits].parse().ok()?;
            (port > 0).then(|| &rest[digits..])
        }
        None => Some(after_host),
    }
}

/// Appends query parameters to a redirect URI that may already have a query: the `Location` of an
/// answer.
pub fn with_query(base: &RedirectUri, params: &[(&str, &str)]) -> String {
    let base = base.as_str();
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    let query = serializer.finish();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(uris: &[&str]) -> Vec<RedirectUri> {
        uris.iter()
            .map(|uri| RedirectUri::from_stored(uri.to_string()))
            .collect()
    }

    fn uri(uri: &str) -> RedirectUri {
        RedirectUri::from_stored(uri.to_owned())
    }

    #[test]
    fn only_exact_strings_match() {
        let list = registered(&["https://app.test/cb"]);
        assert_eq!(
            find_match(&list, "https://app.test/cb"),
            Some("https://app.test/cb")
        );
        for near_miss in [
            "https://app.test/cb/",
            "https://APP.test/cb",
            "HTTPS://app.test/cb",
            "https://app.test/cb?x=1",
            "https://app.test/cb#f",
            "https://app.test/cb/../cb",
            "https://app.test/cb%2F..%2F",
            "https://app.test:443/cb",
            "https://app.test/CB",
            "https://app.test/c",
        ] {
            assert_eq!(find_match(&list, near_miss), None, "{near_miss}");
        }
    }

    #[test]
    fn a_registered_query_must_be_repeated_exactly() {
        let list = registered(&["https://app.test/cb?foo=bar"]);
        assert!(find_match(&list, "https://app.test/cb?foo=bar").is_some());
        assert!(find_match(&list, "https://app.test/cb?foo=bar&x=y").is_none());
        assert!(find_match(&list, "https://app.test/cb?foo=bara").is_none());
    }

    #[test]
    fn loopback_ip_redirects_accept_any_port_but_nothing_else_differs() {
        let list = registered(&["http://127.0.0.1/cb", "http://[::1]:8000/cb"]);
        assert!(find_match(&list, "http://127.0.0.1:51234/cb").is_some());
        assert!(find_match(&list, "http://127.0.0.1/cb").is_some());
        assert!(find_match(&list, "http://[::1]:9/cb").is_some());
        assert!(find_match(&list, "http://127.0.0.1:51234/cb/").is_none());
        assert!(find_match(&list, "http://127.0.0.1:abc/cb").is_none());
        for not_a_port in ["0", "65536", "99999", "123456"] {
            let requested = format!("http://127.0.0.1:{not_a_port}/cb");
            assert!(find_match(&list, &requested).is_none(), "{requested}");
        }
        assert!(find_match(&list, "http://127.0.0.1.evil.test/cb").is_none());
        // localhost is a name, not an IP literal: no port exception (RFC 8252 §8.3).
        let named = registered(&["http://localhost:3000/cb"]);
        assert!(find_match(&named, "http://localhost:3001/cb").is_none());
    }

    #[test]
    fn registration_refuses_unsafe_uris() {
        for bad in [
            "https://app.test/cb#frag",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "http://app.test/cb",
            "https://*.app.test/cb",
            "/relative/cb",
            "https://user:pw@app.test/cb",
            "myapp:/cb",
        ] {
            assert!(validate_for_registration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registration_accepts_https_loopback_http_and_reverse_domain_schemes() {
        for good in [
            "https://app.test/cb",
            "https://app.test/cb?foo=bar",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(
                validate_for_registration(good).as_ref().map(RedirectUri::as_str),
                Ok(good),
                "{good}"
            );
        }
    }

    #[test]
    fn query_parameters_are_appended_with_the_right_separator() {
        assert_eq!(
            with_query(&uri("https://a.test/cb"), &[("code", "x y")]),
            "https://a.test/cb?code=x+y"
        );
        assert_eq!(
            with_query(&uri("https://a.test/cb?k=v"), &[("state", "&=")]),
            "https://a.test/cb?k=v&state=%26%3D"
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn path() -> impl Strategy<Value = String> {
        "(/[a-z0-9._~-]{0,8}){0,3}"
    }

    proptest! {
        #[test]
        fn a_registered_uri_matches_itself_and_nothing_that_differs_by_a_byte(
            host in "[a-z]{1,10}\\.(com|test|example)",
            path in path(),
            extra in "[a-zA-Z0-9/?=&.%-]",
        ) {
            let uri = format!("https://{host}{path}");
            let registered = vec![RedirectUri::from_stored(uri.clone())];
            prop_assert_eq!(find_match(&registered, &uri), Some(uri.as_str()));
            let longer = format!("{uri}{extra}");
            prop_assert_eq!(find_match(&registered, &longer), None);
            let shorter = &uri[..uri.len() - 1];
            prop_assert_eq!(find_match(&registered, shorter), None);
            let upper = uri.to_uppercase();
            prop_assume!(upper != uri);
            prop_assert_eq!(find_match(&registered, &upper), None);
        }

        #[test]
        fn a_loopback_ip_uri_matches_on_any_port_with_the_rest_equal(
            port in 1u16..=65535,
            other_port in 1u16..=65535,
            path in path(),
            other_path in path(),
        ) {
            let registered = vec![RedirectUri::from_stored(format!("http://127.0.0.1:{port}{path}"))];
            let requested = format!("http://127.0.0.1:{other_port}{path}");
            prop_assert_eq!(find_match(&registered, &requested), Some(registered[0].as_str()));
            prop_assume!(other_path != path);
            let elsewhere = format!("http://127.0.0.1:{other_port}{other_path}");
            prop_assert_eq!(find_match(&registered, &elsewhere), None);
        }

        #[test]
        fn what_may_be_registered_is_returned_unchanged_and_never_has_a_fragment_or_wildcard(
            uri in "\\PC{0,60}",
        ) {
            if let Ok(kept) = validate_for_registration(&uri) {
                let kept = kept.into_string();
                prop_assert_eq!(&kept, &uri);
                prop_assert!(!kept.contains('#') && !kept.contains('*'));
                prop_assert!(!kept.to_ascii_lowercase().starts_with("javascript:"));
            }
        }
    }
}
