//! The connection supervisor: one per process. It connects with back-off, declares the topology,
//! opens a confirm-mode publishing channel, starts the registered consumers, and does all of that
//! again after any connection or channel loss. (lapin's own auto-recovery does not re-declare
//! topology or restart consumers reliably, so we do not use it: a lost link is thrown away whole.)
//! Readiness reports false while there is no link.
//!
//! - Before a lost link is thrown away, the consumers finish the message in hand (up to the
//!   consumer grace): cancelled mid-way, an email half sent may still be delivered and then sent
//!   again. Their acks then fail and the broker redelivers, which their idempotence absorbs.
//! - A link that fails sooner than `reconnect.max_ms` after it was made counts as a failed attempt,
//!   so a consumer that stops at once (refused `basic.consume`, a failed `basic_qos`) makes the
//!   supervisor back off instead of reconnecting in a loop.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::settings::AmqpSettings;
use super::topology::Topology;
use crate::health::ReadinessCheck;

/// How often the supervisor looks at the link's state besides listening to its events.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How long consumers may take to finish the message in hand once the link is lost or the
/// supervisor stops, unless [`Supervisor::set_consumer_grace`] says otherwise.
const DEFAULT_CONSUMER_GRACE: Duration = Duration::from_secs(30);

/// A consumer: given a fresh channel on a fresh connection, it consumes until the channel fails
/// (it returns) or `stop` is cancelled (it finishes the message in hand, then returns).
pub type ConsumerFn =
    Arc<dyn Fn(Channel, CancellationToken) -> BoxFuture<'static, ()> + Send + Sync + 'static>;

/// The current link to the broker.
#[derive(Clone)]
pub struct Link {
    pub connection: Arc<Connection>,
    /// In confirm mode; shared by every publisher of the process.
    pub publish_channel: Channel,
}

/// Handle on the supervisor; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AmqpSettings,
    topology: Topology,
    link: watch::Sender<Option<Link>>,
    consumers: Mutex<Vec<ConsumerFn>>,
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Milliseconds consumers get to finish the message in hand.
    consumer_grace_ms: AtomicU64,
}

