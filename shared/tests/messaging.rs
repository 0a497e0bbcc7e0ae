//! Messaging against the real RabbitMQ of this machine (each test in its own namespace): what the
//! publisher counts as success and how the supervisor recovers a lost link. The outbox relay's
//! tests are in `outbox_relay.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use shared::messaging::contracts::Exchange;
use shared::messaging::publisher::{Outgoing, PublishError, Publisher};
use shared::messaging::settings::AmqpSettings;
use shared::messaging::supervisor::Supervisor;
use shared::messaging::topology::{QueueSpec, Topology};
use shared::resilience::BackoffSettings;
use shared::testing::amqp::{TopologyGuard, amqp_url, test_settings as settings, unique_namespace};
use shared::testing::fault_proxy::FaultProxy;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A topology with one test queue bound to `commands` with `test.ping`.
fn ping_topology(namespace: &str) -> (Topology, String) {
    let base = Topology::new(namespace);
    let queue = base.name("test.ping");
    let topology = base.with_queue(QueueSpec {
        name: queue.clone(),
        arguments: Vec::new(),
        bindings: vec![(
            Topology::new(namespace).exchange(Exchange::Commands),
            "test.ping".to_owned(),
        )],
    });
    (topology, queue)
}

async fn connected(settings: AmqpSettings, topology: Topology) -> Supervisor {
    let supervisor = Supervisor::new(settings, topology);
    supervisor.start();
    supervisor.wait_connected(WAIT).await.expect("connected");
    supervisor
}

fn ping<'a>(exchange: &'a str, routing_key: &'a str, id: &'a str) -> Outgoing<'a> {
    Outgoing {
        exchange,
        routing_key,
        message_id: id,
        message_type: "test.ping",
        body: b"{}",
        headers: Vec::new(),
    }
}

#[tokio::test]
async fn a_message_no_queue_can_route_is_an_error_not_a_success() {
    let namespace = unique_namespace();
    let (topology, _) = ping_topology(&namespace);
    let _guard = TopologyGuard::new(topology.clone());
    let supervisor = connected(settings(amqp_url(), &namespace), topology.clone()).await;
    let publisher = Publisher::new(supervisor);
    let exchange = topology.exchange(Exchange::Commands);

    let routed = publisher.publish(&ping(&exchange, "test.ping", "m1")).await;
    let unroutable = publisher.publish(&ping(&exchange, "nobody.listens", "m2")).await;

    assert!(routed.is_ok(), "{routed:?}");
    assert!(
        matches!(unroutable, Err(PublishError::Unroutable { .. })),
        "{unroutable:?}"
    );
}

#[tokio::test]
async fn publishing_without_a_link_is_an_error_and_readiness_says_so() {
    let namespace = unique_namespace();
    let supervisor = Supervisor::new(
        settings("amqp://guest:guest@127.0.0.1:1/%2f".to_owned(), &namespace),
        Topology::new(&namespace),
    );
    supervisor.start();

    let published = Publisher::new(supervisor.clone())
        .publish(&ping("x", "y", "m1"))
        .await;

    assert!(
        matches!(published, Err(PublishError::NotConnected)),
        "{published:?}"
    );
    assert_eq!(
        (supervisor.readiness_check())().await,
        Err("not connected to the message broker".to_owned())
    );
}

#[tokio::test]
async fn after_losing_the_link_the_supervisor_reconnects_redeclares_and_restarts_its_consumers() {
    let namespace = unique_namespace();
    let (topology, queue) = ping_topology(&namespace);
    let _guard = TopologyGuard::new(topology.clone());
    let proxy = FaultProxy::start("127.0.0.1:5672").await;
    let (received, mut inbox) = mpsc::unbounded_channel::<String>();
    let supervisor = Supervisor::new(
        settings(
            format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port),
            &namespace,
        ),
        topology.clone(),
    );
    let consumed_queue = queue.clone();
    supervisor.add_consumer(move |channel, stop| {
        let (queue, received) = (consumed_queue.clone(), received.clone());
        async move {
            let mut consumer = channel
                .basic_consume(
                    queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
            loop {
                let delivery = tokio::select! {
                    _ = stop.cancelled() => return,
                    next = consumer.next() => match next {
                        Some(Ok(delivery)) => delivery,
                        _ => return,
                    },
                };
                let id = delivery.properties.message_id().as_ref().unwrap().to_string();
                delivery.ack(BasicAckOptions::default()).await.unwrap();
                received.send(id).unwrap();
            }
        }
    });
    supervisor.start();
    supervisor.wait_connected(WAIT).await.unwrap();
    let direct = connected(settings(amqp_url(), &namespace), topology.clone()).await;
    let publisher = Publisher::new(direct.clone());
    let exchange = topology.exchange(Exchange::Commands);
    publisher
        .publish(&ping(&exchange, "test.ping", "before"))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, inbox.recv()).await.unwrap().unwrap(),
        "before"
    );

    // The link goes; meanwhile the queue disappears from the broker.
    proxy.cut();
    let deadline = tokio::time::Instant::now() + WAIT;
    while supervisor.is_connected() {
        assert!(tokio::time::Instant::now() < deadline, "the loss is noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let link = direct.link().unwrap();
    let channel = link.connection.create_channel().await.unwrap();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    proxy.restore();

    // Back: the queue is declared again and the consumer runs again.
    supervisor.wait_connected(WAIT).await.expect("reconnected");
    publisher
        .publish(&ping(&exchange, "test.ping", "after"))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, inbox.recv()).await.unwrap().unwrap(),
        "after"
    );
}

#[tokio::test]
async fn a_consumer_that_stops_at_once_makes_the_supervisor_reconnect_with_back_off_not_in_a_loop() {
    let namespace = unique_namespace();
    let topology = Topology::new(&namespace);
    let _guard = TopologyGuard::new(topology.clone());
    let proxy = FaultProxy::start("127.0.0.1:5672").await;
    let mut amqp = settings(
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port),
        &namespace,
    );
    amqp.reconnect = BackoffSettings {
        base_ms: 200,
        max_ms: 1000,
        jitter: false,
    };
    let supervisor = Supervisor::new(amqp, topology);
    // As after basic.consume is refused: the consumer returns as soon as it starts.
    supervisor.add_consumer(|_channel, _stop| async {});
    let started = tokio::time::Instant::now();
    supervisor.start();

    wait_until(|| proxy.connections() >= 5, "the supervisor keeps reconnecting").await;

    // Four waits between five short-lived links: 200 + 400 + 800 + 1000 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(2400),
        "{} connections in {:?}",
        proxy.connections(),
        started.elapsed()
    );
    supervisor.shutdown().await;
}

async fn wait_until(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
