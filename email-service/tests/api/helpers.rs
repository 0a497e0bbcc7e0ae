//! The test harness: the real email-service (in process, or as a child process) on its own database,
//! its own broker namespace and an SMTP sink; plus a publisher to send it commands.

use std::collections::BTreeMap;
use std::time::Duration;

use email_service::configuration::Settings;
use email_service::startup::Application;
use email_service::topology::{EmailQueues, topology};
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::messaging::contracts::{EmailTemplate, Envelope, Message, SendEmail};
use shared::messaging::publisher::{Outgoing, Publisher};
use shared::messaging::supervisor::Supervisor;
use shared::testing::TestDatabase;
use shared::testing::amqp::{TopologyGuard, amqp_url, unique_namespace};
use shared::testing::smtp_sink::SmtpSink;

pub const WAIT: Duration = Duration::from_secs(20);

/// Everything one test uses; dropping it deletes the database and the broker namespace.
pub struct TestEmail {
    pub address: String,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub sink: SmtpSink,
    pub queues: EmailQueues,
    pub publisher: Publisher,
    /// The test's view of the delivery records.
    pub pool: shared::db::DbPool,
    // Dropped last: the queues must outlive the service that consumes them.
    _database: TestDatabase,
    _topology: TopologyGuard,
}

/// Settings for a test: short retry delays, a small delivery limit.
pub fn test_settings(database: &TestDatabase, sink: &SmtpSink, namespace: &str) -> Settings {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.listen_addr = "127.0.0.1:0".to_owned();
    settings.workers = 1;
    settings.database.url = SecretString::from(database.url.clone());
    settings.amqp.url = SecretString::from(amqp_url());
    settings.amqp.namespace = namespace.to_owned();
    settings.amqp.reconnect.base_ms = 50;
    settings.amqp.reconnect.max_ms = 500;
    settings.smtp.url = SecretString::from(sink.url());
    settings.smtp.timeout_ms = 5_000;
    settings.consumer.retry_delays_ms = vec![300, 600];
    settings.consumer.delivery_limit = 3;
    settings.consumer.concurrency = 2;
    // Longer than any scripted send, short enough that a test can wait one out.
    settings.consumer.claim_lease_ms = 5_000;
    settings
}

pub async fn spawn_email_service() -> TestEmail {
    spawn_email_service_with(|_| {}).await
}

pub async fn spawn_email_service_with(adjust: impl FnOnce(&mut Settings)) -> TestEmail {
    let mut test = prepare_with(adjust).await;
    let application = Application::build(test.settings.clone())
        .await
        .expect("the application builds");
    test.address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    test
}

/// Everything but the service: the database, the sink, the namespace and a publisher (for tests
/// that run the binary).
pub async fn prepare_with(adjust: impl FnOnce(&mut Settings)) -> TestEmail {
    let database = TestDatabase::create();
    let sink = SmtpSink::start().await;
    let namespace = unique_namespace();
    let mut settings = test_settings(&database, &sink, &namespace);
    adjust(&mut settings);
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("email-service-test", &settings.log);
    }
    let guard = TopologyGuard::new(topology(&namespace, &settings.consumer));
    let publisher = test_publisher(&settings).await;
    // The test's view goes to the database directly, even when the service's goes through a proxy.
    let mut direct = settings.database.clone();
    direct.url = SecretString::from(database.url.clone());
    let pool = shared::db::build_pool(&direct);
    TestEmail {
        address: String::new(),
        http: reqwest::Client::new(),
        queues: EmailQueues::new(publisher.supervisor().topology(), &settings.consumer),
        settings,
        sink,
        publisher,
        pool,
        _database: database,
        _topology: guard,
    }
}

/// A publisher on the test's namespace (declaring the same topology as the service), connected to
/// the broker directly (the service may be behind a fault proxy).
pub async fn test_publisher(settings: &Settings) -> Publisher {
    let mut amqp = settings.amqp.clone();
    amqp.url = SecretString::from(amqp_url());
    let supervisor = Supervisor::new(amqp, topology(&settings.amqp.namespace, &settings.consumer));
    supervisor.start();
    supervisor.wait_connected(WAIT).await.expect("the broker answers");
    Publisher::new(supervisor)
}

