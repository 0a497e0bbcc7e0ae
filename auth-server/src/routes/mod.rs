//! HTTP handlers, one file per resource. `configure` mounts them all.

mod account_form;
mod authorize;
mod consent;
mod end_session;
mod introspect;
mod jwks;
mod login;
mod metadata;
mod password_reset;
mod register;
mod revoke;
mod token;
mod userinfo;
mod verify_email;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::error::no_store;

/// Mounts every route of the auth-server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/authorize")
            .route(web::get().to(authorize::get_authorize))
            .default_service(web::to(page_method_not_allowed)),
    )
    .service(
        web::resource("/login")
            .route(web::get().to(login::get_login))
            .route(web::post().to(login::post_login))
            .default_service(web::to(page_method_not_allowed)),
    )
    .service(
        web::resource("/consent")
            .route(web::get().to(consent::get_consent))
            .route(web::post().to(consent::post_consent))
            .default_service(web::to(page_method_not_allowed)),
    )
    .service(page(
        "/register",
        web::get().to(register::get_register),
        web::post().to(register::post_register),
    ))
    .service(page(
        "/verify-email",
        web::get().to(verify_email::get_verify_email),
        web::post().to(verify_email::post_verify_email),
    ))
    .service(page(
        "/verify-email/resend",
        web::get().to(verify_email::get_resend),
        web::post().to(verify_email::post_resend),
    ))
    .service(page(
        "/password/forgot",
        web::get().to(password_reset::get_forgot),
        web::post().to(password_reset::post_forgot),
    ))
    .service(page(
        "/password/reset",
        web::get().to(password_reset::get_reset),
        web::post().to(password_reset::post_reset),
    ))
    .service(json_post("/oauth2/token", web::post().to(token::post_token)))
    .service(json_post(
        "/oauth2/introspect",
        web::post().to(introspect::post_introspect),
    ))
    .service(json_post("/oauth2/revoke", web::post().to(revoke::post_revoke)))
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(metadata::get_metadata),
    )
    .route(
        "/.well-known/openid-configuration",
        web::get().to(metadata::get_metadata),
    )
    .route("/oauth2/jwks", web::get().to(jwks::get_jwks))
    .service(
        web::resource("/oauth2/logout")
            .route(web::get().to(end_session::get_end_session))
            .route(web::post().to(end_session::post_end_session))
            .default_service(web::to(page_method_not_allowed)),
    )
    .service(
        web::resource("/logout")
            .route(web::post().to(end_session::post_logout_confirmation))
            .default_service(web::to(page_method_not_allowed)),
    )
    .service(
        web::resource("/oauth2/userinfo")
            .route(web::get().to(userinfo::get_userinfo))
            .route(web::post().to(userinfo::post_userinfo)),
    );
}

/// A page with a form: GET shows it, POST submits it, other methods get the HTML 405.
fn page(path: &str, get: actix_web::Route, post: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(get)
        .route(post)
        .default_service(web::to(page_method_not_allowed))
}

/// A POST-only OAuth endpoint; other methods get a JSON 405 (tokens never travel in a GET URL).
fn json_post(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(json_method_not_allowed))
}

async fn json_method_not_allowed() -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED);
    no_store(&mut response);
    response
        .insert_header((header::ALLOW, HeaderValue::from_static("POST")))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": "this endpoint accepts POST only",
            "request_id": shared::request_id::current(),
        }))
}

async fn page_method_not_allowed() -> HttpResponse {
    crate::pages::error_page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "This page does not accept that method.",
    )
}
