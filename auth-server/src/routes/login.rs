//! `GET /login` shows the sign-in form of a pending request; `POST /login` checks the credentials,
//! starts a new session (a new cookie value, so a planted one is never promoted) and moves on.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use shared::db::run;

use crate::authorization::flow::{self, Pending};
use crate::authorization::session::ActiveSession;
use crate::db;
use crate::db::account_events::AccountEvent;
use crate::db::models::{LoginSession, User};
use crate::domain::ids::ClientId;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::time;
use crate::error::{PageError, StoreError};
use crate::pages::{LoginPage, render, secure_html};
use crate::params::Params;
use crate::state::AppState;
use crate::{client_address, form_body, password, throttle};

const BAD_CREDENTIALS: &str = "Incorrect username or password.";
const UNVERIFIED: &str = "Confirm your email address first: follow the link we emailed you, \
    or ask for a new one at /verify-email/resend.";

pub async fn get_login(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let params = Params::parse(http.query_string().as_bytes());
    let pending = flow::pending_for_browser(&state, &http, params.get("request").ok().flatten()).await?;
    // OIDC login_hint: the username field starts with it.
    let hint = pending.request.login_hint.clone().unwrap_or_default();
    Ok(login_form(&state, &pending, &hint, None))
}

pub async fn post_login(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let form = form_body::read(&http, body).await?;
    let field = |name: &str| form.get(name).ok().flatten().unwrap_or_default().to_owned();
    let pending = flow::pending_for_browser(&state, &http, Some(&field("request"))).await?;
    if !state
        .cookies
        .csrf_token_is_valid(&field("csrf_token"), &pending.browser.value, &pending.request.id)
    {
        return Err(PageError::forbidden(
            "The form was not submitted from this sign-in page. Go back and try again.",
        ));
    }
    let (username, password) = (field("username"), SecretString::from(field("password")));
    let user = match authenticate(&state, &http, &pending, &username, password).await? {
        Ok(user) => user,
        Err(message) => return Ok(login_form(&state, &pending, &username, Some(message))),
    };
    let Some((session, cookie)) = start_session(&state, &http, user).await? else {
        // The password changed, or the account was disabled, while this sign-in was checked.
        return Ok(login_form(&state, &pending, &username, Some(BAD_CREDENTIALS)));
    };
    tracing::info!(user.id = %session.user.id, client.id = %pending.client.id, "signed in");
    metrics::counter!("auth_sign_in_total", "outcome" => "success").increment(1);
    let mut response = flow::advance(&state, &pending, Some(&session)).await?;
    response.add_cookie(&cookie).map_err(PageError::internal)?;
    Ok(response)
}

/// The user the form names, if the password is right, the account enabled (and verified, when
/// that is required), and neither throttle is exhausted; else the sentence the form shows.
async fn authenticate(
    state: &AppState,
    http: &HttpRequest,
    pending: &Pending,
    username: &str,
    password: SecretString,
) -> Result<Result<User, &'static str>, PageError> {
    if username.is_empty() {
        return Ok(Err(BAD_CREDENTIALS));
    }
    let ip = client_address::of(http, state.settings.throttle.trusted_proxies);
    let account_key = format!("{username}\u{0}{ip}");
    let throttles = &state.throttles;
    let limits = [
        (&throttles.login_per_account_and_ip, account_key.as_str()),
        (&throttles.login_per_ip, ip.as_str()),
    ];
    if let Err(retry_after) = throttle::reserve_all(&limits) {
        metrics::counter!("auth_sign_in_total", "outcome" => "throttled").increment(1);
        return Err(PageError::too_many_attempts(retry_after));
    }
    let user = match check_credentials(state, username, password).await? {
        Credentials::Account(user) => user,
        Credentials::Reservation if state.settings.accounts.require_verified_email => {
            throttle::release_all(&limits);
            metrics::counter!("auth_sign_in_total", "outcome" => "unverified").increment(1);
            return Ok(Err(UNVERIFIED));
        }
        Credentials::Reservation | Credentials::Wrong => {
            tracing::info!(client.id = %pending.client.id, "sign-in failed");
            metrics::counter!("auth_sign_in_total", "outcome" => "failure").increment(1);
            record_failure(state, &pending.client.id).await;
            return Ok(Err(BAD_CREDENTIALS));
        }
    };
    throttle::release_all(&limits);
    // Only after the right password: the form never tells a stranger which accounts exist.
    if state.settings.accounts.require_verified_email && user.email_verified_at.is_none() {
        metrics::counter!("auth_sign_in_total", "outcome" => "unverified").increment(1);
        return Ok(Err(UNVERIFIED));
    }
    Ok(Ok(user))
}

