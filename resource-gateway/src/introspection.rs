//! The client of the auth-server's introspection endpoint (RFC 7662): authenticated as a client, with
//! a per-attempt timeout inside the circuit breaker (so a timeout counts as a failure), bounded
//! retries with jittered backoff for transient failures only, a retry budget, and an overall
//! deadline. Pipeline, outermost first: deadline, retry (budgeted), breaker, attempt timeout.

use shared::server::tls::TlsSettings;
use std::time::Duration;

use secrecy::ExposeSecret;
use shared::resilience::{Breaker, BreakerError, RetryBudget};
use tokio::time::Instant;

use crate::caller::{Caller, IntrospectionResponse};
use crate::configuration::IntrospectionSettings;

/// What introspection said of a token.
#[derive(Debug, Clone)]
pub enum Verdict {
    Active(Caller),
    Inactive,
}

/// Why the auth-server gave no verdict. The caller answers 503: never 200, never 401.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("the circuit breaker around the auth-server is open")]
    BreakerOpen { retry_after: Duration },
    #[error("the auth-server did not answer in time")]
    Deadline,
    #[error("the auth-server failed: {0}")]
    Failed(String),
}

/// One attempt's failure.
#[derive(Debug)]
enum AttemptError {
    /// Connection refused or reset, timeout, 5xx: worth retrying, counts against the breaker.
    Transient(String),
    /// The auth-server refused our own credentials or answered nonsense: a configuration problem
    /// that retrying cannot fix.
    Permanent(String),
}

fn is_transient(error: &AttemptError) -> bool {
    matches!(error, AttemptError::Transient(_))
}

/// Calls the introspection endpoint.
pub struct IntrospectionClient {
    http: reqwest::Client,
    settings: IntrospectionSettings,
    breaker: Breaker,
    budget: RetryBudget,
}

impl IntrospectionClient {
    /// A client of `settings.url`; an `https` URL is verified against the system's roots and
    /// `tls.ca_file`.
    pub fn new(settings: IntrospectionSettings, tls: &TlsSettings) -> anyhow::Result<IntrospectionClient> {
        let http = tls
            .trust(reqwest::Client::builder())?
            .connect_timeout(Duration::from_millis(settings.attempt_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let budget = RetryBudget::new(
            settings.retry_budget.percent,
            settings.retry_budget.min_per_second,
            // Settings loaded from files are refused with 0 (`Settings::validated`).
            Duration::from_secs(settings.retry_budget.window_secs.max(1)),
        );
        Ok(IntrospectionClient {
            breaker: Breaker::new("auth-server", &settings.breaker),
            http,
            settings,
            budget,
        })
    }

    /// Introspects `token`, retrying transient failures within the deadline and the budget.
    pub async fn introspect(&self, token: &str) -> Result<Verdict, Unavailable> {
        let started = std::time::Instant::now();
        let outcome = self.introspect_with_retries(token).await;
        let label = match &outcome {
            Ok(Verdict::Active(_)) => "active",
            Ok(Verdict::Inactive) => "inactive",
            Err(Unavailable::BreakerOpen { .. }) => "breaker_open",
            Err(_) => "unavailable",
        };
        metrics::counter!("gateway_introspections_total", "outcome" => label).increment(1);
        metrics::histogram!("gateway_introspection_duration_seconds").record(started.elapsed().as_secs_f64());
        outcome
    }

    async fn introspect_with_retries(&self, token: &str) -> Result<Verdict, Unavailable> {
        let deadline = Instant::now() + Duration::from_millis(self.settings.deadline_ms);
        self.budget.record_call();
        let mut retry = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Unavailable::Deadline);
            }
            // The attempt's timeout is inside the breaker call, so a timeout is recorded as a failure.
            let attempt_timeout = remaining.min(Duration::from_millis(self.settings.attempt_timeout_ms));
            let attempt = async {
                match tokio::time::timeout(attempt_timeout, self.attempt(token)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(AttemptError::Transient(format!(
                        "no answer within {} ms",
                        attempt_timeout.as_millis()
                    ))),
                }
            };
            let error = match self.breaker.call(is_transient, attempt).await {
                Ok(verdict) => return Ok(verdict),
                Err(BreakerError::Rejected { retry_after }) => {
                    return Err(Unavailable::BreakerOpen { retry_after });
                }
                Err(BreakerError::Inner(AttemptError::Permanent(reason))) => {
                    tracing::error!(
                        reason = %reason,
                        "introspection failed permanently: check the gateway's client credentials"
                    );
                    return Err(Unavailable::Failed(reason));
                }
                Err(BreakerError::Inner(AttemptError::Transient(reason))) => reason,
            };
            if retry >= self.settings.max_retries || !self.budget.try_retry() {
                tracing::warn!(reason = %error, attempts = retry + 1, "introspection failed");
                return Err(Unavailable::Failed(error));
            }
            let pause = self.settings.backoff.delay(retry);
            if Instant::now() + pause >= deadline {
                return Err(Unavailable::Deadline);
            }
            tokio::time::sleep(pause).await;
            retry += 1;
            metrics::counter!("gateway_introspection_retries_total").increment(1);
        }
    }

    async fn attempt(&self, token: &str) -> Result<Verdict, AttemptError> {
        let response = self
            .http
            .post(&self.settings.url)
            .basic_auth(
                form_encode(&self.settings.client_id),
                Some(form_encode(self.settings.client_secret.expose_secret())),
            )
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|error| AttemptError::Transient(describe(&error)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(AttemptError::Transient(format!(
                "the auth-server answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(AttemptError::Permanent(format!(
                "the auth-server answered {status}"
            )));
        }
        let body: IntrospectionResponse = response.json().await.map_err(|_| {
            AttemptError::Permanent("the introspection response has no boolean `active`".into())
        })?;
        Ok(match body.into_caller() {
            Some(caller) => Verdict::Active(caller),
            None => Verdict::Inactive,
        })
    }
}

/// RFC 6749 §2.3.1: client credentials are form-urlencoded before Basic encoding.
fn form_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => encoded.push(byte as char),
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// A reqwest error without its URL (which is ours and harmless) or anything of the request.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        "the connection failed".into()
    }
}
