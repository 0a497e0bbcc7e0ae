//! What `docker-compose.yml` and the `Dockerfile` give each container, read from the files
//! themselves, and rewritten for processes on this machine: the compose network's host names
//! become 127.0.0.1 and free ports, the databases and roles become a test's own
//! ([`super::roles::PlatformDatabases`]), the broker's account becomes the test server's, and
//! Mailpit becomes an in-process SMTP sink. Nothing else of the environment changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use super::repository;
use super::roles::PlatformDatabases;

/// One compose service: its environment (image `ENV` first, then compose's, interpolated), its
/// command, and its bind mounts (`./host/path` -> `/container/path`).
#[derive(Debug, Clone, Default)]
pub struct ComposeService {
    pub environment: Vec<(String, String)>,
    pub command: Vec<String>,
    pub entrypoint: Vec<String>,
    pub mounts: Vec<(PathBuf, String)>,
}

/// `docker-compose.yml`'s services, interpolated with the variables of `dot_env` (a `.env` file's
/// text) as `docker compose` does: `${VAR}`, `${VAR:-default}`, `${VAR:?message}` (unset: panic).
pub fn services(dot_env: &str) -> HashMap<String, ComposeService> {
    let variables = parse_dot_env(dot_env);
    let text = std::fs::read_to_string(repository().join("docker-compose.yml")).expect("docker-compose.yml");
    let documents = YamlLoader::load_from_str(&text).expect("docker-compose.yml is YAML");
    let image_env = dockerfile_env();
    let services = documents[0]["services"]
        .as_hash()
        .expect("docker-compose.yml has services");
    services
        .iter()
        .map(|(name, service)| {
            let name = name.as_str().expect("a service name").to_owned();
            let mut environment = image_env.clone();
            if let Some(pairs) = service["environment"].as_hash() {
                for (key, value) in pairs {
                    let key = key.as_str().expect("a variable name").to_owned();
                    environment.retain(|(existing, _)| *existing != key);
                    environment.push((key, interpolate(&text_of(value), &variables)));
                }
            }
            let list = |field: &str| -> Vec<String> {
                service[field]
                    .as_vec()
                    .map(|items| {
                        items
                            .iter()
                            .map(|item| interpolate(&text_of(item), &variables))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let mounts = list("volumes")
                .iter()
                .filter_map(|volume| {
                    let mut parts = volume.split(':');
                    let (host, container) = (parts.next()?, parts.next()?);
                    let host = host.strip_prefix("./")?;
                    Some((repository().join(host), container.to_owned()))
                })
                .collect();
            let service = ComposeService {
                environment,
                command: list("command"),
                entrypoint: list("entrypoint"),
                mounts,
            };
            (name, service)
        })
        .collect()
}

fn text_of(value: &Yaml) -> String {
    match value {
        Yaml::String(text) | Yaml::Real(text) => text.clone(),
        Yaml::Integer(number) => number.to_string(),
        Yaml::Boolean(flag) => flag.to_string(),
        other => panic!("docker-compose.yml: a value this reader does not know: {other:?}"),
    }
}

/// The `ENV` of the Dockerfile's runtime stage: what every service image starts with.
fn dockerfile_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repository().join("Dockerfile")).expect("Dockerfile");
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ENV "))
        .flat_map(|assignments| {
            assignments
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|assignment| {
            let (key, value) = assignment.split_once('=')?;
            // Only the services' settings: the build stages' own (CARGO_...) are not in the image.
            ["AUTH_", "GATEWAY_", "EMAIL_", "JOBS_", "DEMO_"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
                .then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The `CMD` of the Dockerfile's `target` stage (empty when it has none): what compose runs when a
/// service gives no `command`.
pub fn dockerfile_cmd(target: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repository().join("Dockerfile")).expect("Dockerfile");
    let stage = text
        .split("\nFROM ")
        .find(|stage| {
            stage
                .lines()
                .next()
                .is_some_and(|line| line.ends_with(&format!(" AS {target}")))
        })
        .unwrap_or_else(|| panic!("the Dockerfile has a {target} stage"));
    stage
        .lines()
        .find_map(|line| line.strip_prefix("CMD "))
        .map(|cmd| serde_json::from_str(cmd).expect("CMD in exec form"))
        .unwrap_or_default()
}

fn parse_dot_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

fn interpolate(value: &str, variables: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${...}") + start;
        let expression = &rest[start + 2..end];
        let (name, fallback) = match expression.find([':', '-', '?']) {
            Some(at) => (&expression[..at], Some(&expression[at..])),
            None => (expression, None),
        };
        let found = variables.get(name).filter(|found| !found.is_empty());
        out.push_str(&match (found, fallback) {
            (Some(found), _) => found.clone(),
            (None, Some(fallback)) if fallback.starts_with(":-") => fallback[2..].to_owned(),
            (None, Some(fallback)) if fallback.starts_with(":?") => {
                panic!("docker-compose.yml needs {name}: {}", &fallback[2..])
            }
            (None, _) => String::new(),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Where the compose network's names are on this machine.
pub struct HostMap<'a> {
    pub databases: &'a PlatformDatabases,
    pub amqp_url: String,
    pub smtp_url: String,
    /// Compose's port of each service (8081, ...) -> the port its process listens on here.
    pub ports: HashMap<&'static str, (u16, u16)>,
    /// Where a container path is served from here (a rewritten copy of a mounted file).
    pub files: HashMap<String, PathBuf>,
}

impl HostMap<'_> {
    /// `environment` with every address of the compose network replaced by its place here.
    pub fn rewrite(&self, environment: &[(String, String)]) -> Vec<(String, String)> {
        environment
            .iter()
            .map(|(key, value)| {
                let value = match key.as_str() {
                    "DATABASE_URL" => self.database_url(value),
                    "AMQP_URL" => self.amqp_url.clone(),
                    "SMTP_URL" => self.smtp_url.clone(),
                    _ => self.text(value),
                };
                (key.clone(), value)
            })
            .collect()
    }

    /// Host names and ports in any text (URLs, listen addresses, a routes file).
    pub fn text(&self, value: &str) -> String {
        let mut value = value.to_owned();
        for (service, (compose_port, port)) in &self.ports {
            for host in [*service, "localhost", "0.0.0.0"] {
                let host_here = if host == "localhost" {
                    "localhost"
                } else {
                    "127.0.0.1"
                };
                value = value.replace(&format!("{host}:{compose_port}"), &format!("{host_here}:{port}"));
            }
        }
        for (container_path, here) in &self.files {
            if value == *container_path {
                value = here.display().to_string();
            }
        }
        value
    }

    /// `postgres://ROLE:password@postgres:5432/DB` as this test's role and database.
    fn database_url(&self, value: &str) -> String {
        let url = url::Url::parse(value).expect("DATABASE_URL parses");
        assert_eq!(url.host_str(), Some("postgres"), "{value}");
        let database = url.path().trim_start_matches('/');
        self.databases.url(url.username(), database)
    }
}

/// Copies the mounted file `container_path` of `service`, rewritten by `hosts`, into `dir`.
pub fn rewritten_mount(
    service: &ComposeService,
    container_path: &str,
    hosts: &HostMap<'_>,
    dir: &Path,
) -> PathBuf {
    let (source, _) = service
        .mounts
        .iter()
        .find(|(_, target)| target == container_path)
        .unwrap_or_else(|| panic!("a mount at {container_path}"));
    let text = std::fs::read_to_string(source).expect("the mounted file");
    let copy = dir.join(source.file_name().expect("a file name"));
    std::fs::write(&copy, hosts.text(&text)).expect("write the copy");
    copy
}
