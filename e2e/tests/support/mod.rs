//! What the tests that start the platform's real binaries share: the binaries themselves (built once
//! per test process, so they are never stale), and the least-privilege database setup of
//! `deploy/sql/` applied to a fresh set of databases and roles of this test's own.

#![allow(dead_code, reason = "each test binary uses part of this module")]

pub mod compose;
pub mod in_process;
pub mod process;
pub mod roles;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository's root.
pub fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ is inside the repository")
}

/// The path of a binary of the workspace (`auth-server`, `resource-gateway`, `email-service`,
/// `jobs-service`, `demo-api`), built if it is missing or stale. Tests of one crate get only that
/// crate's binaries from cargo; these tests run several, so they ask cargo for all of them, once.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let directory = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .current_dir(repository())
            .args(["build", "--quiet", "--bins"])
            .args([
                "-p",
                "auth-server",
                "-p",
                "resource-gateway",
                "-p",
                "email-service",
            ])
            .args(["-p", "jobs-service", "-p", "platform"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the service binaries failed");
        // This test's executable is target/<profile>/deps/<name>; the binaries are in target/<profile>.
        let executable = std::env::current_exe().expect("the test knows its executable");
        executable
            .parent()
            .and_then(Path::parent)
            .expect("the test executable is in target/<profile>/deps")
            .to_path_buf()
    });
    let path = directory.join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Runs `psql` (the PostgreSQL client the deployments use for `deploy/sql/`) against the test
/// server, failing the test with its output if it fails.
pub fn psql(user: &str, database: &str, args: &[&str]) -> Output {
    let server = url::Url::parse(&shared::testing::server_url()).expect("the test server URL parses");
    let output = Command::new("psql")
        .env("PGHOST", server.host_str().unwrap_or("127.0.0.1"))
        .env("PGPORT", server.port().unwrap_or(5432).to_string())
        .env("PGUSER", user)
        .env("PGDATABASE", database)
        .env("PGSSLMODE", "disable")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .output()
        .expect("psql is installed (it comes with PostgreSQL)");
    assert!(
        output.status.success(),
        "psql {args:?} as {user} on {database} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a binary to completion with `env` (and nothing of the test process's own environment that
/// a service reads), failing the test with its output if it fails.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let output = command(name, args, env, stdin);
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// As [`run`], whatever the outcome.
pub fn command(name: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use std::io::Write;

    let mut child = Command::new(binary(name))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("stdin takes the input");
    drop(input);
    child.wait_with_output().expect("the binary finishes")
}
