//! Layered configuration: defaults compiled into the binary, then an optional file, then environment
//! variables. `load::<Settings>(ConfigSource { .. })` is the one way a service reads its settings.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Environment variables with a platform-wide name, and the setting each one fills.
/// Every deployment relies on these names, so they are not prefixed with the service's name.
const STANDARD_VARIABLES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("AMQP_URL", "amqp.url"),
    ("SMTP_URL", "smtp.url"),
];

/// Where a service's settings come from, in increasing order of precedence.
pub struct ConfigSource {
    /// YAML with every default, embedded in the binary (`include_str!("../configuration/base.yaml")`),
    /// so the binary runs with no file next to it.
    pub defaults: &'static str,
    /// YAML applied over the defaults before the file and the environment: a launcher's profile of
    /// the service (the one-process platform's), which an operator's settings still override.
    pub overlay: Option<&'static str>,
    /// An optional YAML file that overrides the defaults. When `None`, `{PREFIX}_CONFIG_FILE` is read.
    pub file: Option<PathBuf>,
    /// The prefix of the service's environment variables: `AUTH` reads `AUTH_LISTEN_ADDR` into
    /// `listen_addr` and `AUTH_DATABASE__POOL_SIZE` into `database.pool_size`.
    pub env_prefix: &'static str,
}

/// Loading failed; the message names the file or the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// An error found by a service's own validation of its settings.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

/// Reads the settings of one service from the layered sources.
pub fn load<T: DeserializeOwned>(source: ConfigSource) -> Result<T, ConfigError> {
    let environment: Vec<(String, String)> = std::env::vars().collect();
    load_with_environment(source, &environment)
}

/// As [`load`], with the environment given explicitly (tests never change the process environment).
pub fn load_with_environment<T: DeserializeOwned>(
    source: ConfigSource,
    environment: &[(String, String)],
) -> Result<T, ConfigError> {
    let lookup = |name: &str| {
        environment
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
    };
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(source.defaults, config::FileFormat::Yaml));
    if let Some(overlay) = source.overlay {
        builder = builder.add_source(config::File::from_str(overlay, config::FileFormat::Yaml));
    }

    let file_variable = format!("{}_CONFIG_FILE", source.env_prefix);
    if let Some(path) = source.file.or_else(|| lookup(&file_variable).map(PathBuf::from)) {
        if !path.is_file() {
            return Err(ConfigError(format!(
                "the configuration file {} does not exist",
                path.display()
            )));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Yaml));
    }

    let prefixed: config::Map<String, String> = environment
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("{}_", source.env_prefix)) && *key != file_variable)
        .cloned()
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix(source.env_prefix)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .ignore_empty(true)
            .source(Some(prefixed)),
    );
    for (variable, key) in STANDARD_VARIABLES {
        if let Some(value) = lookup(variable) {
            builder = builder
                .set_override(*key, value)
                .map_err(|error| ConfigError(format!("{variable}: {error}")))?;
        }
    }

    builder
        .build()
        .and_then(|config| config.try_deserialize::<T>())
        .map_err(|error| ConfigError(error.to_string()))
}

/// A service's settings, read the platform's way: the service names its compiled-in defaults and
/// its environment prefix, and gets `load`, `defaults` and `load_from_environment`.
pub trait Layered: DeserializeOwned + Sized {
    /// The YAML defaults, embedded: `include_str!("../configuration/base.yaml")`.
    const DEFAULTS: &'static str;
    /// `AUTH`, `GATEWAY`, `EMAIL`, `JOBS`.
    const ENV_PREFIX: &'static str;

    /// Checks and normalises loaded settings; by default they are taken as they are.
    fn validated(self) -> Result<Self, ConfigError> {
        Ok(self)
    }

    /// The defaults, then `file` (or `{PREFIX}_CONFIG_FILE`), then the environment.
    fn load(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        load::<Self>(ConfigSource {
            defaults: Self::DEFAULTS,
            overlay: None,
            file,
            env_prefix: Self::ENV_PREFIX,
        })?
        .validated()
    }

    /// The defaults alone (tests start from these and change fields).
    fn defaults() -> Result<Self, ConfigError> {
        Self::load_from_environment(&[])
    }

    /// The defaults, then `overlay`, then `{PREFIX}_CONFIG_FILE` if set, then the given environment
    /// (a launcher that runs the service with a profile of its own, the environment passed in).
    fn load_with_overlay(
        overlay: &'static str,
        environment: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let source = ConfigSource {
            defaults: Self::DEFAULTS,
            overlay: Some(overlay),
            file: None,
            env_prefix: Self::ENV_PREFIX,
        };
        load_with_environment::<Self>(source, environment)?.validated()
    }

