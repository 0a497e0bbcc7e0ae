//! A service binary running as a child process, its output kept in a log file that is printed when
//! the test fails; killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::binary;

/// A running binary of the workspace.
pub struct ServiceProcess {
    pub name: String,
    child: Child,
    log: PathBuf,
}

static LOG_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl ServiceProcess {
    /// Starts `name ARGS` with exactly `env` (plus `PATH`), its standard output and error going to
    /// a log file of its own.
    pub fn start(name: &str, args: &[&str], env: &[(String, String)]) -> ServiceProcess {
        let log = std::env::temp_dir().join(format!(
            "e2e-{name}-{}-{}.log",
            std::process::id(),
            LOG_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(binary(name))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("a second handle")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|error| panic!("{name} starts: {error}"));
        ServiceProcess {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most `limit`) until `url` answers 200; fails with the log if the process exits or
    /// the time runs out.
    pub async fn wait_until_ok(&mut self, url: &str, limit: Duration) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(response) = http.get(url).send().await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                panic!(
                    "{} exited ({status}) before {url} answered; its log:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{url} did not answer 200 within {limit:?}; the log of {}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` (`TERM`, `KILL`, ...).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {}", self.child.id());
    }

    /// Waits (at most `limit`) for the process to exit.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}; its log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- log of {} -----\n{}", self.name, self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port of 127.0.0.1 free now (the system picks it; the caller binds it again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
