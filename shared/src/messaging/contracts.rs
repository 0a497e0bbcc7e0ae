//! The messages the services exchange, over RabbitMQ or the in-process bus. Every message travels
//! in an [`Envelope`] that carries its schema version, a unique `message_id` (consumers are
//! idempotent on it), its `type` (also the routing key), when it happened and the W3C `traceparent`
//! of the request that caused it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The envelope version this code writes. A consumer refuses (dead-letters) a newer major version.
pub const SCHEMA_VERSION: u16 = 1;

/// Which exchange a message type goes through. The names are logical: the topology maps them to
/// the (possibly namespaced) exchange names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// Direct exchange for commands that exactly one service must carry out (`email.send`).
    Commands,
    /// Topic exchange for facts that any service may listen to (`jobs.cleanup.completed`).
    Events,
}

impl Exchange {
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Commands => "commands",
            Exchange::Events => "events",
        }
    }

    pub fn parse(name: &str) -> Option<Exchange> {
        match name {
            "commands" => Some(Exchange::Commands),
            "events" => Some(Exchange::Events),
            _ => None,
        }
    }
}

/// A payload type with its message `type` (which is also its routing key) and exchange.
pub trait Message: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const EXCHANGE: Exchange;
}

/// What travels on the wire: metadata plus the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub schema_version: u16,
    pub message_id: String,
    #[serde(rename = "type")]
    pub message_type: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: T,
}

impl<T: Message> Envelope<T> {
    /// A new message with a fresh id, stamped now.
    pub fn new(payload: T, traceparent: Option<String>) -> Self {
        Envelope {
            schema_version: SCHEMA_VERSION,
            message_id: uuid::Uuid::new_v4().to_string(),
            message_type: T::TYPE.to_owned(),
            occurred_at: Utc::now(),
            traceparent,
            payload,
        }
    }
}

/// Why a body could not be taken as a message of the expected type.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not a message envelope: {0}")]
    Malformed(String),
    #[error("message type {found:?} where {expected:?} was expected")]
    WrongType { expected: &'static str, found: String },
    #[error("schema version {0} is newer than this service understands ({SCHEMA_VERSION})")]
    UnsupportedVersion(u16),
}

/// Decodes and checks an envelope of type `T`.
pub fn decode<T: Message>(body: &[u8]) -> Result<Envelope<T>, DecodeError> {
    let envelope: Envelope<T> =
        serde_json::from_slice(body).map_err(|error| DecodeError::Malformed(error.to_string()))?;
    if envelope.message_type != T::TYPE {
        return Err(DecodeError::WrongType {
            expected: T::TYPE,
            found: envelope.message_type,
        });
    }
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedVersion(envelope.schema_version));
    }
    if envelope.message_id.trim().is_empty() {
        return Err(DecodeError::Malformed("empty message_id".to_owned()));
    }
    Ok(envelope)
}

/// The emails the email-service knows how to render. Each template's variables are listed in the
/// email-service README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmailTemplate {
    /// `username`, `link`, `expires_in_minutes`.
    VerifyEmail,
    /// `username`, `link` (the auth-server's page to ask for a new verification link), `days`.
    VerifyEmailReminder,
    /// `username`, `link`, `expires_in_minutes`.
    PasswordReset,
    /// `username`.
    PasswordChanged,
    /// `username`, `client_id`: a refresh token was used twice, the session family was revoked.
    SecurityAlert,
    /// `period`, then one variable per figure (see the jobs-service README).
    CleanupReport,
    /// `note`: the email-service's `send-test` command.
    Test,
}

impl EmailTemplate {
    pub const ALL: [EmailTemplate; 7] = [
        EmailTemplate::VerifyEmail,
        EmailTemplate::VerifyEmailReminder,
        EmailTemplate::PasswordReset,
        EmailTemplate::PasswordChanged,
        EmailTemplate::SecurityAlert,
        EmailTemplate::CleanupReport,
        EmailTemplate::Test,
    ];

    /// The template's file stem (`verify-email`).
    pub fn name(self) -> &'static str {
        match self {
            EmailTemplate::VerifyEmail => "verify-email",
            EmailTemplate::VerifyEmailReminder => "verify-email-reminder",
            EmailTemplate::PasswordReset => "password-reset",
            EmailTemplate::PasswordChanged => "password-changed",
            EmailTemplate::SecurityAlert => "security-alert",
            EmailTemplate::CleanupReport => "cleanup-report",
            EmailTemplate::Test => "test",
        }
    }
}

