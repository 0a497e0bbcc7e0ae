//! Where rendered emails go: an SMTP server, or the development mailbox (`transport: mailbox`),
//! which keeps them in the service's database for a person to read at `/mail`.

use chrono::Utc;
use shared::db::{DbPool, StoreError};

use crate::db::mailbox::{self, MailboxMessage};
use crate::smtp::{Mailer, SendError};
use crate::templates::Rendered;

pub enum Transport {
    Smtp(Mailer),
    /// The emails stay in `mailbox_messages`.
    Mailbox(DbPool),
}

impl Transport {
    /// Sends `email` to `to`. `message_id` is the command's id, `smtp_message_id` the header
    /// derived from it.
    pub async fn send(
        &self,
        to: &str,
        message_id: &str,
        smtp_message_id: &str,
        email: &Rendered,
    ) -> Result<(), SendError> {
        match self {
            Transport::Smtp(mailer) => mailer.send(to, smtp_message_id, email).await,
            Transport::Mailbox(pool) => {
                let message = MailboxMessage {
                    message_id: message_id.to_owned(),
                    recipient: to.to_owned(),
                    subject: email.subject.clone(),
                    text_body: email.text.clone(),
                    html_body: email.html.clone(),
                    received_at: Utc::now().naive_utc(),
                };
                shared::db::run(pool, move |conn| {
                    mailbox::insert(conn, &message).map_err(StoreError::from)
                })
                .await
                .map_err(|error| SendError::Transient(format!("the mailbox is unavailable: {error}")))
            }
        }
    }
}
