//! `GET /verify-email?token=` shows a button (a GET changes nothing: mail scanners follow links);
//! `POST /verify-email` uses the link. `/verify-email/resend` asks for a new link.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use super::account_form::{AccountForm, context, field, notice, nudge_outbox};
use crate::accounts::verification;
use crate::domain::{account, time};
use crate::error::PageError;
use crate::form_body;
use crate::pages::{ConfirmEmailPage, EmailFormPage, render, secure_html};
use crate::params::Params;
use crate::state::AppState;

const CONFIRM_FORM: &str = "verify-email";
const RESEND_FORM: &str = "verify-email-resend";

pub async fn get_verify_email(
    http: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let query = Params::parse(http.query_string().as_bytes());
    let token = field(&query, "token");
    let form = AccountForm::new(&state, &http, CONFIRM_FORM);
    let csrf = form.csrf_token();
    let page = ConfirmEmailPage {
        csrf_token: &csrf,
        token: &token,
    };
    form.finish(&state, render(secure_html(StatusCode::OK), &page))
}

pub async fn post_verify_email(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let submitted = form_body::read(&http, body).await?;
    AccountForm::new(&state, &http, CONFIRM_FORM).check(&state, &submitted)?;
    let token = field(&submitted, "token");
    let confirmed = run(&state.pool, move |conn| {
        verification::confirm(conn, &token, time::now())
    })
    .await?;
    Ok(if confirmed {
        notice(
            StatusCode::OK,
            "Address confirmed",
            "Your email address is confirmed. You can now sign in.",
            None,
        )
    } else {
        notice(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "The link was already used, has expired, or is not one we sent.",
            Some(("/verify-email/resend", "Send me a new link")),
        )
    })
}

pub async fn get_resend(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let form = AccountForm::new(&state, &http, RESEND_FORM);
    let csrf = form.csrf_token();
    let page = EmailFormPage {
        title: "Confirm your email address",
        lead: "Enter the address you registered with and we will send a new confirmation link.",
        action: "/verify-email/resend",
        csrf_token: &csrf,
    };
    form.finish(&state, render(secure_html(StatusCode::OK), &page))
}

pub async fn post_resend(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let submitted = form_body::read(&http, body).await?;
    AccountForm::new(&state, &http, RESEND_FORM).check(&state, &submitted)?;
    if let Ok(email) = account::email(&field(&submitted, "email")) {
        let context = context(&state, &http);
        run(&state.pool, move |conn| {
            verification::resend(conn, &context, &email, time::now())
        })
        .await?;
        nudge_outbox(&state);
    }
    // The same answer whether or not the address has an account.
    Ok(notice(
        StatusCode::OK,
        "Check your inbox",
        "If an unconfirmed account uses that address, we sent it a new confirmation link.",
        None,
    ))
}
