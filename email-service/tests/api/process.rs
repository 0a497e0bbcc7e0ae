//! The real binary: SIGKILL in the middle of a send (the crash window), SIGTERM with a message in
//! hand, and the operator's subcommands.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::*;

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl TestEmail {
    /// The settings the binary needs to join this test (a YAML file, for the lists).
    fn config_file(&self) -> tempfile::NamedTempFile {
        let consumer = &self.settings.consumer;
        let yaml = format!(
            "listen_addr: \"127.0.0.1:0\"\nworkers: 1\nlog:\n  format: json\n  filter: info\n\
             consumer:\n  concurrency: 1\n  delivery_limit: {}\n  retry_delays_ms: {:?}\n  \
             claim_lease_ms: 2000\n",
            consumer.delivery_limit, consumer.retry_delays_ms
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), yaml).unwrap();
        file
    }

    fn command(&self, config: &tempfile::NamedTempFile) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_email-service"));
        command
            .arg("--config")
            .arg(config.path())
            .env("DATABASE_URL", self.settings.database.url.expose_secret())
            .env("AMQP_URL", self.settings.amqp.url.expose_secret())
            .env("EMAIL_AMQP__NAMESPACE", &self.settings.amqp.namespace)
            .env("SMTP_URL", self.settings.smtp.url.expose_secret());
        command
    }

    fn serve(&self, config: &tempfile::NamedTempFile) -> Running {
        Running(
            self.command(config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    async fn run(&self, config: &tempfile::NamedTempFile, arguments: &[&str]) -> Output {
        let mut command = self.command(config);
        command.args(arguments);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

async fn wait_for_exit(mut running: Running) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "the process did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(running: &Running, name: &str) {
    Command::new("kill")
        .args([name, &running.0.id().to_string()])
        .status()
        .unwrap();
}

#[tokio::test]
async fn a_consumer_killed_mid_send_delivers_on_restart_with_at_most_one_duplicate_of_the_same_message_id() {
    let test = prepare_with(|_| {}).await;
    let config = test.config_file();
    test.sink.stall_next(); // The server keeps the message but the answer never comes.
    let command = verify_email("ada@example.com");
    let first = test.serve(&config);
    test.send(&command).await;

    test.sink.wait_for(1, WAIT).await;
    signal(&first, "-KILL");
    wait_for_exit(first).await;
    // The crash window: the record says an attempt began, not that it was sent.
    assert_eq!(
        test.delivery(&command.message_id).await.unwrap().status.as_str(),
        "sending"
    );

    let _second = test.serve(&config);
    let messages = test.sink.wait_for(2, WAIT).await;
    let record = test.wait_for_status(&command.message_id, "sent").await;

    assert_eq!(record.attempts, 2);
    assert_eq!(messages.len(), 2, "one duplicate");
    assert_eq!(
        messages[0].message_id(),
        messages[1].message_id(),
        "recognisable as a duplicate"
    );
    assert_eq!(
        messages[0].message_id(),
        Some(format!("<{}@localhost>", command.message_id))
    );
}

#[tokio::test]
async fn sigterm_finishes_and_acknowledges_the_message_in_hand_then_exits_0() {
    let test = prepare_with(|_| {}).await;
    let config = test.config_file();
    test.sink.delay_next(Duration::from_millis(1500));
    let command = verify_email("ada@example.com");
    let service = test.serve(&config);
    test.send(&command).await;

    test.sink.wait_for(1, WAIT).await; // The send is in progress.
    signal(&service, "-TERM");
    let status = wait_for_exit(service).await;

    assert!(status.success(), "exit 0, got {status}");
    let record = test.delivery(&command.message_id).await.unwrap();
    assert_eq!(
        record.status.as_str(),
        "sent",
        "it finished the send before exiting"
    );
    assert_eq!(
        test.queue_depth(&test.queues.work).await,
        0,
        "and acknowledged it"
    );
}

#[tokio::test]
async fn send_test_queues_a_test_email_through_the_broker() {
    let test = spawn_email_service().await;
    let config = test.config_file();

    let output = test.run(&config, &["send-test", "--to", "ops@example.com"]).await;

    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let message_id = printed["message_id"].as_str().unwrap().to_owned();
    let email = &test.sink.wait_for(1, WAIT).await[0];
    assert_eq!(email.recipients, vec!["ops@example.com"]);
    assert_eq!(
        email.subject().as_deref(),
        Some("Test email from the email-service")
    );
    test.wait_for_status(&message_id, "sent").await;

    let listed = test
        .run(&config, &["deliveries", "list", "--status", "sent"])
        .await;
    let records: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records[0]["message_id"], message_id.as_str());
    assert_eq!(records[0]["recipient_hint"], "o***@example.com");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("ops@example.com"));
}

#[tokio::test]
async fn a_bad_argument_exits_2_naming_it() {
    let test = prepare_with(|_| {}).await;
    let config = test.config_file();

    let output = test.run(&config, &["send-test", "--to", "not an address"]).await;

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--to"));
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_requeued_for_delivery() {
    let test = spawn_email_service().await;
    let config = test.config_file();
    test.sink.fail_next(1, 554, "rejected for policy reasons");
    let command = verify_email("ada@example.com");
    test.send(&command).await;
    test.wait_for_dead_letters(1).await;

    let listed = test.run(&config, &["dead-letters", "list"]).await;
    let letters: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(letters.as_array().unwrap().len(), 1);
    assert_eq!(letters[0]["message_id"], command.message_id.as_str());
    assert_eq!(letters[0]["reason"], "SMTP 554");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("ada@example.com"));
    // Listing leaves them on the queue (given back when its channel closes).
    test.wait_for_depth(&test.queues.dead, 1).await;

    let requeued = test
        .run(
            &config,
            &["dead-letters", "requeue", "--message-id", &command.message_id],
        )
        .await;
    let answer: Value = serde_json::from_slice(&requeued.stdout).unwrap();
    assert_eq!(answer["requeued"], 1);

    let email = &test.sink.wait_for(1, WAIT).await[0];
    assert_eq!(email.recipients, vec!["ada@example.com"]);
    test.wait_for_status(&command.message_id, "sent").await;
    assert_eq!(test.queue_depth(&test.queues.dead).await, 0);
}

#[tokio::test]
async fn a_message_that_keeps_killing_the_consumer_is_dead_lettered_after_the_delivery_limit_and_others_flow()
{
    let test = prepare_with(|_| {}).await; // delivery_limit: 3
    let config = test.config_file();
    let poison = verify_email("poison@example.com");
    test.send(&poison).await;

    // Every attempt at it dies mid-send, as a consumer that crashes on one message would.
    let mut crashes = 0;
    while test.queue_depth(&test.queues.dead).await == 0 {
        assert!(crashes < 8, "still not dead-lettered after {crashes} crashes");
        test.sink.stall_next();
        let attempts = test.sink.attempts();
        let running = test.serve(&config);
        let deadline = tokio::time::Instant::now() + WAIT;
        while test.sink.attempts() == attempts && test.queue_depth(&test.queues.dead).await == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no attempt");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal(&running, "-KILL");
        wait_for_exit(running).await;
        crashes += 1;
    }
    test.sink.clear_script();

    let healthy = verify_email("ada@example.com");
    test.send(&healthy).await;
    let _service = test.serve(&config);
    test.wait_for_status(&healthy.message_id, "sent").await;
    assert!(crashes >= 3, "the broker gave it {crashes} deliveries");
    assert_eq!(test.queue_depth(&test.queues.dead).await, 1);
    assert_eq!(test.queue_depth(&test.queues.work).await, 0);
}
