//! `GET /consent` lists what the client asks for; `POST /consent` records the user's decision.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use crate::authorization::answer::ClientAnswer;
use crate::authorization::flow::{self, Pending};
use crate::authorization::session::{self, ActiveSession};
use crate::db;
use crate::error::{PageError, StoreError};
use crate::form_body;
use crate::pages::{ConsentPage, ScopeView, render, secure_html, see_other};
use crate::params::Params;
use crate::state::AppState;

pub async fn get_consent(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let params = Params::parse(http.query_string().as_bytes());
    let pending = flow::pending_for_browser(&state, &http, params.get("request").ok().flatten()).await?;
    let Some(session) = session::current(&state, &http).await? else {
        return Ok(see_other(&format!("/login?request={}", pending.request.id)));
    };
    consent_form(&state, &pending, &session).await
}

pub async fn post_consent(
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
            "The form was not submitted from this consent page. Go back and try again.",
        ));
    }
    let Some(session) = session::current(&state, &http).await? else {
        return Ok(see_other(&format!("/login?request={}", pending.request.id)));
    };
    let answer = decide(&state, &pending, &session, &field("decision")).await?;
    Ok(answer.into_response())
}

/// Carries out the user's decision: a code for the client, or `access_denied`.
async fn decide(
    state: &AppState,
    pending: &Pending,
    session: &ActiveSession,
    decision: &str,
) -> Result<ClientAnswer, PageError> {
    match decision {
        "allow" => {
            let (granted, _) = flow::granted_and_consented(state, pending, &session.user.id).await?;
            tracing::info!(user.id = %session.user.id, client.id = %pending.client.id, "consent given");
            flow::issue_code(state, pending, session, &granted, true).await
        }
        "deny" => {
            tracing::info!(user.id = %session.user.id, client.id = %pending.client.id, "consent denied");
            flow::deny(state, pending).await
        }
        _ => Err(PageError::bad_request(
            "Invalid form",
            "The decision must be allow or deny.",
        )),
    }
}

async fn consent_form(
    state: &AppState,
    pending: &Pending,
    session: &ActiveSession,
) -> Result<HttpResponse, PageError> {
    let (granted, _) = flow::granted_and_consented(state, pending, &session.user.id).await?;
    let scopes = run(&state.pool, move |conn| {
        db::scopes::find_all(conn, &granted).map_err(StoreError::from)
    })
    .await?;
    let csrf = state
        .cookies
        .csrf_token(&pending.browser.value, &pending.request.id);
    let page = ConsentPage {
        client_name: &pending.client.name,
        username: &session.user.username,
        scopes: scopes
            .into_iter()
            .map(|scope| ScopeView {
                name: scope.name,
                description: scope.description,
            })
            .collect(),
        request_id: &pending.request.id,
        csrf_token: &csrf,
    };
    Ok(render(secure_html(StatusCode::OK), &page))
}
