//! Sending over SMTP with lettre: plain, STARTTLS or TLS as the URL says, with a timeout. Failures
//! are sorted into what a retry may fix (4xx, connection trouble, timeouts) and what it cannot (5xx,
//! an address that does not parse).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::configuration::SmtpSettings;
use crate::templates::Rendered;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying cannot help: dead-letter.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A transport keeping up to `connections` SMTP connections open (one per consumer).
    pub fn new(settings: &SmtpSettings, connections: usize) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.url.expose_secret())
            .map_err(|error| anyhow::anyhow!("smtp.url is not a valid SMTP URL: {error}"))?
            .timeout(Some(Duration::from_millis(settings.timeout_ms)))
            .pool_config(PoolConfig::new().max_size(connections.max(1) as u32))
            .build();
        let from = settings
            .from
            .parse()
            .map_err(|error| anyhow::anyhow!("smtp.from is not a mailbox: {error}"))?;
        Ok(Mailer { transport, from })
    }

    pub async fn send(&self, to: &str, smtp_message_id: &str, email: &Rendered) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|error| SendError::Permanent(format!("the recipient is not an address: {error}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(smtp_message_id.to_owned()))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|error| SendError::Permanent(format!("cannot build the message: {error}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(describe(&error))),
            Err(error) => Err(SendError::Transient(describe(&error))),
        }
    }
}

/// The SMTP status and lettre's reason, without the addresses an SMTP reply may echo.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    match error.status() {
        Some(code) => format!("SMTP {code}"),
        None if error.is_timeout() => "SMTP timeout".to_owned(),
        None => "SMTP connection failed".to_owned(),
    }
}
