//! The login session of the browser making a request.

use actix_web::HttpRequest;
use chrono::NaiveDateTime;
use shared::db::run;

use crate::db;
use crate::db::models::User;
use crate::domain::opaque_token::{self, TokenHash};
use crate::domain::time;
use crate::error::{PageError, StoreError};
use crate::state::AppState;

/// A valid login session and its (enabled) user.
pub struct ActiveSession {
    pub id_hash: TokenHash,
    pub user: User,
    pub auth_time: NaiveDateTime,
}

/// The session of the request's cookie, if it is valid and its user is enabled.
pub async fn current(state: &AppState, request: &HttpRequest) -> Result<Option<ActiveSession>, PageError> {
    let Some(value) = state.cookies.session(request) else {
        return Ok(None);
    };
    let id_hash = opaque_token::hash(&value);
    run(&state.pool, move |conn| {
        let Some(session) = db::login_sessions::find_active(conn, &id_hash, time::now())? else {
            return Ok(None);
        };
        let user = db::users::find_by_id(conn, &session.user_id)?.filter(|user| !user.disabled);
        Ok(user.map(|user| ActiveSession {
            id_hash,
            user,
            auth_time: session.auth_time,
        }))
    })
    .await
    .map_err(|error: StoreError| PageError::from(error))
}
