//! Each service's settings in the one-process platform, in four layers: the service's built-in
//! defaults, the platform's profile of it (`configuration/<service>.yaml`), the environment (the
//! variables each service documents: `AUTH_LISTEN_ADDR`, `GATEWAY_CACHE__MAX_TTL_SECS`,
//! `SMTP_URL`, ...), and last what the platform decides itself because it is one process: the
//! addresses the services find each other at, the one SQLite database, the key-encryption key and
//! the gateway's credentials. `DATABASE_URL` and `AMQP_URL` are therefore not used here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use secrecy::SecretString;
use shared::configuration::{ConfigError, Layered};

use crate::credentials::DemoCredentials;
use crate::error::StartError;

type AuthSettings = auth_server::configuration::Settings;
type GatewaySettings = resource_gateway::configuration::Settings;
type EmailSettings = email_service::configuration::Settings;
type JobsSettings = jobs_service::configuration::Settings;

/// Where the demo app listens unless `PLATFORM_DEMO_LISTEN_ADDR` says otherwise.
const DEMO_LISTEN_ADDR: &str = "127.0.0.1:8084";

/// The settings of everything the platform runs.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    pub auth: AuthSettings,
    pub gateway: GatewaySettings,
    pub email: EmailSettings,
    pub jobs: JobsSettings,
    /// The demo app and echo upstream (`PLATFORM_DEMO_LISTEN_ADDR`).
    pub demo_listen_addr: String,
    /// `AUTH_ISSUER`, when the environment sets one (otherwise the auth-server's address).
    issuer: Option<String>,
}

/// The base URLs the services reach each other at, once their listeners are bound.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub gateway: String,
    pub auth: String,
    pub email: String,
    pub jobs: String,
    pub demo: String,
}

impl Addresses {
    /// `http://host:port` of each bound listener (a wildcard address is reached on the loopback).
    pub fn of(
        gateway: SocketAddr,
        auth: SocketAddr,
        email: SocketAddr,
        jobs: SocketAddr,
        demo: SocketAddr,
    ) -> Self {
        Addresses {
            gateway: base_url(gateway),
            auth: base_url(auth),
            email: base_url(email),
            jobs: base_url(jobs),
            demo: base_url(demo),
        }
    }
}

fn base_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

impl PlatformSettings {
    /// The first three layers, from `environment` (the process's, or a test's).
    pub fn load(environment: &[(String, String)]) -> Result<PlatformSettings, StartError> {
        let invalid = |service: &str, error: ConfigError| StartError::new(format!("{service}: {error}"));
        let mut email = EmailSettings::load_with_overlay(
            include_str!("../configuration/email-service.yaml"),
            environment,
        )
        .map_err(|error| invalid("email-service", error))?;
        // "SMTP_URL sends real mail instead" of the mailbox.
        if variable(environment, "SMTP_URL").is_some() && variable(environment, "EMAIL_TRANSPORT").is_none() {
            email.transport = email_service::configuration::TransportKind::Smtp;
        }
        Ok(PlatformSettings {
            auth: AuthSettings::load_with_overlay(
                include_str!("../configuration/auth-server.yaml"),
                environment,
            )
            .map_err(|error| invalid("auth-server", error))?,
            gateway: GatewaySettings::load_with_overlay(
                include_str!("../configuration/resource-gateway.yaml"),
                environment,
            )
            .map_err(|error| invalid("resource-gateway", error))?,
            email,
            jobs: JobsSettings::load_with_overlay(
                include_str!("../configuration/jobs-service.yaml"),
                environment,
            )
            .map_err(|error| invalid("jobs-service", error))?,
            demo_listen_addr: variable(environment, "PLATFORM_DEMO_LISTEN_ADDR")
                .unwrap_or_else(|| DEMO_LISTEN_ADDR.to_owned()),
            issuer: variable(environment, "AUTH_ISSUER"),
        })
    }

    /// The public base URL of the auth-server: `AUTH_ISSUER`, or where it listens.
    pub fn issuer(&self, addresses: &Addresses) -> String {
        self.issuer.clone().unwrap_or_else(|| addresses.auth.clone())
    }

    /// The last layer: what makes the four services one platform.
    pub fn wire(
        &mut self,
        addresses: &Addresses,
        database_url: &str,
        key_encryption_key: SecretString,
        credentials: &DemoCredentials,
        routes_file: &Path,
        identity_key_file: &Path,
    ) {
        let issuer = self.issuer(addresses);
        let database = SecretString::from(database_url.to_owned());
        self.auth.database.url = database.clone();
        self.auth.issuer = issuer.clone();
        self.auth.keys.encryption_key = Some(key_encryption_key);
        self.auth.outbox.relay_enabled = true;
        self.gateway.introspection.url = format!("{}/oauth2/introspect", addresses.auth);
        self.gateway.introspection.client_id = credentials.gateway_client_id.clone();
        self.gateway.introspection.client_secret =
            SecretString::from(credentials.gateway_client_secret.clone());
        if self.gateway.identity.signing_key_file.is_empty() {
            self.gateway.identity.signing_key_file = identity_key_file.display().to_string();
        }
        if self.gateway.routes_file.is_empty() {
            self.gateway.routes_file = routes_file.display().to_string();
        }
        self.email.database.url = database.clone();
        self.jobs.database.url = database;
        self.jobs.auth_public_url = issuer;
    }
}

fn variable(environment: &[(String, String)], name: &str) -> Option<String> {
    environment
        .iter()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn the_profiles_apply_over_the_defaults_and_the_environment_over_the_profiles() {
        let settings = PlatformSettings::load(&environment(&[("GATEWAY_CACHE__MAX_TTL_SECS", "7")])).unwrap();

        assert!(settings.auth.accounts.registration_enabled);
        assert_eq!(
            settings.email.transport,
            email_service::configuration::TransportKind::Mailbox
        );
        assert_eq!(settings.gateway.cache.max_ttl_secs, 7);
        assert_eq!(settings.auth.listen_addr, "127.0.0.1:8081");
        assert_eq!(settings.demo_listen_addr, DEMO_LISTEN_ADDR);
    }

    #[test]
    fn smtp_url_sends_real_mail_instead_of_the_mailbox() {
        let settings =
            PlatformSettings::load(&environment(&[("SMTP_URL", "smtp://127.0.0.1:2525")])).unwrap();

        assert_eq!(
            settings.email.transport,
            email_service::configuration::TransportKind::Smtp
        );
    }

    #[test]
    fn a_wildcard_address_is_reached_on_the_loopback() {
        assert_eq!(base_url("0.0.0.0:8081".parse().unwrap()), "http://127.0.0.1:8081");
        assert_eq!(base_url("127.0.0.1:9".parse().unwrap()), "http://127.0.0.1:9");
    }
}
