//! Logging: `tracing` with a filter from `LOG_LEVEL` and text or JSON lines on stderr.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// Where logs go and how much of them.
#[derive(Debug, Args)]
pub struct LoggingArgs {
    /// Log filter, as `tracing` directives (`info`, `fasterclaw=debug,kube=warn`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber. A filter that does not parse falls back to `info`
/// and says so, rather than stopping the program.
pub fn init(args: &LoggingArgs) {
    let (filter, bad_filter) = match EnvFilter::try_new(&args.log_level) {
        Ok(filter) => (filter, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    // Colours only for a person at a terminal, never into a log file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok()
        && let Some(e) = bad_filter
    {
        tracing::warn!(filter = %args.log_level, error = %e, "LOG_LEVEL does not parse; using info");
    }
}
