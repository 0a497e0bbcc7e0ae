//! Losing the broker link or the database in the middle of a send: the email in hand is finished
//! and recorded, and the redelivery that follows sends nothing again.

use std::time::Duration;

use secrecy::SecretString;
use shared::testing::fault_proxy::FaultProxy;

use crate::helpers::*;

/// Polls `/readyz` until it answers `status`.
async fn wait_for_readiness(app: &TestEmail, status: u16) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.get("/readyz").await.status().as_u16() != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never said {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn emails_being_sent_when_the_broker_link_fails_are_finished_and_each_sent_once() {
    let broker = FaultProxy::start("127.0.0.1:5672").await;
    let port = broker.port;
    let app = spawn_email_service_with(|settings| {
        settings.amqp.url = SecretString::from(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"));
        settings.consumer.concurrency = 4;
    })
    .await;
    wait_for_readiness(&app, 200).await;
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
    wait_for_readiness(&app, 503).await;
    broker.restore();

    for command in &commands {
        app.wait_for_status(&command.message_id, "sent").await;
    }
    // The broker redelivers the four it never got an ack for: each is a duplicate now.
    app.wait_for_duplicates(4.0, 4).await;
    assert_eq!(app.sink.attempts(), 4, "one email per message id");
}