/// `email.send`: send one email. Carried out exactly once per `message_id` by the email-service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendEmail {
    /// The recipient's address. Never logged.
    pub to: String,
    pub template: EmailTemplate,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

impl Message for SendEmail {
    const TYPE: &'static str = "email.send";
    const EXCHANGE: Exchange = Exchange::Commands;
}

/// `jobs.cleanup.completed`: a jobs-service run finished (successfully or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanupCompleted {
    pub job: String,
    pub run_id: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub rows_affected: i64,
    /// Rows per table or per kind, e.g. `access_tokens`.
    #[serde(default)]
    pub details: BTreeMap<String, i64>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl Message for CleanupCompleted {
    const TYPE: &'static str = "jobs.cleanup.completed";
    const EXCHANGE: Exchange = Exchange::Events;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> SendEmail {
        SendEmail {
            to: "ada@example.com".to_owned(),
            template: EmailTemplate::PasswordReset,
            variables: BTreeMap::from([("link".to_owned(), "https://x/reset".to_owned())]),
        }
    }

    #[test]
    fn an_envelope_round_trips_with_its_metadata_on_the_wire() {
        let envelope = Envelope::new(email(), Some("00-abc-def-01".to_owned()));
        let wire = serde_json::to_value(&envelope).unwrap();
        assert_eq!(wire["type"], "email.send");
        assert_eq!(wire["schema_version"], 1);
        assert_eq!(wire["payload"]["template"], "password-reset");
        let decoded: Envelope<SendEmail> = decode(&serde_json::to_vec(&envelope).unwrap()).unwrap();
        assert_eq!(decoded, envelope);
    }

    #[test]
    fn decoding_refuses_other_types_newer_versions_and_garbage() {
        let mut envelope = Envelope::new(email(), None);
        envelope.message_type = "jobs.cleanup.completed".to_owned();
        let body = serde_json::to_vec(&envelope).unwrap();
        assert!(matches!(
            decode::<SendEmail>(&body),
            Err(DecodeError::WrongType { .. })
        ));

        let mut envelope = Envelope::new(email(), None);
        envelope.schema_version = 2;
        let body = serde_json::to_vec(&envelope).unwrap();
        assert!(matches!(
            decode::<SendEmail>(&body),
            Err(DecodeError::UnsupportedVersion(2))
        ));

        assert!(matches!(
            decode::<SendEmail>(b"{not json"),
            Err(DecodeError::Malformed(_))
        ));
    }

    fn any_template() -> impl proptest::strategy::Strategy<Value = EmailTemplate> {
        proptest::sample::select(EmailTemplate::ALL.to_vec())
    }

    proptest::proptest! {
        /// Whatever arrives on a queue, decoding answers with a verdict and never panics.
        #[test]
        fn any_body_is_decoded_or_refused_without_panicking(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let _ = decode::<SendEmail>(&body);
            let _ = decode::<CleanupCompleted>(&body);
        }

        /// Bodies that are JSON objects with arbitrary envelope fields: refused or decoded, and a
        /// decoded one always has a message id and a version this code understands.
        #[test]
        fn envelope_shaped_json_is_checked_before_it_is_trusted(
            version in proptest::num::u16::ANY,
            id in ".{0,20}",
            kind in proptest::sample::select(vec!["email.send", "jobs.cleanup.completed", "", "EMAIL.SEND"]),
        ) {
            let body = serde_json::json!({
                "schema_version": version, "message_id": id, "type": kind,
                "occurred_at": "2026-12-01T00:00:00Z",
                "payload": {"to": "a@example.test", "template": "test"},
            });
            if let Ok(envelope) = decode::<SendEmail>(body.to_string().as_bytes()) {
                proptest::prop_assert!(envelope.schema_version <= SCHEMA_VERSION);
                proptest::prop_assert!(!envelope.message_id.trim().is_empty());
                proptest::prop_assert_eq!(envelope.message_type, "email.send");
            }
        }

        #[test]
        fn any_email_command_round_trips(
            to in ".{0,40}",
            template in any_template(),
            variables in proptest::collection::btree_map(".{0,10}", ".{0,40}", 0..5),
            traceparent in proptest::option::of("[0-9a-f-]{0,55}"),
        ) {
            let envelope = Envelope::new(SendEmail { to, template, variables }, traceparent);
            let decoded: Envelope<SendEmail> = decode(&serde_json::to_vec(&envelope).unwrap()).unwrap();
            proptest::prop_assert_eq!(decoded, envelope);
        }
    }
}
