//! Delivering `email.send` commands: once per message id, retried with growing delays on temporary
//! failures, dead-lettered with a reason on permanent ones.

use std::time::{Duration, Instant};

use shared::messaging::contracts::EmailTemplate;

use crate::helpers::*;

#[tokio::test]
async fn a_command_becomes_one_email_with_a_message_id_derived_from_it() {
    let app = spawn_email_service().await;
    let command = verify_email("ada@example.com");

    app.send(&command).await;

    let messages = app.sink.wait_for(1, WAIT).await;
    let email = &messages[0];
    assert_eq!(email.recipients, vec!["ada@example.com"]);
    assert_eq!(email.subject().as_deref(), Some("Confirm your email address"));
    assert_eq!(
        email.message_id(),
        Some(format!("<{}@localhost>", command.message_id))
    );
    assert_eq!(
        email.link_starting_with("https://id.example/").as_deref(),
        Some("https://id.example/verify-email?token=abc")
    );
    assert!(email.raw.contains("text/html"), "an HTML part");
    assert!(email.raw.contains("text/plain"), "a text part");
    let record = app.wait_for_status(&command.message_id, "sent").await;
    assert_eq!(record.attempts, 1);
    assert_eq!(record.recipient_hint, "a***@example.com");
}

#[tokio::test]
async fn a_duplicated_message_gives_one_email() {
    // One consumer: the commands are handled in the order they were queued.
    let app = spawn_email_service_with(|settings| settings.consumer.concurrency = 1).await;
    let first = verify_email("ada@example.com");
    let barrier = verify_email("grace@example.com");

    app.send(&first).await;
    app.send(&first).await;
    app.send(&barrier).await;

    let messages = app.sink.wait_for(2, WAIT).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].recipients, vec!["ada@example.com"]);
    assert_eq!(messages[1].recipients, vec!["grace@example.com"]);
    assert_eq!(app.queue_depth(&app.queues.work).await, 0);
    assert_eq!(app.sink.messages().len(), 2);
}

#[tokio::test]
async fn two_copies_of_one_message_in_flight_at_once_give_one_email() {
    // Two consumers and a slow server: the second copy arrives while the first is being sent.
    let app = spawn_email_service_with(|settings| settings.consumer.concurrency = 2).await;
    app.sink.delay_next(Duration::from_secs(1));
    let command = verify_email("ada@example.com");

    app.send(&command).await;
    app.send(&command).await;

    app.sink.wait_for(1, WAIT).await;
    app.wait_for_duplicates(1.0, 1).await;
    assert_eq!(app.sink.attempts(), 1, "one email, not two");
    let record = app.wait_for_status(&command.message_id, "sent").await;
    assert_eq!(record.attempts, 1);
}

#[tokio::test]
async fn two_temporary_failures_then_success_give_one_email_after_growing_delays() {
    let app = spawn_email_service().await;
    app.sink.fail_next(2, 451, "try again later");
    let command = verify_email("ada@example.com");
    let started = Instant::now();

    app.send(&command).await;

    let messages = app.sink.wait_for(1, WAIT).await;
    // The retry delays of the test settings are 300 ms then 600 ms: not a tight requeue loop.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(messages.len(), 1);
    assert_eq!(app.sink.attempts(), 3);
    let record = app.wait_for_status(&command.message_id, "sent").await;
    assert_eq!(record.attempts, 3);
    assert_eq!(app.queue_depth(&app.queues.dead).await, 0);
}

#[tokio::test]
async fn temporary_failures_past_the_last_delay_are_dead_lettered() {
    let app = spawn_email_service().await;
    app.sink.fail_next(3, 421, "service not available");
    let command = verify_email("ada@example.com");

    app.send(&command).await;

    let reasons = app.wait_for_dead_letters(1).await;
    assert!(reasons[0].contains("gave up after 3 attempts"), "{reasons:?}");
    assert!(app.sink.messages().is_empty());
    app.wait_for_status(&command.message_id, "dead").await;
}

#[tokio::test]
async fn a_delivery_that_cannot_be_rerouted_waits_before_it_goes_back_to_the_queue() {
    let app = spawn_email_service_with(|settings| settings.consumer.retry_delays_ms = vec![1000]).await;
    app.sink.fail_next(10, 451, "try again later");
    // Once the service has connected (and declared its queues), its first retry queue goes: the
    // retry cannot be published and the delivery is returned to the queue.
    app.wait_for_readiness(200).await;
    let link = app.publisher.supervisor().link().unwrap();
    let channel = link.connection.create_channel().await.unwrap();
    channel
        .queue_delete(app.queues.retries[0].1.as_str().into(), Default::default())
        .await
        .unwrap();
    let started = Instant::now();

    app.send(&verify_email("ada@example.com")).await;

    // The broker dead-letters it past the delivery limit (3), after a wait of the first retry delay
    // (1 s) before each return, not in a tight loop.
    app.wait_for_dead_letters(1).await;
    assert!(
        started.elapsed() >= Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once() {
    let app = spawn_email_service().await;
    app.sink.fail_next(1, 550, "no such mailbox");
    let command = verify_email("nobody@example.com");

    app.send(&command).await;

    let reasons = app.wait_for_dead_letters(1).await;
    assert_eq!(reasons, vec!["SMTP 550".to_owned()]);
    assert_eq!(app.sink.attempts(), 1, "no retry after a 5xx");
    let record = app.wait_for_status(&command.message_id, "dead").await;
    assert_eq!(record.last_error.as_deref(), Some("SMTP 550"));
}

#[tokio::test]
async fn malformed_messages_are_dead_lettered_with_the_reason_and_the_others_keep_flowing() {
    let app = spawn_email_service().await;
    let good = verify_email("ada@example.com");

    app.publish_raw("garbage-1", b"{this is not json").await;
    let mut missing = serde_json::to_value(verify_email("x@example.com")).unwrap();
    missing["payload"].as_object_mut().unwrap().remove("to");
    app.publish_raw("garbage-2", missing.to_string().as_bytes()).await;
    app.send(&good).await;

    app.sink.wait_for(1, WAIT).await;
    let reasons = app.wait_for_dead_letters(2).await;
    assert!(
        reasons.iter().all(|reason| reason.starts_with("undecodable")),
        "{reasons:?}"
    );
    assert_eq!(app.sink.messages().len(), 1);
}

#[tokio::test]
async fn a_template_missing_a_variable_is_dead_lettered_not_sent_with_a_hole() {
    let app = spawn_email_service().await;
    let command = email(
        "ada@example.com",
        EmailTemplate::PasswordReset,
        &[("username", "ada")],
    );

    app.send(&command).await;

    let reasons = app.wait_for_dead_letters(1).await;
    assert!(reasons[0].contains("password-reset"), "{reasons:?}");
    assert_eq!(app.sink.attempts(), 0);
}
