//! The compose cluster without a container engine: the four services and the demo API start as
//! separate processes with exactly the environment `docker-compose.yml` (and the image's `ENV`)
//! gives them, the compose one-shots (migrations as the owners, grants, the seed script) run before
//! them, and then the README's walkthrough block runs, line for line, in bash.
//!
//! What differs from the containers, and only because they are containers: the compose network's
//! host names become 127.0.0.1 and free ports; the databases and roles carry this test's prefix (roles
//! are global to the server and tests run in parallel); the broker account is the test server's and
//! the services get a namespace of this test's own; Mailpit is an in-process SMTP sink; and
//! `docker compose exec SERVICE ...` in the walkthrough runs the command with that service's
//! environment.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use shared::configuration::Layered;
use shared::testing::amqp::{TopologyGuard, amqp_url, unique_namespace};
use shared::testing::smtp_sink::SmtpSink;
use support::compose::{ComposeService, HostMap, dockerfile_cmd, rewritten_mount, services};
use support::process::{ServiceProcess, free_port};
use support::roles::PlatformDatabases;
use support::{binary, repository, run};

/// The long-running services, in the order compose's `depends_on` starts them, with the port each
/// listens on inside its container.
const SERVICES: [(&str, u16); 5] = [
    ("auth-server", 8081),
    ("email-service", 8082),
    ("jobs-service", 8083),
    ("resource-gateway", 8080),
    ("demo-api", 8090),
];

/// The namespace variables: each service's queues and exchanges are this test's own.
const NAMESPACED: [&str; 3] = ["AUTH", "EMAIL", "JOBS"];

