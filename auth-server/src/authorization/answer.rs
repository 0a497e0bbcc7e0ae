//! The answer to the client at the end of an authorization request, in the request's response
//! mode: the query (the code flow's default), the fragment (the hybrid flow's default), or an HTML
//! form posted to the redirect URI (`form_post`, OAuth 2.0 Form Post Response Mode). Every answer
//! carries `state` (when sent) and `iss` (RFC 9207).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::db::models::AuthorizationRequest;
use crate::domain::redirect_uri::{RedirectUri, with_query};
pub use crate::domain::response_mode::ResponseMode;
use crate::error::ErrorCode;
use crate::pages::{FormPostField, FormPostPage, render, secure_html, see_other};

/// The answer to send to the client's redirect URI.
#[derive(Debug)]
pub struct ClientAnswer {
    pub redirect_uri: RedirectUri,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl ClientAnswer {
    /// A successful answer: `params`, then `state` and `iss`.
    pub fn success(
        request: &AuthorizationRequest,
        issuer: &str,
        mut params: Vec<(&'static str, String)>,
    ) -> Self {
        params.extend(request.state.clone().map(|state| ("state", state)));
        params.push(("iss", issuer.to_owned()));
        ClientAnswer {
            redirect_uri: request.redirect_uri.clone(),
            mode: request.effective_response_mode(),
            params,
        }
    }

    /// An error answer (OAuth 2.0 §4.1.2.1, OIDC Core §3.1.2.6).
    pub fn error(request: &AuthorizationRequest, issuer: &str, error: ErrorCode, description: &str) -> Self {
        Self::success(
            request,
            issuer,
            vec![
                ("error", error.as_str().to_owned()),
                ("error_description", description.to_owned()),
            ],
        )
    }

    /// The HTTP response: a 303 for query and fragment, an HTML page for form_post.
    pub fn into_response(self) -> HttpResponse {
        let pairs: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        match self.mode {
            ResponseMode::Query => see_other(&with_query(&self.redirect_uri, &pairs)),
            ResponseMode::Fragment => {
                let mut fragment = form_urlencoded::Serializer::new(String::new());
                fragment.extend_pairs(pairs);
                see_other(&format!("{}#{}", self.redirect_uri, fragment.finish()))
            }
            ResponseMode::FormPost => {
                let page = FormPostPage {
                    action: self.redirect_uri.as_str(),
                    fields: self
                        .params
                        .iter()
                        .map(|(name, value)| FormPostField { name, value })
                        .collect(),
                };
                render(secure_html(StatusCode::OK), &page)
            }
        }
    }
}
