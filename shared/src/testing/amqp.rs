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

/// A fresh namespace (`test_<pid>_<n>_<nanos>.`).
pub fn unique_namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or(0);
    format!(
        "test_{}_{}_{nanos}.",
        std::process::id(),
        NAMESPACE_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Deletes a topology's exchanges and queues when dropped.
pub struct TopologyGuard {
    topology: Topology,
    extra_queues: Vec<String>,
}

impl TopologyGuard {
    pub fn new(topology: Topology) -> TopologyGuard {
        TopologyGuard {
            topology,
            extra_queues: Vec::new(),
        }
    }

    /// Also deletes `queue` (one a test declared itself).
    pub fn also_queue(&mut self, queue: String) {
        self.extra_queues.push(queue);
    }
}

impl Drop for TopologyGuard {
    fn drop(&mut self) {
        let mut queues: Vec<String> = self.topology.queues().map(|queue| queue.name.clone()).collect();
        queues.append(&mut self.extra_queues);
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
