//! The queues on a RabbitMQ node of the test's own: what dead-lettering does when the queue it
//! leads to is missing.

use std::time::Duration;

use email_service::configuration::Settings;
use email_service::topology::{EmailQueues, topology};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use shared::configuration::Layered;
use shared::messaging::contracts::{Message, SendEmail};
use shared::messaging::publisher::{Outgoing, Publisher};
use shared::messaging::supervisor::Supervisor;
use shared::testing::amqp::PrivateBroker;

use crate::helpers::*;

/// Messages ready in `queue`.
async fn depth(channel: &Channel, queue: &str) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .unwrap()
        .message_count()
}

/// Polls until `queue` holds `count` ready messages.
async fn wait_for_depth(channel: &Channel, queue: &str, count: u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while depth(channel, queue).await != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue} never held {count} message(s)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_retry_that_expires_while_the_work_queue_is_gone_arrives_once_the_queue_is_back() {
    let broker = PrivateBroker::start().await;
    let mut settings = Settings::defaults().unwrap();
    settings.amqp.url = broker.url().into();
    settings.consumer.retry_delays_ms = vec![200];
    let email_topology = topology("", &settings.consumer);
    let queues = EmailQueues::new(&email_topology, &settings.consumer);
    let supervisor = Supervisor::new(settings.amqp.clone(), email_topology.clone());
    supervisor.start();
    supervisor.wait_connected(WAIT).await.expect("connected");
    let connection = Connection::connect(&broker.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();

    // A message waits out its retry delay while the work queue is missing (deleted by an operator,
    // or not yet declared after a broker restore).
    channel
        .queue_delete(queues.work.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let retry_queue = &queues.retries[0].1;
    Publisher::new(supervisor.clone())
        .publish(&Outgoing {
            exchange: "",
            routing_key: retry_queue,
            message_id: "m-1",
            message_type: SendEmail::TYPE,
            body: b"{}",
            headers: Vec::new(),
        })
        .await
        .unwrap();
    wait_for_depth(&channel, retry_queue, 0).await;

    email_topology.declare(&channel).await.unwrap();

    wait_for_depth(&channel, &queues.work, 1).await;
    supervisor.shutdown().await;
}