    /// The defaults, then the given environment (tests never change the process environment).
    fn load_from_environment(environment: &[(String, String)]) -> Result<Self, ConfigError> {
        let source = ConfigSource {
            defaults: Self::DEFAULTS,
            overlay: None,
            file: None,
            env_prefix: Self::ENV_PREFIX,
        };
        load_with_environment::<Self>(source, environment)?.validated()
    }
}

/// Settings of the diesel connection pool, read from the `database` section.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/db`; from `DATABASE_URL` in production.
    pub url: SecretString,
    /// Connections kept by the pool.
    pub pool_size: u32,
    /// How long a request waits for a free connection before it is answered 503.
    pub acquire_timeout_ms: u64,
    /// Server-side limit on any one statement, so a stuck query cannot hold a connection forever.
    pub statement_timeout_ms: u64,
    /// Apply pending migrations when the service starts (otherwise run the `migrate` subcommand).
    pub migrate_on_start: bool,
}

/// Settings of graceful shutdown, read from the `shutdown` section.
#[derive(Debug, Clone, Deserialize)]
pub struct ShutdownSettings {
    /// After SIGTERM, how long readiness reports false while requests are still served, so that load
    /// balancers stop sending traffic before the listener closes (a Kubernetes `preStop` equivalent).
    pub drain_delay_ms: u64,
    /// How long in-flight requests may take to finish once the listener has closed.
    pub timeout_ms: u64,
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Example {
        listen_addr: String,
        database: DatabaseSettings,
        nested: Nested,
    }

    #[derive(Debug, Deserialize)]
    struct Nested {
        flag: bool,
        count: u32,
    }

    const DEFAULTS: &str = "
listen_addr: 127.0.0.1:1
database:
  url: postgres://localhost/default
  pool_size: 4
  acquire_timeout_ms: 1000
  statement_timeout_ms: 1000
  migrate_on_start: true
nested:
  flag: false
  count: 1
";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn source(file: Option<PathBuf>) -> ConfigSource {
        ConfigSource {
            overlay: None,
            defaults: DEFAULTS,
            file,
            env_prefix: "TEST",
        }
    }

    #[test]
    fn defaults_apply_when_nothing_overrides_them() {
        let settings: Example = load_with_environment(source(None), &[]).unwrap();
        assert_eq!(settings.listen_addr, "127.0.0.1:1");
        assert_eq!(settings.database.pool_size, 4);
        assert!(!settings.nested.flag);
    }

    #[test]
    fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("override.yaml");
        std::fs::write(&path, "listen_addr: 127.0.0.1:2\nnested:\n  count: 7\n").unwrap();
        let environment = env(&[
            ("TEST_NESTED__FLAG", "true"),
            ("TEST_LISTEN_ADDR", "127.0.0.1:3"),
            ("DATABASE_URL", "postgres://elsewhere/db"),
        ]);

        let settings: Example = load_with_environment(source(Some(path)), &environment).unwrap();

        assert_eq!(settings.listen_addr, "127.0.0.1:3");
        assert_eq!(settings.nested.count, 7);
        assert!(settings.nested.flag);
        assert_eq!(settings.database.url.expose_secret(), "postgres://elsewhere/db");
    }

    #[test]
    fn the_file_can_be_named_by_an_environment_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        std::fs::write(&path, "nested:\n  count: 9\n").unwrap();
        let environment = env(&[("TEST_CONFIG_FILE", path.to_str().unwrap())]);
        let settings: Example = load_with_environment(source(None), &environment).unwrap();
        assert_eq!(settings.nested.count, 9);
    }

    #[test]
    fn a_missing_file_is_an_error_that_names_it() {
        let error = load_with_environment::<Example>(source(Some("/nonexistent/x.yaml".into())), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/x.yaml"), "{error}");
    }

    #[test]
    fn a_bad_value_is_an_error_that_names_the_setting() {
        let environment = env(&[("TEST_NESTED__COUNT", "many")]);
        let error = load_with_environment::<Example>(source(None), &environment)
            .unwrap_err()
            .to_string();
        assert!(error.contains("count"), "{error}");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let environment = env(&[("DATABASE_URL", "postgres://user:hunter2@db/x")]);
        let settings: Example = load_with_environment(source(None), &environment).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
