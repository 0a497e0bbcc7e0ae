//! The email-service's own HTTP endpoints (beside `/healthz`, `/readyz` and `/metrics`): the
//! development mailbox's pages, when `transport` is `mailbox`.

mod mailbox;

use actix_web::web;

pub use mailbox::{get_mailbox, get_message, get_message_html, get_messages_json};

/// Mounts the mailbox's pages. The app must hold the service's `web::Data<DbPool>`.
pub fn configure_mailbox(cfg: &mut web::ServiceConfig) {
    cfg.route("/mail", web::get().to(get_mailbox))
        .route("/mail/api/messages", web::get().to(get_messages_json))
        .route("/mail/{message_id}", web::get().to(get_message))
        .route("/mail/{message_id}/html", web::get().to(get_message_html));
}
