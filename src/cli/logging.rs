//! Logs go to stderr: text for people, JSON (one object per line) on Lambda.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Crates that see whole requests or Lambda events, whose paths carry the webhook secret (or,
/// for the Backlog client, whose URLs carry the API key), and
/// log them at debug or trace (lambda_runtime logs every raw event at trace). Capped whatever
/// `RUST_LOG` says.
const SECRET_SEEING: [&str; 6] = [
    "lambda_runtime",
    "lambda_http",
    "hyper",
    "hyper_util",
    "axum",
    "reqwest",
];

/// Level from `RUST_LOG`, `info` when unset.
pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in SECRET_SEEING {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Colours only for a person at a terminal: piped logs (a parent process, CodeBuild) stay plain.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
