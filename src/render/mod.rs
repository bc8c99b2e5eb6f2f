//! Renderers: pure functions from the plan report and outcomes to what people read — Slack
//! cards, Backlog comments, the text report.

pub mod backlog;
pub mod links;
pub mod slack;
pub(crate) mod text;

/// How long an execution took, as a sentence ends: ` in 3 min 5 s`, or nothing when unknown.
pub(crate) fn took(duration_seconds: Option<u64>) -> String {
    duration_seconds
        .map(|seconds| format!(" in {}", duration_text(seconds)))
        .unwrap_or_default()
}

/// A duration as people read it: `42 s`, `3 min 5 s`.
pub fn duration_text(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        _ => format!("{} min {} s", seconds / 60, seconds % 60),
    }
}
