//! The load generator of the benchmarks: a fixed number of keep-alive connections sending one
//! request shape for a while, reporting requests/s and latency percentiles. It drives `wrk` when
//! installed (a C load generator that leaves the servers most of the cores) and otherwise reqwest
//! tasks in the benchmark's own process, which take a large share of the CPU themselves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

/// What to send.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    pub url: String,
    /// `None`: GET; `Some`: POST with this form body.
    pub form_body: Option<String>,
    pub basic_auth: Option<(String, String)>,
    pub bearer: Option<String>,
}

impl Target {
    pub fn get(name: &'static str, url: String) -> Target {
        Target {
            name,
            url,
            form_body: None,
            basic_auth: None,
            bearer: None,
        }
    }

    pub fn post_form(name: &'static str, url: String, body: String, client: &(String, String)) -> Target {
        Target {
            name,
            url,
            form_body: Some(body),
            basic_auth: Some(client.clone()),
            bearer: None,
        }
    }

    pub fn with_bearer(self, token: &str) -> Target {
        Target {
            bearer: Some(token.to_owned()),
            ..self
        }
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        if self.form_body.is_some() {
            headers.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
        }
        if let Some((id, secret)) = &self.basic_auth {
            let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            headers.push(("Authorization".into(), format!("Basic {credentials}")));
        }
        if let Some(token) = &self.bearer {
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        headers
    }
}

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub seconds: u64,
    pub connections: usize,
    /// `wrk` or `builtin`.
    pub driver: String,
}

impl LoadOptions {
    /// Reads `--seconds N`, `--connections N` and `--driver wrk|builtin` from the command line.
    pub fn from_args() -> LoadOptions {
        let wrk_installed = std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok();
        LoadOptions {
            seconds: arg("--seconds").unwrap_or(10),
            connections: arg("--connections").unwrap_or(32),
            driver: arg("--driver").unwrap_or_else(|| {
                if wrk_installed {
                    "wrk".into()
                } else {
                    "builtin".into()
                }
            }),
        }
    }
}

/// The value after `flag` on the command line, parsed.
pub fn arg<T: std::str::FromStr>(flag: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == flag)
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
}

/// What one target achieved.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: usize,
    pub errors: usize,
}

impl LoadResult {
    /// One aligned line for the benchmark's table.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<11} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} errors)",
            self.per_second, self.p50_ms, self.p99_ms, self.requests, self.errors
        )
    }
}

/// Loads `target` for `options.seconds` after a one-second warm-up.
pub async fn run(target: &Target, options: &LoadOptions) -> anyhow::Result<LoadResult> {
    if options.driver == "wrk" {
        with_wrk(target, options)
    } else {
        Ok(builtin(target, options).await)
    }
}

fn with_wrk(target: &Target, options: &LoadOptions) -> anyhow::Result<LoadResult> {
    let mut script = format!(
        "wrk.method = \"{}\"\n",
        if target.form_body.is_some() { "POST" } else { "GET" }
    );
    if let Some(body) = &target.form_body {
        script.push_str(&format!("wrk.body = \"{body}\"\n"));
    }
    for (name, value) in target.headers() {
        script.push_str(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n"));
    }
    let path = std::env::temp_dir().join(format!("bench-{}-{}.lua", std::process::id(), target.name));
    std::fs::write(&path, script)?;
    let run = |seconds: u64| {
        std::process::Command::new("wrk")
            .args([
                "-t1",
                &format!("-c{}", options.connections),
                &format!("-d{seconds}s"),
                "--latency",
                "-s",
            ])
            .arg(&path)
            .arg(&target.url)
            .output()
    };
    run(1)?; // warm-up
    let output = run(options.seconds);
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output?.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let per_second: f64 = field("Requests/sec:")
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("wrk said: {text}"))?;
    let errors = text
        .lines()
        .filter(|line| line.contains("Non-2xx") || line.contains("Socket errors"))
        .count();
    if errors > 0 {
        eprintln!("wrk reported errors for {}:\n{text}", target.name);
    }
    let requests = text
        .lines()
        .find(|line| line.contains("requests in"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    Ok(LoadResult {
        per_second,
        p50_ms: field("50%").map(|value| duration_ms(&value)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|value| duration_ms(&value)).unwrap_or(f64::NAN),
        requests,
        errors,
    })
}

/// `850.00us`, `1.25ms`, `2.01s` in milliseconds.
fn duration_ms(text: &str) -> f64 {
    let (number, factor) = if let Some(number) = text.strip_suffix("us") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1000.0)
    } else {
        (text, f64::NAN)
    };
    number
        .parse::<f64>()
        .map(|number| number * factor)
        .unwrap_or(f64::NAN)
}

async fn builtin(target: &Target, options: &LoadOptions) -> LoadResult {
    let target = Arc::new(target.clone());
    let warm_up = Duration::from_secs(1);
    let measure = Duration::from_secs(options.seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..options.connections)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("a client");
                let url = reqwest::Url::parse(&target.url).expect("a valid URL");
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < start + warm_up + measure {
                    let mut request = match &target.form_body {
                        Some(body) => client.post(url.clone()).body(body.clone()),
                        None => client.get(url.clone()),
                    };
                    for (name, value) in target.headers() {
                        request = request.header(name, value);
                    }
                    let sent = Instant::now();
                    let ok = request
                        .send()
                        .await
                        .map(|response| response.status().is_success())
                        .unwrap_or(false);
                    if sent >= start + warm_up {
                        if ok {
                            latencies.push(sent.elapsed())
                        } else {
                            errors += 1
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((task_latencies, task_errors)) = task.await {
            latencies.extend(task_latencies);
            errors += task_errors;
        }
    }
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|latency| latency.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    LoadResult {
        per_second: latencies.len() as f64 / measure.as_secs_f64(),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        requests: latencies.len(),
        errors,
    }
}
