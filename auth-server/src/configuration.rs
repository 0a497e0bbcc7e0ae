//! The auth-server's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use serde::Deserialize;
use shared::configuration::{ConfigError, DatabaseSettings, Layered, ShutdownSettings};
use shared::messaging::relay::RelaySettings;
use shared::messaging::settings::AmqpSettings;
use shared::telemetry::LogSettings;

/// Every setting of the auth-server.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`AUTH_LISTEN_ADDR`).
    pub listen_addr: String,
    /// `host:port` of `/healthz`, `/readyz` and `/metrics` (`AUTH_ADMIN_LISTEN_ADDR`); empty: they are
    /// served on `listen_addr`.
    pub admin_listen_addr: String,
    /// TLS of the listeners, and the CA bundle the service's HTTPS clients trust (`AUTH_TLS__*`).
    pub tls: shared::server::tls::TlsSettings,
    /// The public base URL of this server (`AUTH_ISSUER`): the `iss` of every response and the base of
    /// every endpoint URL in the metadata.
    pub issuer: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub shutdown: ShutdownSettings,
    pub tokens: TokenSettings,
    pub oauth: OAuthSettings,
    pub throttle: ThrottleSettings,
    pub keys: KeySettings,
    pub oidc: OidcSettings,
    pub accounts: AccountSettings,
    /// The broker the outbox relay publishes to (`AMQP_URL`).
    pub amqp: AmqpSettings,
    pub outbox: OutboxSettings,
}

/// Self-service accounts: registration, email verification, password reset.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountSettings {
    /// Whether anyone may create an account at `/register`.
    pub registration_enabled: bool,
    /// Scopes a self-registered user may hold (space-separated; names missing from the catalogue
    /// are skipped).
    pub registration_scope: String,
    /// Whether a user must have confirmed their address before they can sign in.
    pub require_verified_email: bool,
    pub verification_link_ttl_secs: u64,
    pub password_reset_link_ttl_secs: u64,
    /// Account emails (verification, reset) one user can be sent per hour; more requests get the
    /// same answer but no email (no mail bombing through our forms).
    pub max_emails_per_hour: i64,
}

/// The transactional outbox and its relay.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    /// Run the relay in this process. Off only where another process relays this database's
    /// outbox: messages wait in the outbox until one does.
    pub relay_enabled: bool,
    pub relay: RelaySettings,
}

/// Lifetimes of what the server issues.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSettings {
    pub authorization_code_ttl_secs: u64,
    pub access_token_ttl_secs: u64,
    /// Each rotation starts a new lifetime, so this is how long an unused grant stays alive.
    pub refresh_token_ttl_secs: u64,
    /// How long a user has to log in and consent after the client sent them to /oauth2/authorize.
    pub authorization_request_ttl_secs: u64,
    pub login_session_ttl_secs: u64,
}

/// Protocol policy.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthSettings {
    /// PKCE is always required of public clients; this requires it of confidential ones too.
    pub require_pkce_for_confidential_clients: bool,
    /// How long a client's registration is cached in memory. A secret rotated or a client deleted
    /// by the CLI takes up to this long to be noticed by a running server; 0 disables the cache.
    pub client_cache_ttl_ms: u64,
}

/// Limits on guessing.
#[derive(Debug, Clone, Deserialize)]
pub struct ThrottleSettings {
    /// Reverse proxies between clients and this server that append to `X-Forwarded-For`; 0 when
    /// clients connect directly. It decides which address the per-address limits count.
    pub trusted_proxies: usize,
    pub login_per_account_and_ip: FailureLimit,
    pub login_per_ip: FailureLimit,
    pub client_authentication: FailureLimit,
    /// Submissions of the account forms (register, forgot and reset password, verification) per
    /// address, successful or not: every one may cost an argon2 hash or an email.
    pub account_forms_per_ip: FailureLimit,
    /// `GET /oauth2/authorize` requests per address: each one stores a pending request (up to a
    /// few KB, kept `authorization_request_ttl_secs`) before anyone has signed in.
    pub authorization_requests_per_ip: FailureLimit,
}

/// The id_token signing keys (see `oidc::keys`).
#[derive(Debug, Clone, Deserialize)]
pub struct KeySettings {
    /// Base64 of 32 random bytes (`AUTH_KEYS__ENCRYPTION_KEY`): seals the private keys at rest.
    /// Required to serve; never put in a YAML file.
    pub encryption_key: Option<secrecy::SecretString>,
    /// While the key-encryption key changes (`AUTH_KEYS__PREVIOUS_ENCRYPTION_KEY`): the key that
    /// sealed what `keys reseal` has not yet sealed again. Opens, never seals.
    #[serde(default)]
    pub previous_encryption_key: Option<secrecy::SecretString>,
    /// A key older than this is replaced by the scheduled rotation.
    pub rotation_interval_secs: u64,
    /// How often each replica checks whether a rotation is due (0: never; `keys rotate` still works).
    pub rotation_check_interval_secs: u64,
}

/// OpenID Connect policy.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcSettings {
    pub id_token_ttl_secs: u64,
    /// Whether RP-initiated logout also revokes the tokens issued in the ended session.
    pub logout_revokes_tokens: bool,
    /// Per-user attributes released by userinfo: scope name -> claim names.
    #[serde(default)]
    pub custom_claims: std::collections::BTreeMap<String, Vec<String>>,
}

/// At most `max_failures` failures per `window_secs`; past that, even a correct attempt is refused
/// until the window ends.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct FailureLimit {
    pub max_failures: u32,
    pub window_secs: u64,
}

impl Layered for Settings {
    const DEFAULTS: &'static str = include_str!("../configuration/base.yaml");
    const ENV_PREFIX: &'static str = "AUTH";

    fn validated(self) -> Result<Settings, ConfigError> {
        self.validate()
    }
}

impl Settings {
    fn validate(mut self) -> Result<Settings, ConfigError> {
        self.issuer = validate_issuer(&self.issuer)?;
        let tokens = &self.tokens;
        for (name, secs) in [
            (
                "tokens.authorization_code_ttl_secs",
                tokens.authorization_code_ttl_secs,
            ),
            ("tokens.access_token_ttl_secs", tokens.access_token_ttl_secs),
            ("tokens.refresh_token_ttl_secs", tokens.refresh_token_ttl_secs),
            (
                "tokens.authorization_request_ttl_secs",
                tokens.authorization_request_ttl_secs,
            ),
            ("tokens.login_session_ttl_secs", tokens.login_session_ttl_secs),
            ("oidc.id_token_ttl_secs", self.oidc.id_token_ttl_secs),
            ("keys.rotation_interval_secs", self.keys.rotation_interval_secs),
        ] {
            if secs > MAX_LIFETIME_SECS {
                return Err(ConfigError::new(format!(
                    "{name} = {secs} is more than ten years"
                )));
            }
        }
        Ok(self)
    }

    /// Whether cookies must be `Secure` (the issuer is served over https).
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The absolute URL of one of our endpoints.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The longest lifetime accepted for anything the server issues.
const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// RFC 8414 §2: an https URL with no query or fragment (http is accepted for local use). A trailing
/// slash is removed so endpoint URLs join cleanly.
fn validate_issuer(issuer: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| ConfigError::new(format!("issuer {issuer:?} {why}"));
    let parsed = url::Url::parse(issuer).map_err(|_| invalid("is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid("must use https (or http for local use)"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("must not have a query or a fragment"));
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}
