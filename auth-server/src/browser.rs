//! The browser side of the authorization flow: the login-session cookie, the cookie that binds
//! pending authorization requests to the browser that started them, and the CSRF token of the forms.
//!
//! Cookies are `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` with the `__Host-` prefix when the
//! issuer is https. The CSRF token of a form is an HMAC-SHA256, under a key derived from the
//! key-encryption key, of the browser cookie and the form (a request id or a form name): another
//! browser, or a page on another site, cannot produce it, and neither can someone who planted or
//! knows the cookie (over an http issuer a sibling host can set it), since the key never leaves
//! the server.

use actix_web::HttpRequest;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

use crate::domain::opaque_token::{self, TokenKind};

/// Cookie names and attributes for one deployment, and the key of its CSRF tokens.
#[derive(Clone)]
pub struct BrowserCookies {
    secure: bool,
    csrf_key: hmac::Key,
}

impl std::fmt::Debug for BrowserCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserCookies")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl BrowserCookies {
    /// `csrf_key`: 32 secret bytes, the same on every replica (`KeyEncryptionKey::derive`).
    pub fn new(secure: bool, csrf_key: &[u8; 32]) -> Self {
        BrowserCookies {
            secure,
            csrf_key: hmac::Key::new(hmac::HMAC_SHA256, csrf_key),
        }
    }

    /// The CSRF token of `form` (an authorization request id, or a form's name) in the browser
    /// whose binding cookie is `browser_value`.
    pub fn csrf_token(&self, browser_value: &str, form: &str) -> String {
        let mut context = hmac::Context::with_key(&self.csrf_key);
        context.update(b"csrf\0");
        context.update(browser_value.as_bytes());
        context.update(b"\0");
        context.update(form.as_bytes());
        hex::encode(context.sign().as_ref())
    }

    /// Checks a submitted CSRF token in constant time.
    pub fn csrf_token_is_valid(&self, submitted: &str, browser_value: &str, form: &str) -> bool {
        self.csrf_token(browser_value, form)
            .as_bytes()
            .ct_eq(submitted.as_bytes())
            .into()
    }

    pub fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-auth_session"
        } else {
            "auth_session"
        }
    }

    pub fn browser_name(&self) -> &'static str {
        if self.secure {
            "__Host-auth_browser"
        } else {
            "auth_browser"
        }
    }

    /// The login-session cookie value, if the browser sent one.
    pub fn session(&self, request: &HttpRequest) -> Option<String> {
        request
            .cookie(self.session_name())
            .map(|cookie| cookie.value().to_owned())
    }

    /// The browser-binding cookie value, if the browser sent one.
    pub fn browser(&self, request: &HttpRequest) -> Option<String> {
        request
            .cookie(self.browser_name())
            .map(|cookie| cookie.value().to_owned())
    }

    /// A new login-session cookie.
    pub fn session_cookie(&self, value: String, max_age_secs: u64) -> Cookie<'static> {
        let mut cookie = self.base(self.session_name(), value);
        cookie.set_max_age(CookieDuration::seconds(
            i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        ));
        cookie
    }

    /// A browser-binding cookie; it lives as long as the browser session.
    pub fn browser_cookie(&self, value: String) -> Cookie<'static> {
        self.base(self.browser_name(), value)
    }

    fn base(&self, name: &'static str, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(name, value);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_path("/");
        cookie.set_secure(self.secure);
        cookie
    }
}

/// The browser-binding value of this request, or a new one to set.
pub struct BrowserBinding {
    pub value: String,
    /// Whether the value is new and the cookie must be set on the response.
    pub is_new: bool,
}

impl BrowserBinding {
    pub fn from_request(cookies: &BrowserCookies, request: &HttpRequest) -> Self {
        match cookies
            .browser(request)
            .filter(|value| TokenKind::of(value) == Some(TokenKind::Browser))
        {
            Some(value) => BrowserBinding { value, is_new: false },
            None => BrowserBinding {
                value: opaque_token::generate(TokenKind::Browser).value,
                is_new: true,
            },
        }
    }

    /// What the authorization request row stores.
    pub fn hash(&self) -> String {
        opaque_token::hash(&self.value).into_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_an_https_issuer_cookies_are_secure_and_host_prefixed() {
        let cookies = BrowserCookies::new(true, &[1; 32]);
        let session = cookies.session_cookie("oss_x".into(), 60);
        assert_eq!(session.name(), "__Host-auth_session");
        assert_eq!(session.secure(), Some(true));
        assert_eq!(session.http_only(), Some(true));
        assert_eq!(session.same_site(), Some(SameSite::Lax));
        assert_eq!(session.path(), Some("/"));
        assert_eq!(
            cookies.browser_cookie("obr_x".into()).name(),
            "__Host-auth_browser"
        );
    }

    #[test]
    fn over_plain_http_for_local_use_cookies_are_not_secure() {
        let cookies = BrowserCookies::new(false, &[1; 32]);
        assert_eq!(cookies.session_cookie("oss_x".into(), 60).secure(), Some(false));
        assert_eq!(cookies.session_name(), "auth_session");
    }

    #[test]
    fn the_csrf_token_depends_on_the_browser_the_form_and_the_server_key() {
        let cookies = BrowserCookies::new(false, &[1; 32]);
        let token = cookies.csrf_token("obr_a", "oar_1");
        assert!(cookies.csrf_token_is_valid(&token, "obr_a", "oar_1"));
        assert!(!cookies.csrf_token_is_valid(&token, "obr_b", "oar_1"));
        assert!(!cookies.csrf_token_is_valid(&token, "obr_a", "oar_2"));
        assert!(!cookies.csrf_token_is_valid("", "obr_a", "oar_1"));
        // Knowing the cookie is not enough: another key, or the unkeyed hash, gives another token.
        assert!(!BrowserCookies::new(false, &[2; 32]).csrf_token_is_valid(&token, "obr_a", "oar_1"));
        let unkeyed = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(b"csrf\0obr_a\0oar_1"))
        };
        assert!(!cookies.csrf_token_is_valid(&unkeyed, "obr_a", "oar_1"));
    }
}
