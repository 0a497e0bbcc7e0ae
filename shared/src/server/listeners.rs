//! The sockets a service serves on: the public listener, an optional admin listener for health and
//! metrics, and the TLS both speak when a certificate is configured.

use std::net::TcpListener;

use anyhow::Context;

use super::tls::{ServerTls, TlsSettings};

/// Where a service listens: its `listen_addr`, `admin_listen_addr` and `tls` settings.
#[derive(Debug, Clone, Copy)]
pub struct ListenSettings<'a> {
    /// `host:port` of the public listener.
    pub listen_addr: &'a str,
    /// `host:port` of `/healthz`, `/readyz` and `/metrics`; empty: they are on the public listener.
    pub admin_listen_addr: &'a str,
    pub tls: &'a TlsSettings,
    /// The service's environment prefix (`AUTH`), to name the setting in an error.
    pub env_prefix: &'a str,
}

/// Bound sockets, ready for [`super::HttpService::start`].
pub struct Listeners {
    pub public: TcpListener,
    pub admin: Option<TcpListener>,
    pub tls: Option<ServerTls>,
}

impl Listeners {
    /// Binds what `settings` name and loads the certificate; an error names the setting at fault.
    pub fn bind(settings: ListenSettings<'_>) -> anyhow::Result<Listeners> {
        let prefix = settings.env_prefix;
        let public = TcpListener::bind(settings.listen_addr)
            .with_context(|| format!("cannot listen on {} ({prefix}_LISTEN_ADDR)", settings.listen_addr))?;
        let admin = match settings.admin_listen_addr {
            "" => None,
            address => Some(
                TcpListener::bind(address)
                    .with_context(|| format!("cannot listen on {address} ({prefix}_ADMIN_LISTEN_ADDR)"))?,
            ),
        };
        let tls =
            ServerTls::load(settings.tls).with_context(|| format!("{prefix}_TLS__CERT_FILE, _KEY_FILE"))?;
        Ok(Listeners { public, admin, tls })
    }

    /// Whether the public listener speaks TLS (for the URLs a service prints or publishes).
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// One plain listener, health and metrics on it: what tests and benchmarks bind.
impl From<TcpListener> for Listeners {
    fn from(public: TcpListener) -> Listeners {
        Listeners {
            public,
            admin: None,
            tls: None,
        }
    }
}
