//! `GET /register` shows the form; `POST /register` creates an unverified account and queues the
//! verification email. Off unless `accounts.registration_enabled`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use shared::db::run;

use super::account_form::{AccountForm, context, field, notice, nudge_outbox};
use crate::accounts::registration::{self, NewAccount, Registered};
use crate::domain::{account, time};
use crate::error::PageError;
use crate::pages::{RegisterPage, render, secure_html};
use crate::state::AppState;
use crate::{form_body, password};

const FORM: &str = "register";
const USERNAME_TAKEN: &str = "That username is taken; choose another.";

pub async fn get_register(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    ensure_enabled(&state)?;
    let form = AccountForm::new(&state, &http, FORM);
    form.finish(&state, register_form(&form, "", "", None, StatusCode::OK))
}

pub async fn post_register(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    ensure_enabled(&state)?;
    let submitted = form_body::read(&http, body).await?;
    let form = AccountForm::new(&state, &http, FORM);
    form.check(&state, &submitted)?;
    let (username, email) = (field(&submitted, "username"), field(&submitted, "email"));
    let password = SecretString::from(field(&submitted, "password"));
    let invalid =
        |message: String| register_form(&form, &username, &email, Some(&message), StatusCode::BAD_REQUEST);
    let account = match new_account(&state, &username, &email, password).await? {
        Ok(account) => account,
        Err(message) => return Ok(invalid(message)),
    };
    let context = context(&state, &http);
    let outcome = run(&state.pool, move |conn| {
        registration::register(conn, &context, account, time::now())
    })
    .await?;
    match outcome {
        Registered::UsernameTaken => Ok(invalid(USERNAME_TAKEN.to_owned())),
        // The same answer whether the address is new or taken: the page must not tell who has an account.
        Registered::Created | Registered::EmailTaken => {
            nudge_outbox(&state);
            Ok(check_your_inbox())
        }
    }
}

/// The account the form describes, or the sentence that says which field is wrong. Everything
/// cheap is checked before the password is hashed, and the hash takes a stranger's turn.
async fn new_account(
    state: &AppState,
    username: &str,
    email: &str,
    password: SecretString,
) -> Result<Result<NewAccount, String>, PageError> {
    let username = match account::username(username) {
        Ok(valid) => valid,
        Err(message) => return Ok(Err(format!("Username: {message}."))),
    };
    let email = match account::email(email) {
        Ok(valid) => valid,
        Err(message) => return Ok(Err(format!("Email address: {message}."))),
    };
    if let Err(message) = password::check_policy(&password) {
        return Ok(Err(format!("Password: {message}.")));
    }
    let wanted = username.clone();
    if !run(&state.pool, move |conn| {
        registration::username_is_free(conn, &wanted)
    })
    .await?
    {
        return Ok(Err(USERNAME_TAKEN.to_owned()));
    }
    let Some(password_hash) = password::hash_for_stranger(password)
        .await
        .map_err(PageError::internal)?
    else {
        return Err(PageError::busy());
    };
    Ok(Ok(NewAccount {
        username,
        email,
        password_hash,
    }))
}

fn check_your_inbox() -> HttpResponse {
    notice(
        StatusCode::OK,
        "Check your inbox",
        "We sent a link to confirm your email address. Follow it to finish creating your account.",
        None,
    )
}

fn ensure_enabled(state: &AppState) -> Result<(), PageError> {
    if state.settings.accounts.registration_enabled {
        Ok(())
    } else {
        Err(PageError::not_found(
            "Registration is closed",
            "Accounts on this server are created by an administrator.",
        ))
    }
}

fn register_form(
    form: &AccountForm<'_>,
    username: &str,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let csrf = form.csrf_token();
    render(
        secure_html(status),
        &RegisterPage {
            csrf_token: &csrf,
            username,
            email,
            error,
        },
    )
}