/// Counts a failed sign-in for the reports; a failure to record it never fails the sign-in page.
async fn record_failure(state: &AppState, client_id: &ClientId) {
    let client_id = client_id.clone();
    let recorded = run(&state.pool, move |conn| {
        db::account_events::record(
            conn,
            AccountEvent::LoginFailed,
            None,
            Some(&client_id),
            time::now(),
        )
        .map_err(StoreError::from)
    })
    .await;
    if let Err(error) = recorded {
        tracing::warn!(%error, "cannot record a failed sign-in");
    }
}

/// What the typed credentials match.
enum Credentials {
    /// An enabled account, with the right password.
    Account(User),
    /// A username held by a registration whose address had an account already, with the password
    /// typed there: it answers like an unconfirmed account (`registration::Registered::EmailTaken`).
    Reservation,
    Wrong,
}

/// What the username and password match. An unknown user costs the same argon2 verification as a
/// wrong password.
async fn check_credentials(
    state: &AppState,
    username: &str,
    password: SecretString,
) -> Result<Credentials, PageError> {
    let name = username.to_owned();
    let (user, reserved) = run(&state.pool, move |conn| {
        let user = db::users::find_by_username(conn, &name)?;
        let reserved = match user {
            Some(_) => None,
            None => db::username_reservations::password_hash_of(conn, &name)?,
        };
        Ok::<_, StoreError>((user, reserved))
    })
    .await?;
    let is_reservation = reserved.is_some();
    let stored = user.as_ref().map(|user| user.password_hash.clone()).or(reserved);
    let matches = password::verify_off_thread(password, stored).await;
    Ok(match (user, is_reservation) {
        (Some(user), _) if matches && !user.disabled => Credentials::Account(user),
        (None, true) if matches => Credentials::Reservation,
        _ => Credentials::Wrong,
    })
}

/// Creates a new session, revoking the one the browser had (the session id changes at sign-in);
/// `None` when the account changed since its password was checked (`db::users::lock_unchanged`).
async fn start_session(
    state: &AppState,
    http: &HttpRequest,
    user: User,
) -> Result<Option<(ActiveSession, actix_web::cookie::Cookie<'static>)>, PageError> {
    let generated = opaque_token::generate(TokenKind::Session);
    let now = time::now();
    let ttl = state.settings.tokens.login_session_ttl_secs;
    let row = LoginSession {
        id_hash: generated.hash.as_str().to_owned(),
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at: time::after_secs(now, ttl),
        revoked_at: None,
    };
    let previous = state
        .cookies
        .session(http)
        .map(|value| opaque_token::hash(&value));
    let (user_id, verified_hash) = (user.id.clone(), user.password_hash.clone());
    let started = run(&state.pool, move |conn| {
        shared::db::transaction(conn, |conn| {
            if !db::users::lock_unchanged(conn, &user_id, &verified_hash)? {
                return Ok(false);
            }
            if let Some(previous) = previous {
                db::login_sessions::revoke(conn, &previous, now)?;
            }
            db::login_sessions::insert(conn, &row)?;
            Ok::<_, diesel::result::Error>(true)
        })
        .map_err(StoreError::from)
    })
    .await?;
    if !started {
        return Ok(None);
    }
    let cookie = state.cookies.session_cookie(generated.value, ttl);
    Ok(Some((
        ActiveSession {
            id_hash: generated.hash,
            user,
            auth_time: now,
        },
        cookie,
    )))
}

fn login_form(state: &AppState, pending: &Pending, username: &str, error: Option<&str>) -> HttpResponse {
    let registration_enabled = state.settings.accounts.registration_enabled;
    let csrf = state
        .cookies
        .csrf_token(&pending.browser.value, &pending.request.id);
    let page = LoginPage {
        client_name: &pending.client.name,
        request_id: &pending.request.id,
        csrf_token: &csrf,
        username,
        error,
        registration_enabled,
    };
    render(secure_html(StatusCode::OK), &page)
}
