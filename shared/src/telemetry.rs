//! Logging through `tracing`: pretty output locally, one JSON object per line in production. Both
//! escape control characters in logged values, so a request cannot forge a log line.

mod escaped_fields;

use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// The `log` section of every service's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` (human-readable) or `json` (one object per line, for log collectors).
    pub format: LogFormat,
    /// Default filter, in `RUST_LOG` syntax; `RUST_LOG` itself wins when set.
    pub filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Installs the global subscriber for a service: JSON goes to standard output (where log collectors
/// read it), pretty output to standard error. Calling it again (several apps in one test process) is a
/// no-op.
pub fn init(service: &'static str, settings: &LogSettings) {
    install(service, settings, settings.format == LogFormat::Json);
}

/// Installs the subscriber for a command-line tool: every line goes to standard error, so standard
/// output carries only the command's result (`--json` output stays parseable).
pub fn init_for_cli(settings: &LogSettings) {
    install("cli", settings, false);
}

fn install(service: &'static str, settings: &LogSettings, to_stdout: bool) {
    let writer = move || -> Box<dyn std::io::Write> {
        if to_stdout {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::stderr())
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let installed = match settings.format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .with_env_filter(filter)
            .with_writer(writer)
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .fmt_fields(escaped_fields::EscapedFields)
            .with_env_filter(filter)
            .with_target(false)
            .with_writer(writer)
            .try_init(),
    };
    if installed.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
}
