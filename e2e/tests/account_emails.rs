//! Account emails end to end: the auth-server writes them to its outbox, its relay publishes them to
//! the real RabbitMQ, the email-service delivers them to an SMTP sink. Both services reach the
//! shared broker through a fault proxy, so a test can take the broker away from them (and only
//! them: other tests share this RabbitMQ); the outage test with `rabbitmqctl stop_app` runs its own
//! RabbitMQ node.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::collections::HashSet;
use std::net::TcpListener;
use std::time::Duration;

use diesel::prelude::*;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::messaging::outbox::outbox_messages;
use shared::testing::TestDatabase;
use shared::testing::amqp::{PrivateBroker, TopologyGuard, unique_namespace};
use shared::testing::fault_proxy::FaultProxy;
use shared::testing::html::hidden_field;
use shared::testing::smtp_sink::{SinkMessage, SmtpSink};

/// Generous: CI runs these next to the jobs-service's million-row purges.
const WAIT: Duration = Duration::from_secs(60);
/// The relays' lease, short so that a claim a relay leaves behind is taken over within a test.
const RELAY_LEASE_SECS: i64 = 2;

/// The auth-server and the email-service on their own databases, a broker namespace, a sink.
struct Platform {
    issuer: String,
    /// The auth-server's settings, for a second replica on the same database.
    auth_settings: auth_server::configuration::Settings,
    auth_pool: shared::db::DbPool,
    sink: SmtpSink,
    broker: Option<FaultProxy>,
    http: reqwest::Client,
    _databases: (TestDatabase, TestDatabase),
    _topology: TopologyGuard,
}

/// The platform on the shared broker, behind a fault proxy.
async fn start_platform() -> Platform {
    let broker = FaultProxy::start("127.0.0.1:5672").await;
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port);
    let mut platform = start_platform_on(url).await;
    platform.broker = Some(broker);
    platform
}

/// The platform on the broker at `amqp_url`.
async fn start_platform_on(amqp_url: String) -> Platform {
    let (auth_database, email_database) = (TestDatabase::create(), TestDatabase::create());
    let sink = SmtpSink::start().await;
    let namespace = unique_namespace();
    let amqp_url = SecretString::from(amqp_url);

    let mut email = email_service::configuration::Settings::defaults().unwrap();
    email.listen_addr = "127.0.0.1:0".into();
    email.workers = 1;
    email.database.url = SecretString::from(email_database.url.clone());
    email.amqp.url = amqp_url.clone();
    email.amqp.namespace = namespace.clone();
    email.amqp.reconnect.max_ms = 500;
    email.smtp.url = SecretString::from(sink.url());
    email.consumer.retry_delays_ms = vec![200, 400];
    let topology = TopologyGuard::new(email_service::topology::topology(&namespace, &email.consumer));
    let mailer = email_service::startup::Application::build(email).await.unwrap();
    let mailer_address = format!("http://127.0.0.1:{}/readyz", mailer.port());
    tokio::spawn(mailer.run_until_stopped());

    let mut auth = auth_server::configuration::Settings::defaults().unwrap();
    auth.database.url = SecretString::from(auth_database.url.clone());
    auth.workers = 1;
    auth.keys.encryption_key = Some(SecretString::from(
        "ZTJlLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5LTMyYnk=".to_owned(),
    ));
    auth.amqp.url = amqp_url;
    auth.amqp.namespace = namespace;
    auth.amqp.reconnect.max_ms = 500;
    auth.outbox.relay.retry.max_ms = 500;
    auth.outbox.relay.lease_secs = RELAY_LEASE_SECS;
    auth.accounts.registration_enabled = true;
    // One test address plays a hundred users asking for a reset.
    auth.throttle.account_forms_per_ip.max_failures = 1000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    auth.issuer = issuer.clone();
    let auth_pool = shared::db::build_pool(&auth.database);
    let auth_settings = auth.clone();
    let server = auth_server::startup::Application::build_with_listener(auth, listener)
        .await
        .unwrap();
    tokio::spawn(server.run_until_stopped());
    // The email-service is connected (its queues are declared, its consumers run) before a test
    // takes the broker away.
    let deadline = tokio::time::Instant::now() + WAIT;
    while reqwest::get(&mailer_address)
        .await
        .map(|answer| answer.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the email-service never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    Platform {
        issuer,
        auth_settings,
        auth_pool,
        sink,
        broker: None,
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _databases: (auth_database, email_database),
        _topology: topology,
    }
}

impl Platform {
    /// Another auth-server on the same database: a second outbox relay competing for its rows.
    async fn start_second_auth_server(&self) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server =
            auth_server::startup::Application::build_with_listener(self.auth_settings.clone(), listener)
                .await
                .unwrap();
        tokio::spawn(server.run_until_stopped());
    }

    async fn page(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.issuer))
            .send()
            .await
            .unwrap()
    }

    /// Loads `page`, then posts its form to `action` with `fields` and the page's CSRF token.
    async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let html = self.page(page).await.text().await.unwrap();
        let mut form = vec![("csrf_token", hidden_field(&html, "csrf_token"))];
        form.extend(fields.iter().map(|(key, value)| (*key, value.to_string())));
        self.http
            .post(format!("{}{action}", self.issuer))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The link of an email, relative to the issuer.
    fn link(&self, email: &SinkMessage) -> String {
        email
            .link_starting_with(&self.issuer)
            .unwrap_or_else(|| panic!("a link in:\n{}", email.decoded))
            .trim_start_matches(&self.issuer)
            .to_owned()
    }

    fn pending_in_outbox(&self) -> i64 {
        let mut conn = self.auth_pool.get().unwrap();
        outbox_messages::table
            .filter(outbox_messages::published_at.is_null())
            .count()
            .get_result(&mut conn)
            .unwrap()
    }

    /// Users created straight in the auth database (registration would take a password hash each).
    fn insert_users(&self, count: usize) -> Vec<String> {
        let hash = auth_server::password::hash(&SecretString::from("a-long-password".to_owned())).unwrap();
        let mut conn = self.auth_pool.get().unwrap();
        (0..count)
            .map(|n| {
                let email = format!("user{n}@example.test");
                diesel::sql_query(
                    "INSERT INTO users (id, username, email, password_hash, disabled, created_at, \
                        updated_at, email_verified_at) \
                     VALUES ($1, $1, $2, $3, FALSE, now(), now(), now())",
                )
                .bind::<diesel::sql_types::Text, _>(format!("user{n}"))
                .bind::<diesel::sql_types::Text, _>(&email)
                .bind::<diesel::sql_types::Text, _>(&hash)
                .execute(&mut conn)
                .unwrap();
                email
            })
            .collect()
    }
}

