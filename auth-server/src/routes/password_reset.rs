//! `/password/forgot` emails a single-use link (the same answer whether or not the address has an
//! account); `/password/reset?token=` shows the new-password form and sets it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use shared::db::run;

use super::account_form::{AccountForm, context, field, notice, nudge_outbox};
use crate::accounts::password_reset;
use crate::domain::{account, time};
use crate::error::PageError;
use crate::pages::{EmailFormPage, ResetPasswordPage, render, secure_html};
use crate::params::Params;
use crate::state::AppState;
use crate::{form_body, password};

const FORGOT_FORM: &str = "password-forgot";
const RESET_FORM: &str = "password-reset";

pub async fn get_forgot(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let form = AccountForm::new(&state, &http, FORGOT_FORM);
    let csrf = form.csrf_token();
    let page = EmailFormPage {
        title: "Reset your password",
        lead: "Enter the address of your account and we will email you a link to choose a new password.",
        action: "/password/forgot",
        csrf_token: &csrf,
    };
    form.finish(&state, render(secure_html(StatusCode::OK), &page))
}

pub async fn post_forgot(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let submitted = form_body::read(&http, body).await?;
    AccountForm::new(&state, &http, FORGOT_FORM).check(&state, &submitted)?;
    if let Ok(email) = account::email(&field(&submitted, "email")) {
        let context = context(&state, &http);
        run(&state.pool, move |conn| {
            password_reset::request(conn, &context, &email, time::now())
        })
        .await?;
        nudge_outbox(&state);
    }
    Ok(notice(
        StatusCode::OK,
        "Check your inbox",
        "If an account uses that address, we sent it a link to choose a new password.",
        None,
    ))
}

pub async fn get_reset(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let query = Params::parse(http.query_string().as_bytes());
    let token = field(&query, "token");
    if !link_is_usable(&state, &token).await? {
        return Ok(link_does_not_work());
    }
    let form = AccountForm::new(&state, &http, RESET_FORM);
    form.finish(&state, reset_form(&form, &token, None, StatusCode::OK))
}

pub async fn post_reset(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let submitted = form_body::read(&http, body).await?;
    let form = AccountForm::new(&state, &http, RESET_FORM);
    form.check(&state, &submitted)?;
    let token = field(&submitted, "token");
    let new_password = SecretString::from(field(&submitted, "password"));
    if let Err(message) = password::check_policy(&new_password) {
        return Ok(reset_form(
            &form,
            &token,
            Some(&format!("Password: {message}.")),
            StatusCode::BAD_REQUEST,
        ));
    }
    // The link first: a stranger with a made-up link costs no argon2 hash. `complete` checks it
    // again, atomically, when it is used.
    if !link_is_usable(&state, &token).await? {
        return Ok(link_does_not_work());
    }
    if !set_new_password(&state, &http, token, new_password).await? {
        return Ok(link_does_not_work());
    }
    nudge_outbox(&state);
    Ok(password_changed())
}

/// Hashes the new password and uses the link; `false` when the link was used or expired meanwhile.
async fn set_new_password(
    state: &AppState,
    http: &HttpRequest,
    token: String,
    new_password: SecretString,
) -> Result<bool, PageError> {
    let hash = password::hash_off_thread(new_password)
        .await
        .map_err(PageError::internal)?;
    let context = context(state, http);
    Ok(run(&state.pool, move |conn| {
        password_reset::complete(conn, &context, &token, &hash, time::now())
    })
    .await?)
}

async fn link_is_usable(state: &AppState, token: &str) -> Result<bool, PageError> {
    let token = token.to_owned();
    Ok(run(&state.pool, move |conn| {
        password_reset::link_is_usable(conn, &token, time::now())
    })
    .await?)
}

fn password_changed() -> HttpResponse {
    notice(
        StatusCode::OK,
        "Password changed",
        "Your new password is set. Every session and app signed in to your account was signed out: sign in \
            again with the new password.",
        None,
    )
}

fn link_does_not_work() -> HttpResponse {
    notice(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "The link was already used, has expired, or is not one we sent.",
        Some(("/password/forgot", "Send me a new link")),
    )
}

fn reset_form(form: &AccountForm<'_>, token: &str, error: Option<&str>, status: StatusCode) -> HttpResponse {
    let csrf = form.csrf_token();
    render(
        secure_html(status),
        &ResetPasswordPage {
            csrf_token: &csrf,
            token,
            error,
        },
    )
}
