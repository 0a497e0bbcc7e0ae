//! TLS on a service's listeners (rustls on aws-lc-rs): a certificate chain and a private key read
//! from PEM files, and read again when they change, so a renewed certificate (cert-manager writes
//! the Secret's files anew) is served from the next handshake without a restart. A renewal that
//! cannot be read, or whose key does not match its certificate, is logged and the certificate in
//! use stays.
//!
//! And what a service's own HTTPS clients trust ([`TlsSettings::trust`]): the system's roots, plus
//! the CA bundle of `tls.ca_file` (a cluster's private CA) when one is set. Verification is never
//! turned off.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Deserialize;

/// TLS for the listeners of one service (a `tls` section of its settings).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TlsSettings {
    /// The certificate chain, PEM, leaf first. Empty: the listeners speak plain HTTP.
    #[serde(default)]
    pub cert_file: String,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: String,
    /// How often the two files are checked for a change.
    #[serde(default = "default_reload_interval_secs")]
    pub reload_interval_secs: u64,
    /// CA certificates (PEM) the service's HTTPS clients trust besides the system's roots. Empty:
    /// the system's roots only.
    #[serde(default)]
    pub ca_file: String,
}

fn default_reload_interval_secs() -> u64 {
    10
}

impl TlsSettings {
    /// Whether the listeners serve TLS.
    pub fn is_enabled(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty()
    }

    /// `builder`, trusting `ca_file`'s certificates besides the system's roots.
    pub fn trust(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, TlsError> {
        Ok(builder.tls_certs_merge(self.ca_certificates()?))
    }

    /// The certificates of `ca_file` (none when it is empty), read once for a caller that builds
    /// several clients: merge them with `reqwest::ClientBuilder::tls_certs_merge`.
    pub fn ca_certificates(&self) -> Result<Vec<reqwest::Certificate>, TlsError> {
        if self.ca_file.is_empty() {
            return Ok(Vec::new());
        }
        let unreadable = |error: &dyn std::fmt::Display| {
            TlsError(format!(
                "cannot read the CA bundle {} (tls.ca_file): {error}",
                self.ca_file
            ))
        };
        let pem = std::fs::read(&self.ca_file).map_err(|error| unreadable(&error))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| unreadable(&error))?;
        if certificates.is_empty() {
            return Err(unreadable(&"no CERTIFICATE in the file"));
        }
        Ok(certificates)
    }
}

/// Why the certificate or key could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// A listener's TLS: the rustls configuration, whose certificate follows the files.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    certificate: Arc<ReloadingCertificate>,
    reload_interval: Duration,
}

impl ServerTls {
    /// The TLS of `settings`, or `None` when it is off. Both files must be readable now, and the
    /// key must match the certificate.
    pub fn load(settings: &TlsSettings) -> Result<Option<ServerTls>, TlsError> {
        if !settings.is_enabled() {
            return Ok(None);
        }
        if settings.cert_file.is_empty() || settings.key_file.is_empty() {
            return Err(TlsError(
                "tls.cert_file and tls.key_file go together: set both, or neither for plain HTTP".to_owned(),
            ));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certificate = Arc::new(ReloadingCertificate::load(
            PathBuf::from(&settings.cert_file),
            PathBuf::from(&settings.key_file),
            provider.clone(),
        )?);
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError(format!("cannot set up TLS: {error}")))?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        Ok(Some(ServerTls {
            config: Arc::new(config),
            certificate,
            reload_interval: Duration::from_secs(settings.reload_interval_secs.max(1)),
        }))
    }

    /// The configuration for actix's `listen_rustls_0_23` (every copy shares the certificate).
    pub fn config(&self) -> ServerConfig {
        (*self.config).clone()
    }

    /// Checks the files every `reload_interval_secs` for as long as the task runs.
    pub fn spawn_reloader(&self) -> tokio::task::JoinHandle<()> {
        let (certificate, interval) = (self.certificate.clone(), self.reload_interval);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let certificate = certificate.clone();
                let _ = tokio::task::spawn_blocking(move || certificate.reload_if_changed()).await;
            }
        })
    }

    /// Reads the files again now if they changed (what the reloader does on each tick); true when a
    /// new certificate is in use.
    pub fn reload_if_changed(&self) -> bool {
        self.certificate.reload_if_changed()
    }
}

/// The certificate in use, and when its files were last seen changed.
#[derive(Debug)]
struct ReloadingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ReloadingCertificate {
    fn load(cert_file: PathBuf, key_file: PathBuf, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let seen = (modified(&cert_file), modified(&key_file));
        let current = certified_key(&cert_file, &key_file, &provider)?;
        Ok(ReloadingCertificate {
            cert_file,
            key_file,
            provider,
            current: RwLock::new(Arc::new(current)),
            seen: Mutex::new(seen),
        })
    }

    fn reload_if_changed(&self) -> bool {
        let now = (modified(&self.cert_file), modified(&self.key_file));
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == now {
            return false;
        }
        match certified_key(&self.cert_file, &self.key_file, &self.provider) {
            Ok(renewed) => {
                *seen = now;
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(renewed);
                tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                true
            }
            // Files written one after the other can be caught in between: try again next tick,
            // serving the certificate that works meanwhile.
            Err(error) => {
                tracing::error!(%error, "the renewed TLS certificate is unusable; keeping the current one");
                false
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
}

fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let unreadable = |file: &Path, what: &str, error: &dyn std::fmt::Display| {
        TlsError(format!("cannot read the TLS {what} {}: {error}", file.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|error| unreadable(cert_file, "certificate", &error))?
        .collect::<Result<_, _>>()
        .map_err(|error| unreadable(cert_file, "certificate", &error))?;
    if chain.is_empty() {
        return Err(unreadable(
            cert_file,
            "certificate",
            &"no CERTIFICATE in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|error| unreadable(key_file, "key", &error))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| unreadable(key_file, "key", &error))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|error| {
        TlsError(format!(
            "the TLS key {} does not belong to the certificate {}: {error}",
            key_file.display(),
            cert_file.display()
        ))
    })?;
    Ok(certified)
}
