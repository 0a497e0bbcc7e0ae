//! A TCP proxy that a test can cut or silence, to see how a service behaves when its database or
//! broker goes away (without stopping the PostgreSQL or RabbitMQ that other tests share).
//!
//! - [`cut`](FaultProxy::cut): every connection is closed and new ones are dropped at once, as
//!   when a server process dies (the client sees the connection end).
//! - [`silence`](FaultProxy::silence): nothing is forwarded any more, but every connection stays
//!   open and new ones are accepted, as when a partition or a power loss drops packets without a
//!   word (the client waits for an answer that never comes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut,
    Silent,
}

pub struct FaultProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Connections forwarded so far: how often a client (re)connected.
    forwarded: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Starts forwarding a local port to `upstream` (host:port).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (mode, watcher) = watch::channel(Mode::Forward);
        let upstream = upstream.to_owned();
        let forwarded = Arc::new(AtomicUsize::new(0));
        let counted = forwarded.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut watcher = watcher.clone();
                let current = *watcher.borrow();
                match current {
                    // Accept and drop, as a dead server behind a live port would.
                    Mode::Cut => continue,
                    // Hold the connection open and say nothing until the mode changes.
                    Mode::Silent => {
                        tokio::spawn(async move {
                            let _held = inbound;
                            let _ = watcher.wait_for(|mode| *mode != Mode::Silent).await;
                        });
                    }
                    Mode::Forward => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(forward(inbound, upstream.clone(), watcher));
                    }
                }
            }
        });
        FaultProxy {
            port,
            mode,
            forwarded,
        }
    }

    /// How many connections were forwarded (accepted while neither cut nor silent) since the start.
    pub fn connections(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Stops forwarding without closing anything: connections stay open and silent, new ones are
    /// accepted and never answered. [`restore`](Self::restore) then closes the silenced ones (the
    /// bytes they lost cannot be replayed) and forwards new ones.
    pub fn silence(&self) {
        self.mode.send_replace(Mode::Silent);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

/// Copies both ways until either side closes or the mode leaves `Forward`; a silenced connection
/// is then held, unread, until the mode changes again.
async fn forward(inbound: TcpStream, upstream: String, mut watcher: watch::Receiver<Mode>) {
    let Ok(outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut inbound, mut outbound) = (inbound, outbound);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
        _ = watcher.wait_for(|mode| *mode != Mode::Forward) => {}
    }
    if *watcher.borrow() == Mode::Silent {
        let _ = watcher.wait_for(|mode| *mode != Mode::Silent).await;
    }
}
