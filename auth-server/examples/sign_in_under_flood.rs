//! How much a flood of strangers slows sign-ins: the argon2 work of the account forms must never be
//! free for them (issue 13; review-security F2 measured 19 ms becoming 125 ms with 8 attackers).
//!
//!     cargo run --release -p auth-server --example sign_in_under_flood -- \
//!         [--attackers 64] [--rate 20] [--seconds 10]
//!
//! It starts the real auth-server in this process on a scratch PostgreSQL database (registration
//! on, one trusted proxy so that each attacker can claim an address of its own through
//! `X-Forwarded-For`), then measures sign-ins (the password grant: one argon2 verification, a
//! token family) one at a time: first alone, then while `--attackers` tasks, each from its own
//! address, send `--rate` requests a second each (64 x 20 = 1,280 a second; the review's eight
//! attackers sent 77), first to `/healthz` (what any flood of cheap requests costs on a machine
//! that also runs the load), then to the account forms:
//!   - half of them: `POST /password/reset` with made-up links and long passwords (the attack the
//!     review measured), with the CSRF token of the reset page of a real link (one of alice's, as a
//!     stranger would have one for an account of their own);
//!   - the other half: `POST /register` with fresh usernames (each needs a hash).
//!
//! It prints the sign-in latencies (median and 90th percentile) of the three phases, their ratios,
//! and what the attackers got (status codes). The aim: the median under the account-form flood
//! below 2x the median alone.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_server::admin;
use auth_server::configuration::Settings;
use auth_server::domain::grant_type::GrantType;
use auth_server::startup::Application;
use diesel::prelude::*;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::messaging::outbox::outbox_messages;
use shared::testing::TestDatabase;
use shared::testing::html::hidden_field;
use shared::testing::load;

const SIGN_INS: usize = 40;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let attackers: usize = load::arg("--attackers").unwrap_or(64);
    let seconds: u64 = load::arg("--seconds").unwrap_or(10);
    let rate: u64 = load::arg("--rate").unwrap_or(20);
    let database = TestDatabase::create();
    let mut settings = Settings::defaults()?;
    settings.database.url = SecretString::from(database.url.clone());
    settings.keys.encryption_key = Some(SecretString::from("YmVuY2gta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU="));
    settings.outbox.relay_enabled = false;
    settings.accounts.registration_enabled = true;
    settings.accounts.require_verified_email = false;
    settings.throttle.trusted_proxies = 1;
    shared::telemetry::init("bench", &settings.log);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let auth = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    settings.issuer = auth.clone();
    let application = Application::build_with_listener(settings.clone(), listener).await?;
    tokio::spawn(application.run_until_stopped());
    let client = fixture(&settings)?;
    let reset_link = reset_link(&auth, &settings).await?;

    println!(
        "sign-in (password grant) under a flood of {attackers} strangers, each from its own address, \
         {rate} requests/s each"
    );
    let alone = measure(&auth, &client).await?;
    let cheap = under_flood(
        &auth,
        &client,
        &reset_link,
        attackers,
        rate,
        seconds,
        Flood::Health,
    )
    .await?;
    let forms = under_flood(
        &auth,
        &client,
        &reset_link,
        attackers,
        rate,
        seconds,
        Flood::AccountForms,
    )
    .await?;

    for (phase, (median, p90)) in [
        ("alone", alone),
        ("under a flood of /healthz", cheap.0),
        ("under an account-form flood", forms.0),
    ] {
        println!("{phase:<28} median {median:>6.1} ms  p90 {p90:>6.1} ms");
    }
    println!(
        "ratio of medians: {:.2}x alone (aim: < 2x), {:.2}x the cheap flood",
        forms.0.0 / alone.0,
        forms.0.0 / cheap.0.0
    );
    println!("what the strangers got: {:?}", forms.1);
    Ok(())
}

/// What the strangers send.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flood {
    Health,
    AccountForms,
}

/// Sign-in latencies while `attackers` strangers flood, and what they got.
async fn under_flood(
    auth: &str,
    client: &(String, String),
    reset_link: &str,
    attackers: usize,
    rate: u64,
    seconds: u64,
    flood: Flood,
) -> anyhow::Result<((f64, f64), BTreeMap<String, u64>)> {
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..attackers)
        .map(|n| {
            let stranger = Stranger {
                auth: auth.to_owned(),
                reset_link: reset_link.to_owned(),
                n,
                every: Duration::from_micros(1_000_000 / rate.max(1)),
                stop,
                flood,
            };
            tokio::spawn(stranger.attack(outcomes.clone()))
        })
        .collect();
    // Let the flood reach its pace before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latencies = measure(auth, client).await?;
    for task in tasks {
        task.await??;
    }
    let outcomes = outcomes.lock().expect("no attacker panicked").clone();
    Ok((latencies, outcomes))
}

