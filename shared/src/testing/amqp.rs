//! RabbitMQ for tests: the local broker's URL, a namespace per test (every exchange and queue name
//! is prefixed with it, so tests run in parallel), and a guard that deletes the namespace's
//! exchanges and queues when the test ends.

use std::sync::atomic::{AtomicU64, Ordering};

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

use crate::messaging::topology::Topology;

static NAMESPACE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The broker the tests use: `TEST_AMQP_URL`, or the local one.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Broker settings for a test: `url` under `namespace`, short timeouts and a quick reconnect.
pub fn test_settings(url: String, namespace: &str) -> crate::messaging::settings::AmqpSettings {
    crate::messaging::settings::AmqpSettings {
        url: secrecy::SecretString::from(url),
        namespace: namespace.to_owned(),
        heartbeat_secs: 5,
        connect_timeout_ms: 2000,
        reconnect: crate::resilience::BackoffSettings {
            base_ms: 50,
            max_ms: 300,
            jitter: true,
        },
        publish_timeout_ms: 3000,
    }
}

/// A fresh namespace, `test_<unix time>_<pid>_<n>.` (`.ci/run` deletes those of killed runs after
/// three hours, as it drops their databases).
///
/// # Panics
/// When the broker does not accept a connection: every test that needs a namespace needs the broker,
/// and must fail (naming it) rather than wait for a link that never comes.
pub fn unique_namespace() -> String {
    require_broker();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "test_{}_{}_{}.",
        now.as_secs(),
        std::process::id(),
        NAMESPACE_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Panics, naming the broker and how to start it, unless its AMQP port accepts a connection.
fn require_broker() {
    let url = amqp_url();
    let authority = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .split('/')
        .next()
        .unwrap_or_default();
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|socket| {
            std::net::TcpStream::connect_timeout(&socket, std::time::Duration::from_secs(2)).is_ok()
        });
    assert!(
        reachable,
        "RabbitMQ is not reachable at {address} (TEST_AMQP_URL), and this test needs it: start it \
         (`rabbitmq-server -detached`, or .ci/run, which starts it) and run the tests again; \
         see README, Test it"
    );
}

/// Deletes a topology's exchanges and queues when dropped.
pub struct TopologyGuard {
    topology: Topology,
}

impl TopologyGuard {
    pub fn new(topology: Topology) -> TopologyGuard {
        TopologyGuard { topology }
    }
}

impl Drop for TopologyGuard {
    fn drop(&mut self) {
        let queues: Vec<String> = self.topology.queues().map(|queue| queue.name.clone()).collect();
        let exchanges = self.topology.exchanges();
        // Drop cannot await; a thread with its own small runtime does the deleting.
        let deleting = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
                else {
                    return;
                };
                let Ok(channel) = connection.create_channel().await else {
                    return;
                };
                for queue in queues {
                    let _ = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                for exchange in exchanges {
                    let _ = channel
                        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                        .await;
                }
                let _ = connection.close(200, "test over".into()).await;
            });
        });
        let _ = deleting.join();
    }
}

/// A RabbitMQ node of the test's own (same installation, its own port, data directory and node
/// name), for tests that stop and start the broker with `rabbitmqctl stop_app` / `start_app`
/// without disturbing the shared broker the other tests use. Stopped and deleted when dropped.
pub struct PrivateBroker {
    pub port: u16,
    node: String,
    directory: std::path::PathBuf,
}

impl PrivateBroker {
    /// Starts a node and waits until it accepts AMQP connections (about ten seconds).
    ///
    /// # Panics
    /// When RabbitMQ is not installed or the node does not start: the test needs it.
    pub async fn start() -> PrivateBroker {
        let port = free_port();
        let distribution_port = free_port();
        let node = format!("test_{}_{port}@localhost", std::process::id());
        let directory = std::env::temp_dir().join(format!("rabbitmq-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("create the broker's directory");
        std::fs::write(
            directory.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .expect("write the broker's configuration");
        // At-least-once dead-lettering retries a message it could not route every
        // `dead_letter_worker_publisher_confirm_timeout` (3 minutes by default): one second keeps a
        // test of it short. Only the advanced (Erlang) file can set it.
        std::fs::write(
            directory.join("advanced.config"),
            "[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 1000}]}].\n",
        )
        .expect("write the broker's advanced configuration");
        // The server runs as the rabbitmq user, which must own its directory.
        let _ = tokio::process::Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&directory)
            .status()
            .await;
        let path = |name: &str| directory.join(name).to_string_lossy().into_owned();
        let started = tokio::process::Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_CONFIG_FILE", path("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config"))
            .env("RABBITMQ_DIST_PORT", distribution_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("RABBITMQ_PID_FILE", path("pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("plugins"))
            .status()
            .await
            .expect("rabbitmq-server is installed");
        assert!(started.success(), "rabbitmq-server -detached failed");
        let broker = PrivateBroker {
            port,
            node,
            directory,
        };
        broker.await_startup().await;
        broker
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl stop_app`: the node stays up, the broker inside it stops.
    pub async fn stop_app(&self) {
        self.ctl(&["stop_app"]).await;
    }

    /// `rabbitmqctl start_app`, then waits until it accepts connections again.
    pub async fn start_app(&self) {
        self.ctl(&["start_app"]).await;
        self.await_startup().await;
    }

    /// Polls (at most a minute) until the node runs the broker: `await_startup` fails at once while
    /// the node itself is still starting.
    async fn await_startup(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.try_ctl(&["await_startup", "--timeout", "60"]).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the test broker did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    async fn ctl(&self, arguments: &[&str]) {
        assert!(self.try_ctl(arguments).await, "rabbitmqctl {arguments:?} failed");
    }

    async fn try_ctl(&self, arguments: &[&str]) -> bool {
        tokio::process::Command::new("rabbitmqctl")
            .arg("-n")
            .arg(&self.node)
            .args(arguments)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .expect("rabbitmqctl is installed")
            .success()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .arg("-n")
            .arg(&self.node)
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