fn token_of(link: &str) -> String {
    let query = link.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn registration_and_password_reset_emails_arrive_and_their_links_work_once() {
    let platform = start_platform().await;

    // Registration: the verification email arrives; its link confirms the address once.
    let registered = platform
        .submit(
            "/register",
            "/register",
            &[
                ("username", "grace"),
                ("email", "grace@example.test"),
                ("password", "grace-password"),
            ],
        )
        .await;
    assert_eq!(registered.status(), 200);
    let verify = &platform.sink.wait_for(1, WAIT).await[0];
    assert_eq!(verify.recipients, vec!["grace@example.test"]);
    assert_eq!(verify.subject().as_deref(), Some("Confirm your email address"));
    let link = platform.link(verify);
    let token = token_of(&link);
    let confirmed = platform
        .submit(&link, "/verify-email", &[("token", &token)])
        .await;
    assert!(confirmed.text().await.unwrap().contains("Address confirmed"));
    let again = platform
        .submit(&link, "/verify-email", &[("token", &token)])
        .await;
    assert_eq!(again.status(), 400);

    // Password reset: the reset email arrives; its link sets a password once; then the
    // password-changed email arrives.
    platform
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "grace@example.test")],
        )
        .await;
    let reset = platform.sink.wait_for(2, WAIT).await[1].clone();
    assert_eq!(reset.subject().as_deref(), Some("Reset your password"));
    let link = platform.link(&reset);
    let token = token_of(&link);
    let changed = platform
        .submit(
            &link,
            "/password/reset",
            &[("token", &token), ("password", "a-new-password")],
        )
        .await;
    assert!(changed.text().await.unwrap().contains("Password changed"));
    assert_eq!(
        platform.page(&link).await.status(),
        400,
        "the reset link worked once"
    );
    let notice = platform.sink.wait_for(3, WAIT).await[2].clone();
    assert_eq!(notice.subject().as_deref(), Some("Your password was changed"));
    assert_eq!(notice.recipients, vec!["grace@example.test"]);
    // Every email carries a Message-ID derived from its message id, and each is unique.
    let ids: HashSet<_> = platform
        .sink
        .messages()
        .iter()
        .map(|m| m.message_id().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn a_reset_requested_while_the_broker_is_down_succeeds_and_its_email_arrives_after() {
    let platform = start_platform().await;
    platform.insert_users(1);
    let proxy = platform.broker.as_ref().unwrap();
    proxy.cut();

    let answer = platform
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "user0@example.test")],
        )
        .await;

    assert_eq!(
        answer.status(),
        200,
        "the user's request does not depend on the broker"
    );
    assert!(answer.text().await.unwrap().contains("Check your inbox"));
    assert_eq!(platform.pending_in_outbox(), 1, "the email waits in the outbox");
    proxy.restore();
    let email = &platform.sink.wait_for(1, WAIT).await[0];
    assert_eq!(email.recipients, vec!["user0@example.test"]);
    assert_eq!(email.subject().as_deref(), Some("Reset your password"));
}

#[tokio::test]
async fn a_hundred_emails_queued_while_the_broker_is_stopped_all_arrive_exactly_once() {
    let broker = PrivateBroker::start().await;
    let platform = start_platform_on(broker.url()).await;
    // Two relays share the outbox, as two auth-server replicas do.
    platform.start_second_auth_server().await;
    let addresses = platform.insert_users(100);
    // Both services are connected and the consumer is running when the broker stops.
    platform
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", &addresses[0])],
        )
        .await;
    platform.sink.wait_for(1, WAIT).await;
    broker.stop_app().await;

    for address in &addresses[1..] {
        let answer = platform
            .submit("/password/forgot", "/password/forgot", &[("email", address)])
            .await;
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(platform.pending_in_outbox(), 99);
    broker.start_app().await;

    let delivered = platform.sink.wait_for(100, WAIT).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while platform.pending_in_outbox() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox drains");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recipients: HashSet<_> = delivered.iter().map(|m| m.recipients[0].clone()).collect();
    assert_eq!(recipients, addresses.iter().cloned().collect::<HashSet<_>>());
    // A late copy (a claim taken over after its lease, a redelivery, a retry) would come after the
    // hundredth: watch for three leases more.
    let watched_until = tokio::time::Instant::now() + Duration::from_secs(3 * RELAY_LEASE_SECS as u64);
    while tokio::time::Instant::now() < watched_until {
        assert_eq!(platform.sink.messages().len(), 100, "no email twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message_ids: HashSet<_> = platform
        .sink
        .messages()
        .iter()
        .map(|m| m.message_id().unwrap())
        .collect();
    assert_eq!(message_ids.len(), 100, "no email twice");
}