/// An email command for `to`.
pub fn email(to: &str, template: EmailTemplate, variables: &[(&str, &str)]) -> Envelope<SendEmail> {
    Envelope::new(
        SendEmail {
            to: to.to_owned(),
            template,
            variables: variables
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect::<BTreeMap<_, _>>(),
        },
        None,
    )
}

/// A verify-email command (every variable given).
pub fn verify_email(to: &str) -> Envelope<SendEmail> {
    email(
        to,
        EmailTemplate::VerifyEmail,
        &[
            ("username", "ada"),
            ("link", "https://id.example/verify-email?token=abc"),
            ("expires_in_minutes", "60"),
        ],
    )
}

impl TestEmail {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the server answers")
    }

    /// Publishes a command as the auth-server's relay would.
    pub async fn send(&self, envelope: &Envelope<SendEmail>) {
        let body = serde_json::to_vec(envelope).unwrap();
        self.publish_raw(&envelope.message_id, &body).await;
    }

    /// Publishes any body with the `email.send` routing key.
    pub async fn publish_raw(&self, message_id: &str, body: &[u8]) {
        self.publisher
            .publish(&Outgoing {
                exchange: &self.queues.commands_exchange,
                routing_key: SendEmail::TYPE,
                message_id,
                message_type: SendEmail::TYPE,
                body,
                headers: Vec::new(),
            })
            .await
            .expect("the broker confirms");
    }

    /// Messages ready in a queue of the namespace.
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let link = self.publisher.supervisor().link().expect("connected");
        let channel = link.connection.create_channel().await.unwrap();
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = channel.close(200, "".into()).await;
        declared.message_count()
    }

    /// Waits until the dead-letter queue holds `count` messages; returns their reasons.
    pub async fn wait_for_dead_letters(&self, count: u32) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.queue_depth(&self.queues.dead).await < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} dead letter(s) expected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let link = self.publisher.supervisor().link().expect("connected");
        let channel = link.connection.create_channel().await.unwrap();
        let mut reasons = Vec::new();
        while let Some(message) = channel
            .basic_get(self.queues.dead.as_str().into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            let headers = message.delivery.properties.headers().as_ref();
            reasons.push(
                shared::messaging::publisher::header_text(
                    headers,
                    email_service::amqp_consumer::REASON_HEADER,
                )
                .unwrap_or_default(),
            );
        }
        // Closing without acking puts them back; a quorum queue takes them back asynchronously.
        let _ = channel.close(200, "".into()).await;
        self.wait_for_depth(&self.queues.dead, reasons.len() as u32).await;
        reasons
    }

    /// Polls until `queue` holds exactly `count` ready messages.
    pub async fn wait_for_depth(&self, queue: &str, count: u32) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.queue_depth(queue).await != count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{queue} never held {count} message(s)"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The delivery record of a message id.
    pub async fn delivery(&self, message_id: &str) -> Option<email_service::db::Delivery> {
        let message_id = message_id.to_owned();
        shared::db::run(&self.pool, move |conn| {
            Ok::<_, shared::db::StoreError>(email_service::db::find(conn, &message_id)?)
        })
        .await
        .unwrap()
    }

    /// Polls `/readyz` until it answers `status` (200 once the service is connected).
    pub async fn wait_for_readiness(&self, status: u16) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.get("/readyz").await.status().as_u16() != status {
            assert!(
                tokio::time::Instant::now() < deadline,
                "/readyz never said {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sum of a Prometheus counter over its labels, from `/metrics` (0 before its first use).
    pub async fn counter(&self, name: &str) -> f64 {
        let metrics = self.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Polls until a copy of a message sent before was settled without sending
    /// (`email_duplicates_total` reaches `duplicates`) or the sink saw more than `emails` attempts
    /// (the failure the caller checks for).
    pub async fn wait_for_duplicates(&self, duplicates: f64, emails: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.counter("email_duplicates_total").await < duplicates && self.sink.attempts() <= emails {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{duplicates} duplicate(s) never settled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until the record of `message_id` has `status`.
    pub async fn wait_for_status(&self, message_id: &str, status: &str) -> email_service::db::Delivery {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(record) = self.delivery(message_id).await
                && record.status.as_str() == status
            {
                return record;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{message_id} never reached {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
