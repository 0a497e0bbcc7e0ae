//! Self-service accounts: registration with email verification, password reset, and the emails
//! they send. Every email is written to the outbox in the transaction that makes the change, so a
//! broker outage never fails the user's request and never loses the email.

pub mod password_reset;
pub mod registration;
pub mod security_alert;
pub mod verification;

use std::collections::BTreeMap;

use actix_web::HttpRequest;
use chrono::NaiveDateTime;
use diesel::QueryResult;
use shared::db::DbConn;
use shared::messaging::contracts::{EmailTemplate, Envelope, SendEmail};
use shared::messaging::outbox;

use crate::configuration::AccountSettings;
use crate::db;
use crate::db::account_links::Purpose;
use crate::db::models::User;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::time;

/// What the account flows need besides the connection (owned: it moves to a blocking thread).
pub struct AccountContext {
    pub settings: AccountSettings,
    /// The issuer: the base of the links in emails.
    pub issuer: String,
    /// The W3C trace context of the request, carried by the messages it causes.
    pub traceparent: Option<String>,
}

impl AccountContext {
    /// Queues an email to a user.
    pub fn email(
        &self,
        conn: &mut DbConn,
        user: &User,
        template: EmailTemplate,
        variables: BTreeMap<String, String>,
    ) -> QueryResult<()> {
        queue_email(conn, user, template, variables, self.traceparent.clone())
    }

    /// Creates a single-use link for `user` and queues the email that carries it, unless the user
    /// has had `max_emails_per_hour` links already (then nothing is sent; the caller answers the
    /// same either way). Returns whether the email was queued.
    pub fn email_link(
        &self,
        conn: &mut DbConn,
        user: &User,
        purpose: Purpose,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let hour_ago = now - chrono::Duration::hours(1);
        if db::account_links::count_since(conn, &user.id, hour_ago)? >= self.settings.max_emails_per_hour {
            tracing::info!(
                user.id = %user.id,
                purpose = purpose.as_str(),
                "account email budget spent: not sent",
            );
            return Ok(false);
        }
        let (ttl, path, template) = match purpose {
            Purpose::VerifyEmail => (
                self.settings.verification_link_ttl_secs,
                "/verify-email",
                EmailTemplate::VerifyEmail,
            ),
            Purpose::ResetPassword => (
                self.settings.password_reset_link_ttl_secs,
                "/password/reset",
                EmailTemplate::PasswordReset,
            ),
        };
        let link = opaque_token::generate(TokenKind::AccountLink);
        db::account_links::insert(
            conn,
            &link.hash,
            &user.id,
            purpose,
            now,
            time::after_secs(now, ttl),
        )?;
        let variables = BTreeMap::from([
            (
                "link".to_owned(),
                format!("{}{path}?token={}", self.issuer, link.value),
            ),
            ("expires_in_minutes".to_owned(), (ttl / 60).max(1).to_string()),
        ]);
        self.email(conn, user, template, variables)?;
        Ok(true)
    }
}

/// Queues an email to a user through the outbox (the `username` variable is added).
pub fn queue_email(
    conn: &mut DbConn,
    user: &User,
    template: EmailTemplate,
    mut variables: BTreeMap<String, String>,
    traceparent: Option<String>,
) -> QueryResult<()> {
    variables.insert("username".to_owned(), user.username.clone());
    let envelope = Envelope::new(
        SendEmail {
            to: user.email.clone(),
            template,
            variables,
        },
        traceparent,
    );
    outbox::enqueue(conn, &envelope)
}

/// The caller's `traceparent` header, if it is well-formed (W3C Trace Context).
pub fn traceparent(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get("traceparent")?.to_str().ok()?;
    let parts: Vec<&str> = value.split('-').collect();
    let well_formed = parts.len() == 4
        && [2, 32, 16, 2]
            .iter()
            .zip(&parts)
            .all(|(len, part)| part.len() == *len && part.chars().all(|c| c.is_ascii_hexdigit()));
    well_formed.then(|| value.to_owned())
}
