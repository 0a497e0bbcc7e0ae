//! The operator's subcommands: `send-test`, `deliveries list`, `dead-letters list|requeue`. Each
//! prints JSON on standard output. Message bodies (which hold addresses) are never printed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::AMQPValue;
use serde::Serialize;
use serde_json::json;
use shared::messaging::contracts::{EmailTemplate, Envelope, Message, SendEmail};
use shared::messaging::publisher::{Outgoing, Publisher, header_integer, header_text};
use shared::messaging::supervisor::Supervisor;

use crate::amqp_consumer::{REASON_HEADER, RETRY_HEADER};
use crate::configuration::Settings;
use crate::topology::{EmailQueues, topology};

/// How long a subcommand waits for the broker.
const CONNECT_WAIT: Duration = Duration::from_secs(15);

/// A dead-lettered email command, as `dead-letters list` shows it.
#[derive(Debug, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub message_type: String,
    /// Why: the email-service's reason, or the broker's (`delivery_limit`, `rejected`, ...).
    pub reason: String,
    pub retries: i64,
}

/// A supervisor connected for one subcommand (no consumers).
async fn connect(settings: &Settings) -> anyhow::Result<Supervisor> {
    let supervisor = Supervisor::new(
        settings.amqp.clone(),
        topology(&settings.amqp.namespace, &settings.consumer),
    );
    supervisor.start();
    supervisor
        .wait_connected(CONNECT_WAIT)
        .await
        .context("cannot connect to the message broker (AMQP_URL)")?;
    Ok(supervisor)
}

/// Queues a test email to `to` through the broker, like any other email command.
pub async fn send_test(settings: &Settings, to: &str) -> anyhow::Result<serde_json::Value> {
    let supervisor = connect(settings).await?;
    let envelope = Envelope::new(
        SendEmail {
            to: to.to_owned(),
            template: EmailTemplate::Test,
            variables: BTreeMap::from([("note".to_owned(), String::new())]),
        },
        None,
    );
    let body = serde_json::to_vec(&envelope)?;
    let exchange = supervisor.topology().exchange(SendEmail::EXCHANGE);
    let published = Publisher::new(supervisor.clone())
        .publish(&Outgoing {
            exchange: &exchange,
            routing_key: SendEmail::TYPE,
            message_id: &envelope.message_id,
            message_type: SendEmail::TYPE,
            body: &body,
            headers: Vec::new(),
        })
        .await;
    supervisor.shutdown().await;
    published?;
    Ok(json!({ "queued": true, "message_id": envelope.message_id }))
}

/// The dead-lettered commands, oldest first, without taking them off the queue.
pub async fn dead_letters_list(settings: &Settings, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
    let supervisor = connect(settings).await?;
    let queues = EmailQueues::new(supervisor.topology(), &settings.consumer);
    let link = supervisor.link().context("the broker link dropped")?;
    // Read on a channel of our own and close it without acking: the broker puts every message back.
    let channel = link.connection.create_channel().await?;
    let mut letters = Vec::new();
    while letters.len() < limit {
        let Some(message) = channel
            .basic_get(queues.dead.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        letters.push(describe(&message.delivery));
    }
    let _ = channel.close(200, "listed".into()).await;
    supervisor.shutdown().await;
    Ok(letters)
}

/// Sends dead-lettered commands back to `email.send` (all, or the one with `message_id`), with a
/// fresh retry count. Returns how many were requeued.
pub async fn dead_letters_requeue(settings: &Settings, message_id: Option<&str>) -> anyhow::Result<usize> {
    let supervisor = connect(settings).await?;
    let queues = EmailQueues::new(supervisor.topology(), &settings.consumer);
    let link = supervisor.link().context("the broker link dropped")?;
    let channel = link.connection.create_channel().await?;
    let publisher = Publisher::new(supervisor.clone());
    let mut requeued = 0;
    // Each message is looked at once: those kept stay unacked until the channel closes.
    while let Some(message) = channel
        .basic_get(queues.dead.as_str().into(), BasicGetOptions::default())
        .await?
    {
        let delivery = message.delivery;
        let letter = describe(&delivery);
        if message_id.is_some_and(|wanted| wanted != letter.message_id) {
            if message.message_count == 0 {
                break;
            }
            continue;
        }
        publisher
            .publish(&Outgoing {
                exchange: &queues.commands_exchange,
                routing_key: SendEmail::TYPE,
                message_id: &letter.message_id,
                message_type: &letter.message_type,
                body: &delivery.data,
                headers: vec![(RETRY_HEADER, AMQPValue::LongLongInt(0))],
            })
            .await?;
        delivery.ack(BasicAckOptions::default()).await?;
        requeued += 1;
        if message.message_count == 0 {
            break;
        }
    }
    let _ = channel.close(200, "requeued".into()).await;
    supervisor.shutdown().await;
    Ok(requeued)
}

fn describe(delivery: &lapin::message::Delivery) -> DeadLetter {
    let properties = &delivery.properties;
    let headers = properties.headers().as_ref();
    let reason = header_text(headers, REASON_HEADER)
        .or_else(|| broker_reason(headers))
        .unwrap_or_else(|| "unknown".to_owned());
    DeadLetter {
        message_id: properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        message_type: properties
            .kind()
            .as_ref()
            .map(|kind| kind.to_string())
            .unwrap_or_default(),
        reason,
        retries: header_integer(headers, RETRY_HEADER).unwrap_or(0),
    }
}

/// The reason the broker wrote in `x-death` (e.g. `delivery_limit`, `rejected`).
fn broker_reason(headers: Option<&lapin::types::FieldTable>) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    header_text(Some(first), "reason")
}
