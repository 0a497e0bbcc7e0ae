//! What the account pages share: the browser-binding cookie their CSRF tokens are tied to, the
//! CSRF check, the context of the account flows, and the notice page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use crate::accounts::{self, AccountContext};
use crate::browser::{BrowserBinding, BrowserCookies};
use crate::client_address;
use crate::error::PageError;
use crate::pages::{NoticePage, render, secure_html};
use crate::params::Params;
use crate::state::AppState;

/// One account form: its CSRF tokens are bound to the browser and to the form's name.
pub struct AccountForm<'a> {
    pub browser: BrowserBinding,
    name: &'static str,
    /// The address the per-address limit counts.
    address: String,
    /// Makes and checks the CSRF tokens.
    cookies: &'a BrowserCookies,
}

impl<'a> AccountForm<'a> {
    pub fn new(state: &'a AppState, http: &HttpRequest, name: &'static str) -> AccountForm<'a> {
        AccountForm {
            browser: BrowserBinding::from_request(&state.cookies, http),
            name,
            address: client_address::of(http, state.settings.throttle.trusted_proxies),
            cookies: &state.cookies,
        }
    }

    pub fn csrf_token(&self) -> String {
        self.cookies.csrf_token(&self.browser.value, self.name)
    }

    /// Refuses a submission that did not come from our form in this browser, or one over the
    /// address's budget of account-form submissions (each may cost an argon2 hash or an email, and
    /// a stranger gets neither for free).
    pub fn check(&self, state: &AppState, form: &Params) -> Result<(), PageError> {
        let submitted = form.get("csrf_token").ok().flatten().unwrap_or_default();
        if self.browser.is_new
            || !self
                .cookies
                .csrf_token_is_valid(submitted, &self.browser.value, self.name)
        {
            return Err(PageError::forbidden(
                "The form was not submitted from this page. Go back, reload it and try again.",
            ));
        }
        if let Err(retry_after) = state.throttles.account_forms_per_ip.reserve(&self.address) {
            metrics::counter!("auth_account_forms_throttled_total").increment(1);
            return Err(PageError::too_many_requests(retry_after));
        }
        Ok(())
    }

    /// Sets the browser cookie on a page that shows the form, if the browser had none.
    pub fn finish(&self, state: &AppState, mut response: HttpResponse) -> Result<HttpResponse, PageError> {
        if self.browser.is_new {
            response
                .add_cookie(&state.cookies.browser_cookie(self.browser.value.clone()))
                .map_err(PageError::internal)?;
        }
        Ok(response)
    }
}

/// A field of a submitted form ("" when missing or malformed).
pub fn field(form: &Params, name: &str) -> String {
    form.get(name).ok().flatten().unwrap_or_default().to_owned()
}

/// The context of the account flows for this request.
pub fn context(state: &AppState, http: &HttpRequest) -> AccountContext {
    AccountContext {
        settings: state.settings.accounts.clone(),
        issuer: state.settings.issuer.clone(),
        traceparent: accounts::traceparent(http),
    }
}

/// A page that tells the user what happened.
pub fn notice(status: StatusCode, title: &str, message: &str, link: Option<(&str, &str)>) -> HttpResponse {
    render(secure_html(status), &NoticePage { title, message, link })
}

/// Tells the relay that a committed transaction wrote to the outbox.
pub fn nudge_outbox(state: &AppState) {
    if let Some(relay) = &state.outbox {
        relay.nudge();
    }
}
