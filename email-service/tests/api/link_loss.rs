//! Losing the broker link or the database in the middle of a send: the email in hand is finished
//! and recorded, and the redelivery that follows sends nothing again.

use std::future::Future;
use std::time::Duration;

use email_service::configuration::Settings;

use secrecy::{ExposeSecret, SecretString};
use shared::testing::LOCAL_OPTIONS;
use shared::testing::fault_proxy::FaultProxy;

use crate::helpers::*;

#[tokio::test]
async fn emails_being_sent_when_the_broker_link_fails_are_finished_and_each_sent_once() {
    let broker = FaultProxy::start("127.0.0.1:5672").await;
    let port = broker.port;
    let app = spawn_email_service_with(|settings| {
        settings.amqp.url = SecretString::from(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"));
        settings.consumer.concurrency = 4;
    })
    .await;
    app.wait_for_readiness(200).await;
    let commands: Vec<_> = (0..4)
        .map(|n| verify_email(&format!("user{n}@example.com")))
        .collect();
    for _ in &commands {
        app.sink.delay_next(Duration::from_secs(2));
    }

    for command in &commands {
        app.send(command).await;
    }
    // All four are in the SMTP server's hands, waiting for its 250, when the link goes.
    app.sink.wait_for(4, WAIT).await;
    broker.cut();
    app.wait_for_readiness(503).await;
    broker.restore();

    for command in &commands {
        app.wait_for_status(&command.message_id, "sent").await;
    }
    // The broker redelivers the four it never got an ack for: each is a duplicate now.
    app.wait_for_duplicates(4.0, 4).await;
    assert_eq!(app.sink.attempts(), 4, "one email per message id");
}

/// The service, its database reached through `database` (a proxy the test can cut).
async fn service_behind(database: &FaultProxy, adjust: impl FnOnce(&mut Settings)) -> TestEmail {
    let port = database.port;
    spawn_email_service_with(|settings| {
        let url = settings.database.url.expose_secret().to_owned();
        let name = url.rsplit('/').next().unwrap().trim_end_matches(LOCAL_OPTIONS);
        let proxied = format!("postgres://postgres@127.0.0.1:{port}/{name}{LOCAL_OPTIONS}");
        settings.database.url = SecretString::from(proxied);
        settings.database.acquire_timeout_ms = 500;
        adjust(settings);
    })
    .await
}

/// Polls until `condition` holds.
async fn wait_until<F: Future<Output = bool>>(mut condition: impl FnMut() -> F, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_email_whose_sent_record_fails_at_first_is_recorded_later_and_never_sent_again() {
    let database = FaultProxy::start("127.0.0.1:5432").await;
    let app = service_behind(&database, |_| {}).await;
    app.sink.delay_next(Duration::from_secs(1));
    let command = verify_email("ada@example.com");

    app.send(&command).await;
    // The server has the email and answers 250 in a second; meanwhile the database goes away.
    app.sink.wait_for(1, WAIT).await;
    database.cut();
    let retried = || async { app.counter("email_record_retries_total").await >= 1.0 };
    wait_until(retried, "the 'sent' record is never written again").await;
    database.restore();

    app.wait_for_status(&command.message_id, "sent").await;
    // A duplicate publish of the same message id (the outbox is at least once) sends nothing.
    app.send(&command).await;
    app.wait_for_duplicates(1.0, 1).await;
    assert_eq!(app.sink.attempts(), 1);
}

#[tokio::test]
async fn an_email_whose_sent_record_cannot_be_written_within_its_claim_comes_back_only_to_be_recorded() {
    let database = FaultProxy::start("127.0.0.1:5432").await;
    let app = service_behind(&database, |settings| settings.consumer.claim_lease_ms = 2_000).await;
    let command = verify_email("ada@example.com");
    app.sink.delay_next(Duration::from_millis(500));

    app.send(&command).await;
    app.sink.wait_for(1, WAIT).await;
    database.cut();
    // The claim runs out with the database still away: the message goes to the first retry queue,
    // marked as accepted by the server.
    let retry_queue = app.queues.retries[0].1.clone();
    let parked = || async { app.queue_depth(&retry_queue).await >= 1 };
    wait_until(parked, "the message never waits in the retry queue").await;
    database.restore();

    let record = app.wait_for_status(&command.message_id, "sent").await;
    assert_eq!(record.attempts, 1, "recorded, not claimed and sent again");
    app.send(&command).await;
    app.wait_for_duplicates(1.0, 1).await;
    assert_eq!(app.sink.attempts(), 1);
}
