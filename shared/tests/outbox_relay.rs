//! The outbox relay against the real PostgreSQL and RabbitMQ of this machine (a database and a
//! broker namespace per test): a nudge publishes at once, an unroutable row is kept for later, a
//! row for an exchange the relay does not know is kept without touching the link.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::time::Duration;

use diesel::prelude::*;
use diesel_migrations::embed_migrations;
use secrecy::SecretString;
use shared::configuration::DatabaseSettings;
use shared::db::Migrations;
use shared::messaging::bus::Bus;
use shared::messaging::contracts::{EmailTemplate, Envelope, Exchange, SendEmail};
use shared::messaging::outbox::{self, OutboxMessage, outbox_messages};
use shared::messaging::publisher::Publisher;
use shared::messaging::relay::{OutboxRelay, RelaySettings};
use shared::messaging::settings::AmqpSettings;
use shared::messaging::supervisor::Supervisor;
use shared::messaging::topology::{QueueSpec, Topology};
use shared::resilience::BackoffSettings;
use shared::testing::TestDatabase;
use shared::testing::amqp::{TopologyGuard, test_settings as settings, unique_namespace};
use shared::testing::fault_proxy::FaultProxy;
use tokio_util::sync::CancellationToken;

/// The outbox table lives in the auth database; its migrations create it.
const AUTH_MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("../auth-server/migrations"),
    sqlite: embed_migrations!("../auth-server/migrations"),
};
const WAIT: Duration = Duration::from_secs(20);

async fn connected(settings: AmqpSettings, topology: Topology) -> Supervisor {
    let supervisor = Supervisor::new(settings, topology);
    supervisor.start();
    supervisor.wait_connected(WAIT).await.expect("connected");
    supervisor
}

async fn wait_until(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn relay_settings(poll_interval_ms: u64) -> RelaySettings {
    RelaySettings {
        batch_size: 50,
        poll_interval_ms,
        lease_secs: 30,
        retry: BackoffSettings {
            base_ms: 100,
            max_ms: 200,
            jitter: false,
        },
    }
}

fn outbox_database() -> (TestDatabase, shared::db::DbPool) {
    let database = TestDatabase::create();
    let pool = shared::db::build_pool(&DatabaseSettings {
        url: SecretString::from(database.url.clone()),
        pool_size: 2,
        acquire_timeout_ms: 2000,
        statement_timeout_ms: 5000,
        migrate_on_start: false,
    });
    shared::db::run_migrations(&mut pool.get().unwrap(), AUTH_MIGRATIONS).unwrap();
    (database, pool)
}

fn row(pool: &shared::db::DbPool, message_id: &str) -> OutboxMessage {
    outbox_messages::table
        .find(message_id)
        .select(OutboxMessage::as_select())
        .first(&mut pool.get().unwrap())
        .unwrap()
}

/// A topology with an `email.send` queue bound to `commands`, on a supervisor through `proxy`.
async fn email_send_link(namespace: &str, proxy: &FaultProxy) -> (Supervisor, TopologyGuard) {
    let topology = Topology::new(namespace).with_queue(QueueSpec {
        name: Topology::new(namespace).name("email.send"),
        arguments: Vec::new(),
        bindings: vec![(
            Topology::new(namespace).exchange(Exchange::Commands),
            "email.send".to_owned(),
        )],
    });
    let guard = TopologyGuard::new(topology.clone());
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    (connected(settings(url, namespace), topology).await, guard)
}

fn test_email() -> Envelope<SendEmail> {
    let to = "ada@example.com".to_owned();
    let variables = Default::default();
    Envelope::new(
        SendEmail {
            to,
            template: EmailTemplate::Test,
            variables,
        },
        None,
    )
}

/// A copy of the row of `message_id` under another id, changed by `change`.
fn insert_copy(
    pool: &shared::db::DbPool,
    message_id: &str,
    id: &str,
    change: impl FnOnce(&mut OutboxMessage),
) {
    let mut copy = row(pool, message_id);
    copy.message_id = id.to_owned();
    change(&mut copy);
    diesel::insert_into(outbox_messages::table)
        .values(&copy)
        .execute(&mut pool.get().unwrap())
        .unwrap();
}

#[tokio::test]
async fn the_relay_publishes_a_nudged_row_at_once_and_keeps_an_unroutable_one_for_later() {
    let (_database, pool) = outbox_database();
    let namespace = unique_namespace();
    let proxy = FaultProxy::start("127.0.0.1:5672").await;
    let (supervisor, _guard) = email_send_link(&namespace, &proxy).await;
    let stop = CancellationToken::new();
    // A row published by the start-up drain: after it, the relay waits for a nudge or its poll.
    let warm_up = test_email();
    outbox::enqueue(&mut pool.get().unwrap(), &warm_up).unwrap();
    // A poll interval far longer than the test: only the nudge can make it publish in time.
    let relay = OutboxRelay::start(
        pool.clone(),
        Bus::RabbitMq(Publisher::new(supervisor)),
        relay_settings(600_000),
        stop.clone(),
    );
    wait_until(
        || row(&pool, &warm_up.message_id).published_at.is_some(),
        "the start-up drain publishes the first row",
    )
    .await;

    let email = test_email();
    outbox::enqueue(&mut pool.get().unwrap(), &email).unwrap();
    insert_copy(&pool, &email.message_id, "stray", |stray| {
        stray.routing_key = "nobody.listens".to_owned();
    });
    relay.nudge();

    wait_until(
        || row(&pool, &email.message_id).published_at.is_some(),
        "the nudged row is published",
    )
    .await;
    let unroutable = row(&pool, "stray");
    assert!(unroutable.published_at.is_none());
    assert_eq!(unroutable.attempts, 1);
    assert!(unroutable.last_error.unwrap().contains("no queue is bound"));
    assert_eq!(outbox::pending_count(&mut pool.get().unwrap()).unwrap(), 1);
    stop.cancel();
}

#[tokio::test]
async fn a_row_for_an_exchange_this_relay_does_not_know_is_kept_and_never_breaks_the_link() {
    let (_database, pool) = outbox_database();
    let namespace = unique_namespace();
    let proxy = FaultProxy::start("127.0.0.1:5672").await;
    let (supervisor, _guard) = email_send_link(&namespace, &proxy).await;
    let email = test_email();
    outbox::enqueue(&mut pool.get().unwrap(), &email).unwrap();
    // As written by a newer version that knows an exchange this one does not.
    insert_copy(&pool, &email.message_id, "newer", |newer| {
        newer.exchange = "audit".to_owned();
    });
    let stop = CancellationToken::new();

    OutboxRelay::start(
        pool.clone(),
        Bus::RabbitMq(Publisher::new(supervisor.clone())),
        relay_settings(20),
        stop.clone(),
    );

    wait_until(
        || row(&pool, "newer").attempts >= 3,
        "the unknown exchange is tried again",
    )
    .await;
    let kept = row(&pool, "newer");
    assert!(kept.published_at.is_none(), "kept for a relay that knows it");
    assert!(kept.last_error.unwrap().contains("unknown exchange"));
    assert!(row(&pool, &email.message_id).published_at.is_some());
    assert!(supervisor.is_connected());
    assert_eq!(proxy.connections(), 1, "the link was never torn down");
    stop.cancel();
}