/// A user and a first-party client allowed the password grant.
fn fixture(settings: &Settings) -> anyhow::Result<(String, String)> {
    let pool = shared::db::build_pool(&settings.database);
    let mut conn = pool.get()?;
    admin::scopes::create(&mut conn, "read", "Read things")?;
    admin::users::create(
        &mut conn,
        &admin::users::UserSpec {
            username: "alice".into(),
            email: "alice@example.test".into(),
            scope: Some("read".into()),
            password: SecretString::from("alice-password"),
        },
    )?;
    let created = admin::clients::create(
        &mut conn,
        &admin::clients::ClientSpec {
            name: "first-party".into(),
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["https://first-party.test/cb".into()],
            scope: Some("read".into()),
            allow_password_grant: true,
            ..Default::default()
        },
    )?;
    Ok((created.client_id, created.client_secret.unwrap_or_default()))
}

/// Median and 90th percentile (ms) of `SIGN_INS` sign-ins one after another.
async fn measure(auth: &str, client: &(String, String)) -> anyhow::Result<(f64, f64)> {
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(SIGN_INS);
    for _ in 0..SIGN_INS {
        let started = Instant::now();
        let response = http
            .post(format!("{auth}/oauth2/token"))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
                ("scope", "read"),
            ])
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "sign-in failed: {}", response.status());
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok((latencies[SIGN_INS / 2], latencies[SIGN_INS * 9 / 10]))
}

/// A password-reset link of alice's, as a stranger who asked for one for an account of their own
/// would hold: its page gives the reset form's CSRF token, which any made-up link is posted with.
async fn reset_link(auth: &str, settings: &Settings) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    let page = http
        .get(format!("{auth}/password/forgot"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = hidden_field(&page, "csrf_token");
    http.post(format!("{auth}/password/forgot"))
        .form(&[("csrf_token", csrf.as_str()), ("email", "alice@example.test")])
        .send()
        .await?;
    let pool = shared::db::build_pool(&settings.database);
    let mut conn = pool.get()?;
    let body: String = outbox_messages::table
        .select(outbox_messages::body)
        .first(&mut conn)?;
    let email: serde_json::Value = serde_json::from_str(&body)?;
    let link = email["payload"]["variables"]["link"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no link in {email}"))?;
    Ok(link.to_owned())
}

/// One stranger at address 10.0.x.y.
struct Stranger {
    auth: String,
    reset_link: String,
    n: usize,
    /// The pause between two requests.
    every: Duration,
    stop: Instant,
    flood: Flood,
}

impl Stranger {
    /// Sends a request every `every` until `stop`, counting what it gets.
    async fn attack(self, outcomes: Arc<Mutex<BTreeMap<String, u64>>>) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().cookie_store(true).build()?;
        let address = format!("10.0.{}.{}", self.n / 250, self.n % 250 + 1);
        let auth = &self.auth;
        let resets = self.n.is_multiple_of(2);
        let (page, form) = match (self.flood, resets) {
            (Flood::Health, _) => (format!("{auth}/healthz"), "/healthz"),
            (Flood::AccountForms, true) => (self.reset_link.clone(), "/password/reset"),
            (Flood::AccountForms, false) => (format!("{auth}/register"), "/register"),
        };
        // The form's page gives the browser cookie and the CSRF token bound to it.
        let page = http
            .get(page)
            .header("X-Forwarded-For", &address)
            .send()
            .await?
            .text()
            .await?;
        let csrf = if self.flood == Flood::Health {
            String::new()
        } else {
            hidden_field(&page, "csrf_token")
        };
        let mut pace = tokio::time::interval(self.every);
        let mut attempt = 0;
        while Instant::now() < self.stop {
            pace.tick().await;
            attempt += 1;
            let request = match (self.flood, resets) {
                (Flood::Health, _) => http.get(format!("{auth}/healthz")),
                (Flood::AccountForms, true) => http.post(format!("{auth}/password/reset")).form(&[
                    ("csrf_token", csrf.as_str()),
                    ("token", "oal_made-up"),
                    ("password", &"x".repeat(64)),
                ]),
                (Flood::AccountForms, false) => {
                    let username = format!("stranger-{}-{attempt}", self.n);
                    http.post(format!("{auth}/register")).form(&[
                        ("csrf_token", csrf.as_str()),
                        ("username", username.as_str()),
                        ("email", &format!("{username}@example.test")),
                        ("password", "a long enough password"),
                    ])
                }
            };
            let status = request.header("X-Forwarded-For", &address).send().await?.status();
            *outcomes
                .lock()
                .expect("no attacker panicked")
                .entry(format!("{form} {}", status.as_u16()))
                .or_default() += 1;
        }
        Ok(())
    }
}
