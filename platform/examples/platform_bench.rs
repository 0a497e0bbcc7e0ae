//! What a newcomer's first minutes cost: the platform's start and its memory.
//!
//!     cargo build --release -p platform
//!     cargo run --release -p platform --example platform_bench -- [--rounds 3] [--requests 10000]
//!
//! For each round it starts the release binary (`target/release/platform`) on a fresh data
//! directory (the first start: migrations, keys, demo data) and again on the same directory (every
//! later start), and measures:
//!   ready        from the spawn to the "try it" screen, when every service listens
//!   idle RSS     the whole process's resident memory once ready
//!   loaded RSS   the same after `--requests` client_credentials token requests (32 at a time)
//! Then it times `cargo run --release -p platform` itself on a warm build, as the README's command
//! (cargo's own check of the build included). Medians of the rounds are printed; the machine is
//! shared, so compare figures from one run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shared::testing::load;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = load::arg("--rounds").unwrap_or(3);
    let requests: usize = load::arg("--requests").unwrap_or(10_000);
    let binary = release_binary()?;
    let mut first_ready = Vec::new();
    let mut later_ready = Vec::new();
    let mut cargo_ready = Vec::new();
    let mut idle = Vec::new();
    let mut loaded = Vec::new();
    for _ in 0..rounds {
        let directory = tempfile::tempdir()?;
        let data = directory.path().join("data");
        let (first, elapsed) = Started::spawn(Command::new(&binary).arg("--data-dir").arg(&data))?;
        first_ready.push(elapsed);
        drop(first);
        let (platform, elapsed) = Started::spawn(Command::new(&binary).arg("--data-dir").arg(&data))?;
        later_ready.push(elapsed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        idle.push(rss_mib(platform.child.id())?);
        issue_tokens(&platform.screen, requests).await?;
        loaded.push(rss_mib(platform.child.id())?);
        drop(platform);
        let (through_cargo, elapsed) = Started::spawn(
            Command::new("cargo")
                .args(["run", "--release", "-q", "-p", "platform", "--", "--data-dir"])
                .arg(&data),
        )?;
        cargo_ready.push(elapsed);
        drop(through_cargo);
    }
    println!("platform benchmark: {rounds} rounds, medians");
    println!(
        "ready, first start (fresh data directory):   {:>7.0} ms",
        median(&mut first_ready)
    );
    println!(
        "ready, later start (same data directory):    {:>7.0} ms",
        median(&mut later_ready)
    );
    println!(
        "ready, `cargo run --release -p platform`:    {:>7.0} ms  (warm build)",
        median(&mut cargo_ready)
    );
    println!(
        "RSS, idle after start:                       {:>7.1} MiB",
        median(&mut idle)
    );
    println!(
        "RSS, after {requests} token requests:          {:>7.1} MiB",
        median(&mut loaded)
    );
    Ok(())
}

/// `target/release/platform`, next to this example's directory.
fn release_binary() -> anyhow::Result<PathBuf> {
    let examples = std::env::current_exe()?;
    let binary = examples
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("platform"))
        .ok_or_else(|| anyhow::anyhow!("cannot find the target directory"))?;
    anyhow::ensure!(
        binary.exists(),
        "build it first: cargo build --release -p platform"
    );
    Ok(binary)
}

/// A running platform and its screen; stopped (SIGKILL) when dropped.
struct Started {
    child: Child,
    screen: String,
}

impl Started {
    /// Spawns the command (every port chosen by the system) and waits for the ready screen.
    fn spawn(command: &mut Command) -> anyhow::Result<(Started, f64)> {
        let started = Instant::now();
        for variable in [
            "AUTH_LISTEN_ADDR",
            "GATEWAY_LISTEN_ADDR",
            "EMAIL_LISTEN_ADDR",
            "JOBS_LISTEN_ADDR",
            "PLATFORM_DEMO_LISTEN_ADDR",
        ] {
            command.env(variable, "127.0.0.1:0");
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut screen = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            screen.push_str(&line);
            screen.push('\n');
            if line.starts_with("Ctrl-C stops everything") {
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                return Ok((Started { child, screen }, elapsed));
            }
        }
        anyhow::bail!("the platform exited before it was ready")
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process's resident set (VmRSS), in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(kib / 1024.0)
}

/// `requests` client_credentials requests with the demo service's credentials, 32 at a time.
async fn issue_tokens(screen: &str, requests: usize) -> anyhow::Result<()> {
    let line = screen
        .lines()
        .find(|line| line.contains("TOKEN=$(curl"))
        .ok_or_else(|| anyhow::anyhow!("no token line on the screen"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let credentials = words
        .iter()
        .skip_while(|word| **word != "-u")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no credentials"))?;
    let (client_id, secret) = credentials
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("no secret"))?;
    let endpoint = words
        .iter()
        .find(|word| word.ends_with("/oauth2/token"))
        .ok_or_else(|| anyhow::anyhow!("no token endpoint"))?
        .to_string();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let (client, endpoint) = (client.clone(), endpoint.clone());
        let (client_id, secret) = (client_id.to_owned(), secret.to_owned());
        let share = requests / 32 + usize::from(worker < requests % 32);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let response = client
                    .post(&endpoint)
                    .basic_auth(&client_id, Some(&secret))
                    .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "a token request failed: {}",
                    response.status()
                );
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
