//! The development mailbox: the list of caught emails, one email (its text part with the links
//! clickable), its HTML part as the recipient would see it, and the same as JSON for scripts. The
//! pages show addresses and single-use links, so the mailbox exists only with `transport: mailbox`,
//! which is for development on one's own machine.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::db::{DbPool, StoreError};
use shared::http_error::ErrorBody;

use crate::db::mailbox::{self, MailboxMessage};

/// The most messages the list shows.
const LIST_LIMIT: i64 = 200;

#[derive(Template)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    messages: Vec<MailboxMessage>,
}

#[derive(Template)]
#[template(path = "mailbox_message.html")]
struct MessagePage {
    message: MailboxMessage,
    text: Vec<TextPart>,
}

/// A piece of a text part: plain text, or a link to make clickable.
struct TextPart {
    text: String,
    is_link: bool,
}

pub async fn get_mailbox(pool: web::Data<DbPool>) -> HttpResponse {
    match latest(&pool).await {
        Ok(messages) => page(&MailboxPage { messages }),
        Err(error) => unavailable(error),
    }
}

pub async fn get_messages_json(pool: web::Data<DbPool>) -> HttpResponse {
    match latest(&pool).await {
        Ok(messages) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(messages),
        Err(error) => unavailable(error),
    }
}

pub async fn get_message(pool: web::Data<DbPool>, message_id: web::Path<String>) -> HttpResponse {
    match find(&pool, message_id.into_inner()).await {
        Ok(Some(message)) => {
            let text = linkify(&message.text_body);
            page(&MessagePage { message, text })
        }
        Ok(None) => not_found(),
        Err(error) => unavailable(error),
    }
}

/// The HTML part, as sent. It is the platform's own template, but it is shown with a policy that
/// runs no script and loads nothing from elsewhere all the same.
pub async fn get_message_html(pool: web::Data<DbPool>, message_id: web::Path<String>) -> HttpResponse {
    match find(&pool, message_id.into_inner()).await {
        Ok(Some(message)) => HttpResponse::Ok()
            .content_type(ContentType::html())
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(message.html_body),
        Ok(None) => not_found(),
        Err(error) => unavailable(error),
    }
}

async fn latest(pool: &DbPool) -> Result<Vec<MailboxMessage>, StoreError> {
    shared::db::run(pool, |conn| Ok(mailbox::latest(conn, LIST_LIMIT)?)).await
}

async fn find(pool: &DbPool, message_id: String) -> Result<Option<MailboxMessage>, StoreError> {
    shared::db::run(pool, move |conn| Ok(mailbox::find(conn, &message_id)?)).await
}

fn page(page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(error) => {
            tracing::error!(%error, "a mailbox page did not render");
            HttpResponse::InternalServerError().json(ErrorBody::new("internal", "the page did not render"))
        }
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new("not_found", "no such message in the mailbox"))
}

fn unavailable(error: StoreError) -> HttpResponse {
    tracing::warn!(error = %format_args!("{error:?}"), "the mailbox cannot be read");
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "1"))
        .json(ErrorBody::new(
            "unavailable",
            "the mailbox cannot be read right now",
        ))
}

/// Splits `text` into plain pieces and `http(s)://` links (up to the next whitespace, without a
/// trailing full stop or bracket).
fn linkify(text: &str) -> Vec<TextPart> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        let length = rest[start..]
            .find(char::is_whitespace)
            .unwrap_or(rest.len() - start);
        let link = rest[start..start + length].trim_end_matches(['.', ',', ')', '>']);
        if start > 0 {
            parts.push(TextPart {
                text: rest[..start].to_owned(),
                is_link: false,
            });
        }
        parts.push(TextPart {
            text: link.to_owned(),
            is_link: true,
        });
        rest = &rest[start + link.len()..];
    }
    if !rest.is_empty() {
        parts.push(TextPart {
            text: rest.to_owned(),
            is_link: false,
        });
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_a_text_part_are_found_without_trailing_punctuation() {
        let parts = linkify("Verify: https://a.test/verify?t=1&u=2.\nOr http://b.test (later)");
        let rendered: Vec<(&str, bool)> = parts
            .iter()
            .map(|part| (part.text.as_str(), part.is_link))
            .collect();
        assert_eq!(
            rendered,
            vec![
                ("Verify: ", false),
                ("https://a.test/verify?t=1&u=2", true),
                (".\nOr ", false),
                ("http://b.test", true),
                (" (later)", false),
            ]
        );
    }

    #[test]
    fn text_without_links_is_one_piece() {
        let parts = linkify("no links here");
        assert_eq!(parts.len(), 1);
        assert!(!parts[0].is_link);
    }
}
