//! Certificates for TLS tests: a private CA made per test, leaves it signs for `localhost` and
//! `127.0.0.1`, and the PEM files a service's `tls` settings name.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::server::tls::TlsSettings;

/// A certificate authority that exists for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A leaf certificate and its key, PEM.
pub struct TestLeaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name` (its subject's common name).
    ///
    /// # Panics
    /// When the key or certificate cannot be made (a broken crypto provider).
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let certificate = params.self_signed(&key).expect("a self-signed CA");
        TestCa {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate, PEM: what a client that trusts it is given.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A server certificate for `localhost` and `127.0.0.1`, signed by this CA.
    pub fn leaf(&self) -> TestLeaf {
        self.leaf_for(&["localhost", "127.0.0.1"])
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    ///
    /// # Panics
    /// When the key or certificate cannot be made.
    pub fn leaf_for(&self, names: &[&str]) -> TestLeaf {
        let key = KeyPair::generate().expect("a leaf key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let params = CertificateParams::new(names).expect("leaf parameters");
        let certificate = params.signed_by(&key, &self.issuer).expect("a signed leaf");
        TestLeaf {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes a new leaf and this CA into `dir` (`cert.pem`, `key.pem`, `ca.pem`) and returns the
    /// settings that serve the leaf and trust the CA.
    ///
    /// # Panics
    /// When the files cannot be written.
    pub fn tls_settings(&self, dir: &Path) -> TlsSettings {
        let leaf = self.leaf();
        let (cert_file, key_file) = leaf.write(dir);
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &self.pem).expect("write ca.pem");
        TlsSettings {
            cert_file: path_text(&cert_file),
            key_file: path_text(&key_file),
            reload_interval_secs: 1,
            ca_file: path_text(&ca_file),
        }
    }
}

impl TestLeaf {
    /// Writes `cert.pem` and `key.pem` into `dir`, replacing what is there.
    ///
    /// # Panics
    /// When the files cannot be written.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, &self.cert_pem).expect("write cert.pem");
        std::fs::write(&key_file, &self.key_pem).expect("write key.pem");
        (cert_file, key_file)
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