impl Supervisor {
    /// A supervisor that is not connected yet; register consumers, then [`start`](Self::start).
    pub fn new(settings: AmqpSettings, topology: Topology) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                settings,
                topology,
                link: watch::channel(None).0,
                consumers: Mutex::default(),
                stop: CancellationToken::new(),
                task: Mutex::default(),
                consumer_grace_ms: AtomicU64::new(DEFAULT_CONSUMER_GRACE.as_millis() as u64),
            }),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    pub fn settings(&self) -> &AmqpSettings {
        &self.inner.settings
    }

    /// Registers a consumer, started on every (re)connection.
    pub fn add_consumer<F, Fut>(&self, consumer: F)
    where
        F: Fn(Channel, CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let consumer: ConsumerFn = Arc::new(move |channel, stop| Box::pin(consumer(channel, stop)));
        self.lock_consumers().push(consumer);
    }

    fn lock_consumers(&self) -> std::sync::MutexGuard<'_, Vec<ConsumerFn>> {
        self.inner
            .consumers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// How long consumers may take to finish the message in hand when the link is lost or the
    /// supervisor stops (30 s unless set); past it they are cancelled.
    pub fn set_consumer_grace(&self, grace: Duration) {
        self.inner
            .consumer_grace_ms
            .store(grace.as_millis() as u64, Ordering::Relaxed);
    }

    fn consumer_grace(&self) -> Duration {
        Duration::from_millis(self.inner.consumer_grace_ms.load(Ordering::Relaxed))
    }

    /// Starts supervising in the background (inside the tokio runtime).
    pub fn start(&self) {
        let supervisor = self.clone();
        let task = tokio::spawn(async move { supervisor.supervise().await });
        *self
            .inner
            .task
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(task);
    }

    /// Stops: consumers finish the message in hand and return, then the connection closes.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The current link, if connected.
    pub fn link(&self) -> Option<Link> {
        self.inner.link.borrow().clone()
    }

    pub fn is_connected(&self) -> bool {
        self.inner.link.borrow().is_some()
    }

    /// Waits until connected, at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Option<Link> {
        let mut watcher = self.inner.link.subscribe();
        let connected = tokio::time::timeout(timeout, watcher.wait_for(Option::is_some)).await;
        match connected {
            Ok(Ok(link)) => link.clone(),
            _ => None,
        }
    }

    /// `/readyz`: false while there is no link to the broker.
    pub fn readiness_check(&self) -> ReadinessCheck {
        let supervisor = self.clone();
        Box::new(move || {
            let connected = supervisor.is_connected();
            Box::pin(async move {
                if connected {
                    Ok(())
                } else {
                    Err("not connected to the message broker".to_owned())
                }
            })
        })
    }

    async fn supervise(&self) {
        let settings = &self.inner.settings;
        let mut failures: u32 = 0;
        while !self.inner.stop.is_cancelled() {
            let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
            let connected = tokio::select! {
                _ = self.inner.stop.cancelled() => break,
                outcome = tokio::time::timeout(connect_timeout, self.connect()) => outcome,
            };
            match connected {
                Ok(Ok((connection, publish_channel))) => {
                    if failures > 0 {
                        tracing::info!(attempts = failures + 1, "connected to the message broker again");
                    } else {
                        tracing::info!("connected to the message broker");
                    }
                    let made = tokio::time::Instant::now();
                    self.hold(connection, publish_channel).await;
                    // A link that failed at once counts as a failed attempt: the next one waits.
                    let stable = Duration::from_millis(settings.reconnect.max_ms);
                    failures = if made.elapsed() < stable { failures + 1 } else { 0 };
                }
                Ok(Err(error)) => {
                    failures += 1;
                    tracing::warn!(%error, attempt = failures, "cannot connect to the message broker");
                }
                Err(_) => {
                    failures += 1;
                    tracing::warn!(attempt = failures, "connecting to the message broker timed out");
                }
            }
            if failures > 0 {
                let delay = settings.reconnect.delay(failures.saturating_sub(1));
                tokio::select! {
                    _ = self.inner.stop.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }

    async fn connect(&self) -> lapin::Result<(Connection, Channel)> {
        let settings = &self.inner.settings;
        let uri = with_heartbeat(settings.url.expose_secret(), settings.heartbeat_secs);
        let properties = ConnectionProperties::default()
            .with_connection_name(std::env::args().next().unwrap_or_default().into());
        let connection = Connection::connect(&uri, properties).await?;
        let publish_channel = connection.create_channel().await?;
        publish_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.inner.topology.declare(&publish_channel).await?;
        Ok((connection, publish_channel))
    }

    /// Publishes the link, runs the consumers, and returns once the link is lost (or on stop).
    async fn hold(&self, connection: Connection, publish_channel: Channel) {
        let connection = Arc::new(connection);
        let mut events = connection.events_listener();
        let consumer_stop = CancellationToken::new();
        let mut consumers = JoinSet::new();
        let registered: Vec<ConsumerFn> = self.lock_consumers().clone();
        for consumer in registered {
            match connection.create_channel().await {
                Ok(channel) => {
                    consumers.spawn(consumer(channel, consumer_stop.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot open a consumer channel");
                    return;
                }
            }
        }
        self.inner.link.send_replace(Some(Link {
            connection: connection.clone(),
            publish_channel: publish_channel.clone(),
        }));

        let mut ticker = tokio::time::interval(WATCH_INTERVAL);
        let stopping = loop {
            tokio::select! {
                _ = self.inner.stop.cancelled() => break true,
                event = events.next() => {
                    if let Some(lapin::Event::Error(error)) = event {
                        tracing::warn!(%error, "the link to the message broker failed");
                        break false;
                    }
                }
                // A consumer returning on its own means its channel failed.
                Some(_) = consumers.join_next(), if !consumers.is_empty() => {
                    tracing::warn!("a consumer stopped; reconnecting");
                    break false;
                }
                _ = ticker.tick() => {
                    if !connection.status().connected() || !publish_channel.status().connected() {
                        tracing::warn!("the link to the message broker is down");
                        break false;
                    }
                }
            }
        };
        self.inner.link.send_replace(None);
        consumer_stop.cancel();
        self.let_consumers_finish(&mut consumers, stopping).await;
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            connection.close(200, "shutting down".into()),
        )
        .await;
    }

    /// Waits (at most the consumer grace) for every consumer to finish the message in hand, then
    /// cancels those still running. On a stop their acks go through; on a lost link they fail and
    /// the broker redelivers, but no send is cut off half way.
    async fn let_consumers_finish(&self, consumers: &mut JoinSet<()>, stopping: bool) {
        let all_finished = async { while consumers.join_next().await.is_some() {} };
        if tokio::time::timeout(self.consumer_grace(), all_finished)
            .await
            .is_err()
        {
            tracing::warn!(
                stopping,
                grace_ms = self.consumer_grace().as_millis() as u64,
                "consumers did not finish the message in hand in time; cancelling them",
            );
            consumers.abort_all();
        }
    }
}

/// Adds `heartbeat=N` to the URI unless it sets one itself.
fn with_heartbeat(uri: &str, heartbeat_secs: u16) -> String {
    if uri.contains("heartbeat=") {
        return uri.to_owned();
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}heartbeat={heartbeat_secs}")
}

#[cfg(test)]
mod tests {
    use super::with_heartbeat;

    #[test]
    fn the_heartbeat_is_added_unless_the_uri_sets_one() {
        assert_eq!(with_heartbeat("amqp://h/%2f", 5), "amqp://h/%2f?heartbeat=5");
        assert_eq!(
            with_heartbeat("amqp://h/%2f?frame_max=1", 5),
            "amqp://h/%2f?frame_max=1&heartbeat=5"
        );
        assert_eq!(
            with_heartbeat("amqp://h/?heartbeat=9", 5),
            "amqp://h/?heartbeat=9"
        );
    }
}
