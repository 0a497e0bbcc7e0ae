//! The harness: the platform started in the test's own process (every port chosen by the system, a
//! fresh data directory), or the real `platform` binary as a child process for what needs one
//! (restarts, SIGKILL, SIGTERM, refusals at start). Nothing here needs PostgreSQL or RabbitMQ.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use platform::credentials::DemoCredentials;
use platform::platform::{Options, Platform};
use platform::settings::Addresses;
use reqwest::header::LOCATION;
use serde_json::Value;

/// Every listener on a port the system picks, so tests run in parallel.
pub fn test_environment() -> Vec<(String, String)> {
    [
        "AUTH_LISTEN_ADDR",
        "GATEWAY_LISTEN_ADDR",
        "EMAIL_LISTEN_ADDR",
        "JOBS_LISTEN_ADDR",
        "PLATFORM_DEMO_LISTEN_ADDR",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), "127.0.0.1:0".to_owned()))
    .collect()
}

/// A platform running in this test's process.
pub struct TestPlatform {
    pub addresses: Addresses,
    pub issuer: String,
    pub credentials: DemoCredentials,
    /// The "try it" screen, as the binary prints it.
    pub screen: String,
    pub data_dir: tempfile::TempDir,
}

pub async fn spawn_platform() -> TestPlatform {
    if std::env::var_os("TEST_LOG").is_some() {
        let log = shared::telemetry::LogSettings {
            format: shared::telemetry::LogFormat::Pretty,
            filter: "info".to_owned(),
        };
        shared::telemetry::init("platform-test", &log);
    }
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let platform = Platform::start(Options {
        data_dir: data_dir.path().to_path_buf(),
        environment: test_environment(),
    })
    .await
    .unwrap_or_else(|error| panic!("the platform starts: {error}"));
    let started = TestPlatform {
        addresses: platform.addresses.clone(),
        issuer: platform.issuer.clone(),
        credentials: platform.credentials.clone(),
        screen: platform.try_it().to_string(),
        data_dir,
    };
    tokio::spawn(platform.run_until_stopped());
    started
}

impl TestPlatform {
    pub fn database_url(&self) -> String {
        format!("sqlite://{}/platform.db", self.data_dir.path().display())
    }

    /// A connection to the platform's database, for what only the database can tell.
    pub fn connect(&self) -> shared::db::DbConn {
        shared::db::connect(
            &self.database_url(),
            &shared::db::SessionSettings {
                statement_timeout_ms: 10_000,
            },
        )
        .expect("the database opens")
    }

    /// The demo service, as a client of this platform's auth-server.
    pub fn service(&self) -> ServiceClient {
        ServiceClient {
            auth: self.addresses.auth.clone(),
            secret: self.credentials.service_client_secret.clone(),
        }
    }
}

/// The demo service (`demo-service`), calling an auth-server as the printed curl lines do.
pub struct ServiceClient {
    pub auth: String,
    pub secret: String,
}

impl ServiceClient {
    /// A client_credentials token.
    pub async fn token(&self, scope: &str) -> String {
        let response = self
            .post(
                "/oauth2/token",
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("a token: {response}"))
            .to_owned()
    }

    /// What introspection says of `token`.
    pub async fn introspect(&self, token: &str) -> Value {
        self.post("/oauth2/introspect", &[("token", token)]).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        reqwest::Client::new()
            .post(format!("{}{path}", self.auth))
            .basic_auth(platform::credentials::SERVICE_CLIENT_ID, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The mailbox's messages, newest first (`/mail/api/messages`).
pub async fn mailbox(email_base: &str) -> Vec<Value> {
    reqwest::get(format!("{email_base}/mail/api/messages"))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

/// Waits (at most 20 s) for an email to `recipient` whose text carries a link starting with
/// `prefix`, and returns the link.
pub async fn wait_for_link(email_base: &str, recipient: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = mailbox(email_base).await.into_iter().find_map(|message| {
            let text = message["text_body"].as_str()?;
            (message["recipient"] == recipient && text.contains(prefix))
                .then(|| link_starting_with(text, prefix))
        });
        if let Some(link) = found {
            return link;
        }
        assert!(
            Instant::now() < deadline,
            "no email to {recipient} with a link to {prefix} in the mailbox: {:?}",
            mailbox(email_base).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first link of a text that starts with `prefix`.
fn link_starting_with(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).expect("the text has the link");
    text[start..]
        .split(char::is_whitespace)
        .next()
        .unwrap()
        .to_owned()
}

/// A browser: keeps cookies, follows no redirect by itself, so each step of a flow is seen.
pub struct Browser {
    pub http: reqwest::Client,
    /// The auth-server's base URL, which its relative redirects are relative to.
    auth: String,
}

impl Browser {
    pub fn new(auth: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            auth: auth.to_owned(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.auth)
        } else {
            url.to_owned()
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http
            .get(self.absolute(url))
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.absolute(url))
            .form(form)
            .send()
            .await
            .expect("the server answers")
    }

    /// Loads the page at `page`, then submits its form to `action` with `fields`, its CSRF token and
    /// the other hidden fields named in `hidden`.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        hidden: &[&str],
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get(page).await.text().await.unwrap();
        let values: Vec<(String, String)> = std::iter::once("csrf_token")
            .chain(hidden.iter().copied())
            .map(|name| (name.to_owned(), hidden_field(&html, name)))
            .collect();
        let mut form: Vec<(&str, &str)> = values
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    /// Asks for a password reset of the account with `email`, as the forgot-password page does.
    pub async fn ask_password_reset(&self, email: &str) -> reqwest::Response {
        self.submit("/password/forgot", "/password/forgot", &[], &[("email", email)])
            .await
    }

    /// Signs in to the demo app (`demo` is its base URL): its login, the auth-server's login page,
    /// the consent page when asked, then the demo app's callback page.
    pub async fn sign_in_to_demo_app(&self, demo: &str, username: &str, password: &str) -> reqwest::Response {
        let started = self.get(&format!("{demo}/login")).await;
        assert_eq!(started.status(), 302);
        let authorize = self.get(&location(&started)).await;
        let mut next = location(&authorize);
        assert!(
            next.starts_with("/login"),
            "the authorization request asks for a sign-in: {next}"
        );
        let signed_in = self
            .submit(
                &next,
                "/login",
                &["request"],
                &[("username", username), ("password", password)],
            )
            .await;
        assert_eq!(signed_in.status(), 303, "{}", signed_in.text().await.unwrap());
        next = location(&signed_in);
        if next.starts_with("/consent") {
            let consented = self
                .submit(&next, "/consent", &["request"], &[("decision", "allow")])
                .await;
            assert_eq!(consented.status(), 303);
            next = location(&consented);
        }
        assert!(
            next.starts_with(&format!("{demo}/callback?")),
            "back to the demo app: {next}"
        );
        self.get(&next).await
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("a Location header on a {} response", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub use shared::testing::html::hidden_field;

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
