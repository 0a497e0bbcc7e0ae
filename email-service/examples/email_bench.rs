//! Throughput of the email path, from the outbox to the SMTP server: emails per second.
//!
//!     cargo run --release -p email-service --example email_bench -- [--messages 10000] [--concurrency N]
//!
//! `--concurrency` defaults to the service's `consumer.concurrency`.
//!
//! It creates two scratch databases on the local PostgreSQL (an auth database with the
//! auth-server's migrations, holding the outbox, and the email-service's own), a namespace on the
//! local RabbitMQ and an in-process SMTP sink. It writes N `email.send` commands to the outbox,
//! then starts, in this process, the outbox relay (as the auth-server runs it) and the real
//! email-service, and times until the sink has accepted all N: relay claim + publish with confirms,
//! broker, consumer (delivery record, render, SMTP, record, ack). Relay, broker, database, consumer
//! and sink share the machine's cores.

use std::time::{Duration, Instant};

use diesel_migrations::embed_migrations;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::db::Migrations;
use shared::messaging::bus::Bus;
use shared::messaging::contracts::{EmailTemplate, Envelope, SendEmail};
use shared::messaging::publisher::Publisher;
use shared::messaging::relay::{OutboxRelay, RelaySettings};
use shared::messaging::supervisor::Supervisor;
use shared::resilience::BackoffSettings;
use shared::testing::TestDatabase;
use shared::testing::amqp::{TopologyGuard, amqp_url, unique_namespace};
use shared::testing::load;
use shared::testing::smtp_sink::SmtpSink;
use tokio_util::sync::CancellationToken;

/// The auth database's schema (the outbox lives there).
const AUTH_MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("../auth-server/migrations"),
    sqlite: embed_migrations!("../auth-server/migrations"),
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: usize = load::arg("--messages").unwrap_or(10_000);
    let default_concurrency = email_service::configuration::Settings::defaults()?
        .consumer
        .concurrency;
    let concurrency = load::arg("--concurrency").unwrap_or(default_concurrency);
    let (auth_database, email_database) = (TestDatabase::create(), TestDatabase::create());
    let sink = SmtpSink::start().await;
    let namespace = unique_namespace();

    let mut settings = email_service::configuration::Settings::defaults()?;
    settings.listen_addr = "127.0.0.1:0".into();
    settings.workers = 1;
    settings.log.filter = "warn".into();
    settings.database.url = SecretString::from(email_database.url.clone());
    settings.amqp.url = SecretString::from(amqp_url());
    settings.amqp.namespace = namespace.clone();
    settings.smtp.url = SecretString::from(sink.url());
    settings.consumer.concurrency = concurrency;
    let _topology = TopologyGuard::new(email_service::topology::topology(&namespace, &settings.consumer));
    shared::telemetry::init("email-bench", &settings.log);

    let auth_pool = shared::db::build_pool(&shared::configuration::DatabaseSettings {
        url: SecretString::from(auth_database.url.clone()),
        ..settings.database.clone()
    });
    fill_outbox(&auth_pool, messages).await?;

    // The relay's link declares the email queues too, so nothing it publishes is unroutable while
    // the email-service is still connecting.
    let supervisor = Supervisor::new(
        settings.amqp.clone(),
        email_service::topology::topology(&namespace, &settings.consumer),
    );
    supervisor.start();
    supervisor
        .wait_connected(Duration::from_secs(10))
        .await
        .ok_or_else(|| anyhow::anyhow!("cannot reach RabbitMQ"))?;
    let service = email_service::startup::Application::build(settings.clone()).await?;
    let stop_service = service.stop_handle();
    let service = tokio::spawn(service.run_until_stopped());

    let started = Instant::now();
    let stop = CancellationToken::new();
    let relay = OutboxRelay::start(
        auth_pool,
        Bus::RabbitMq(Publisher::new(supervisor.clone())),
        relay_settings(),
        stop.clone(),
    );
    relay.nudge();
    sink.wait_for(messages, Duration::from_secs(3600)).await;
    let elapsed = started.elapsed();
    // Stop everything that would declare the topology again before the guard deletes it.
    stop.cancel();
    stop_service.stop(true).await;
    service.await??;
    supervisor.shutdown().await;

    let accepted = sink.messages().len();
    println!(
        "{messages} emails, outbox -> relay -> RabbitMQ -> email-service ({concurrency} consumers) -> \
        SMTP sink"
    );
    println!(
        "  {:.1} s, {:.0} emails/s; the sink accepted {accepted} (duplicates: {})",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        accepted - messages
    );
    Ok(())
}

/// `messages` commands in the outbox, as that many account flows would leave them.
async fn fill_outbox(pool: &shared::db::DbPool, messages: usize) -> anyhow::Result<()> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = pool.get()?;
        shared::db::run_migrations(&mut conn, AUTH_MIGRATIONS)?;
        for n in 0..messages {
            let envelope = Envelope::new(
                SendEmail {
                    to: format!("user{n}@example.test"),
                    template: EmailTemplate::PasswordReset,
                    variables: [
                        ("username", format!("user{n}")),
                        ("link", format!("https://id.example/password/reset?token=oal_{n}")),
                        ("expires_in_minutes", "60".to_owned()),
                    ]
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), value))
                    .collect(),
                },
                None,
            );
            shared::messaging::outbox::enqueue(&mut conn, &envelope)?;
        }
        Ok(())
    })
    .await?
}

/// A relay that publishes as the auth-server's does.
fn relay_settings() -> RelaySettings {
    RelaySettings {
        batch_size: 200,
        poll_interval_ms: 1000,
        lease_secs: 30,
        retry: BackoffSettings {
            base_ms: 200,
            max_ms: 2000,
            jitter: true,
        },
    }
}