#[tokio::test]
async fn the_readme_compose_walkthrough_runs_against_the_compose_environment() {
    let dir = tempfile::TempDir::new().unwrap();
    let generated = std::process::Command::new("sh")
        .arg(repository().join("deploy/compose/generate-env.sh"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let dot_env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    let compose = services(&dot_env);
    let databases = PlatformDatabases::create();
    let sink = SmtpSink::start().await;
    let namespace = unique_namespace();
    // The email-service's queues as well as the exchanges (its consumer settings are the defaults in
    // compose); deleted after the processes, which are dropped first.
    let email_defaults = email_service::configuration::Settings::defaults().unwrap();
    let _broker = TopologyGuard::new(email_service::topology::topology(
        &namespace,
        &email_defaults.consumer,
    ));
    let mut hosts = HostMap {
        databases: &databases,
        amqp_url: amqp_url(),
        smtp_url: sink.url(),
        ports: SERVICES
            .iter()
            .map(|(name, compose_port)| (*name, (*compose_port, free_port())))
            .collect(),
        files: HashMap::new(),
    };
    let routes = rewritten_mount(
        &compose["resource-gateway"],
        "/platform-config/routes.toml",
        &hosts,
        dir.path(),
    );
    hosts.files.insert("/platform-config/routes.toml".into(), routes);
    let environment = |service: &str| {
        let mut environment = hosts.rewrite(&compose[service].environment);
        for prefix in NAMESPACED {
            environment.push((format!("{prefix}_AMQP__NAMESPACE"), namespace.clone()));
        }
        environment
    };

    // The one-shots: migrations as the owners, the grants (deploy/sql), the seed script.
    for one_shot in ["auth-migrate", "jobs-migrate", "email-migrate"] {
        let service = &compose[one_shot];
        let image = image_of(one_shot);
        let args: Vec<&str> = service.command.iter().map(String::as_str).collect();
        let env = environment(one_shot);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&image, &args, &env, None);
    }
    databases.grant();
    seed(&compose["seed"], &environment("seed"));

    // The services, each waited for on its /readyz.
    let mut processes = Vec::new();
    for (name, _) in SERVICES {
        let command = dockerfile_cmd(name);
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let mut process = ServiceProcess::start(name, &args, &environment(name));
        let port = hosts.ports[name].1;
        let health = if name == "demo-api" { "/healthz" } else { "/readyz" };
        process
            .wait_until_ok(
                &format!("http://127.0.0.1:{port}{health}"),
                Duration::from_secs(60),
            )
            .await;
        processes.push(process);
    }

    // The README's walkthrough, in bash, from a directory with the generated .env.
    let shims = docker_shim(dir.path(), &compose, &environment);
    let script = hosts.text(&walkthrough());
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env(
            "PATH",
            format!("{}:{}", shims.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let lines: Vec<&str> = stdout.lines().collect();
    let identity: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(identity["client_id"], "demo-service", "{stdout}");
    assert_eq!(identity["scope"], "api:read", "{stdout}");
    assert_eq!(lines[1], "401", "the revoked token is refused at once: {stdout}");
    let report_run: serde_json::Value = serde_json::from_str(&lines[2..].join("\n")).unwrap();
    assert_eq!(report_run["status"], "succeeded", "{stdout}");
    let emails = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(emails[0].recipients, ["admin@example.test"]);
    assert!(
        emails[0]
            .subject()
            .unwrap_or_default()
            .to_lowercase()
            .contains("report"),
        "{:?}",
        emails[0].subject()
    );
}

/// The binary a one-shot runs: its image's (`oauth-platform/auth-server:...`).
fn image_of(one_shot: &str) -> String {
    match one_shot {
        "auth-migrate" => "auth-server",
        "jobs-migrate" => "jobs-service",
        "email-migrate" => "email-service",
        other => panic!("no image known for {other}"),
    }
    .to_owned()
}

/// Runs the `seed` one-shot: its entrypoint is `sh <mounted seed.sh>`, with the auth-server on PATH.
fn seed(service: &ComposeService, environment: &[(String, String)]) {
    let script = &service.entrypoint[1];
    let (here, _) = service
        .mounts
        .iter()
        .find(|(_, target)| script == target)
        .expect("the seed script is mounted");
    let bin = binary("auth-server").parent().unwrap().to_path_buf();
    let output = std::process::Command::new("sh")
        .arg(here)
        .env_clear()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .envs(environment.iter().map(|(key, value)| (key, value)))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "seed.sh failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The block the README marks as the compose walkthrough.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let after_marker = readme
        .split_once("<!-- compose-walkthrough")
        .expect("the README marks its compose walkthrough")
        .1;
    let block = after_marker
        .split_once("```sh\n")
        .expect("a sh block after the marker")
        .1;
    block.split_once("```").expect("the block ends").0.to_owned()
}

/// A `docker` on PATH that understands `docker compose exec SERVICE COMMAND...`: it runs COMMAND
/// (a binary of the workspace) with that service's environment here. Returns the directory.
fn docker_shim(
    dir: &Path,
    compose: &HashMap<String, ComposeService>,
    environment: &dyn Fn(&str) -> Vec<(String, String)>,
) -> std::path::PathBuf {
    let shims = dir.join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let bin = binary("auth-server").parent().unwrap().to_path_buf();
    let mut cases = String::new();
    for service in compose
        .keys()
        .filter(|name| SERVICES.iter().any(|(known, _)| known == *name))
    {
        let assignments: Vec<String> = environment(service)
            .iter()
            .map(|(key, value)| format!("'{key}={}'", value.replace('\'', "'\\''")))
            .collect();
        cases.push_str(&format!(
            "    {service}) exec env -i PATH='{}' {} \"$@\" ;;\n",
            bin.display(),
            assignments.join(" ")
        ));
    }
    let script = format!(
        "#!/bin/sh\n# docker compose exec SERVICE COMMAND...: COMMAND with SERVICE's environment.\n\
         [ \"$1 $2\" = \"compose exec\" ] || {{ echo \"this docker runs only compose exec\" >&2; exit 2; }}\n\
         service=$3; shift 3\ncase $service in\n{cases}\
         \x20   *) echo \"unknown service $service\" >&2; exit 2 ;;\nesac\n"
    );
    let docker = shims.join("docker");
    std::fs::write(&docker, script).unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    shims
}
