//! The real `platform` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::test_environment;

/// The real binary, started as a user would (with system-chosen ports); killed when dropped.
pub struct PlatformProcess {
    child: Child,
    pub screen: String,
    /// Where its log (standard error) goes: shown when a test fails.
    pub log: PathBuf,
}

impl PlatformProcess {
    /// Starts `platform --data-dir DIR` with `extra` variables and waits (at most 60 s) for its
    /// "try it" screen.
    pub fn start(data_dir: &Path, extra: &[(&str, &str)]) -> PlatformProcess {
        let (mut child, log) = spawn(data_dir, extra);
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut screen = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    screen.push_str(&line);
                    screen.push('\n');
                    if line.starts_with("Ctrl-C stops everything") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the platform printed no ready screen within 60 s; its log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        PlatformProcess { child, screen, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The base URL the screen gives for `service` (`auth-server`, `email-service`, ...).
    pub fn address(&self, service: &str) -> String {
        self.screen
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(service))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{service} on the screen:\n{}", self.screen))
            .to_owned()
    }

    /// Sends `signal` and waits (at most 30 s) for the exit.
    pub async fn stop(mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the platform did not exit within 30 s of SIG{signal}; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PlatformProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Runs the binary expecting it to refuse to start; returns its exit status and standard error.
pub fn start_refused(data_dir: &Path, extra: &[(&str, &str)]) -> (ExitStatus, String) {
    let (mut child, log) = spawn(data_dir, extra);
    let status = child.wait().expect("the child can be waited for");
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (status, output)
}

static LOG_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn spawn(data_dir: &Path, extra: &[(&str, &str)]) -> (Child, PathBuf) {
    // Beside the data directory's parent: a test may give a data directory that cannot exist.
    let log = std::env::temp_dir().join(format!(
        "platform-test-{}-{}.log",
        std::process::id(),
        LOG_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let log_file = std::fs::File::create(&log).expect("a log file");
    let child = Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg("--data-dir")
        .arg(data_dir)
        .envs(test_environment())
        .envs(extra.iter().copied())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("the platform binary starts");
    (child, log)
}
