//! A TCP proxy that a test can cut, to see how a service behaves when its database or broker goes
//! away (without stopping the PostgreSQL or RabbitMQ that other tests share).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct FaultProxy {
    pub port: u16,
    cut: watch::Sender<bool>,
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
        let (cut, watcher) = watch::channel(false);
        let upstream = upstream.to_owned();
        let forwarded = Arc::new(AtomicUsize::new(0));
        let counted = forwarded.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *watcher.borrow() {
                    continue; // Cut: accept and drop, as a dead server behind a live port would.
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let mut watcher = watcher.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut inbound, mut outbound) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watcher.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        FaultProxy { port, cut, forwarded }
    }

    /// How many connections were forwarded (accepted while not cut) since the start.
    pub fn connections(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}
