//! Server-rendered pages (login, consent, error) and the headers every page carries: no framing
//! (clickjacking), no referrer (codes in URLs), no caching, no third-party or inline scripts.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, web};
use askama::Template;

/// A scope as shown on the consent page.
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub request_id: &'a str,
    pub csrf_token: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub registration_enabled: bool,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage<'a> {
    pub csrf_token: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
}

/// A form that asks for an email address (forgotten password, new verification link).
#[derive(Template)]
#[template(path = "email_form.html")]
pub struct EmailFormPage<'a> {
    pub title: &'a str,
    pub lead: &'a str,
    pub action: &'a str,
    pub csrf_token: &'a str,
}

/// The button that uses an email verification link (a GET never changes anything: mail scanners
/// follow links).
#[derive(Template)]
#[template(path = "confirm_email.html")]
pub struct ConfirmEmailPage<'a> {
    pub csrf_token: &'a str,
    pub token: &'a str,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPasswordPage<'a> {
    pub csrf_token: &'a str,
    pub token: &'a str,
    pub error: Option<&'a str>,
}

/// A page that tells the user what happened, with an optional link onwards.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub link: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: Vec<ScopeView>,
    pub request_id: &'a str,
    pub csrf_token: &'a str,
}

/// A field of the form_post answer.
pub struct FormPostField<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// The form_post response mode: a form the browser posts to the client's redirect URI.
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: Vec<FormPostField<'a>>,
}

/// Asks the user to confirm an RP-initiated logout that did not prove where it came from.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub username: Option<&'a str>,
    pub csrf_token: &'a str,
}

/// Shown after a logout with nowhere to return to.
#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    request_id: Option<String>,
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src \
    'self'; base-uri 'none'; frame-ancestors 'none'";

/// A response builder with the security headers of every HTML page.
pub fn secure_html(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    response
}

/// Renders a template into a response builder, or an error page if rendering fails.
pub fn render(mut response: HttpResponseBuilder, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => response.body(html),
        Err(error) => {
            tracing::error!(%error, "a page template failed to render");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The page could not be shown.",
            )
        }
    }
}

/// The HTML error page (never a redirect).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let page = ErrorPage {
        title,
        message,
        request_id: shared::request_id::current(),
    };
    match page.render() {
        Ok(html) => secure_html(status).body(html),
        Err(_) => secure_html(status).body(format!("{status}")),
    }
}

/// A 303 See Other, the only redirect status a form POST may answer with (RFC 9700 §4.12).
pub fn see_other(location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    response.finish()
}

/// `GET /static/style.css`: the pages' only stylesheet, served by us (no third-party resources).
pub async fn get_stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../static/style.css"))
}

/// `GET /static/form_post.js`: submits the form_post page at once (a script file, since the pages'
/// policy allows no inline script; without JavaScript the user presses the button).
pub async fn get_form_post_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../static/form_post.js"))
}

/// Registers the static assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/style.css", web::get().to(get_stylesheet))
        .route("/static/form_post.js", web::get().to(get_form_post_script));
}
