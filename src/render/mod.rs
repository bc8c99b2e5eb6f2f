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

/// The verdict's first line, in plain words (each renderer escapes and clips it):
/// `Blocked: …`, `Review: …` with the reasons, or `No risks found by N rules`.
pub(crate) fn verdict_headline(verdict: &Verdict) -> String {
    let reasons: Vec<String> = verdict.reasons().map(Finding::summary).collect();
    let mut line = match verdict.level {
        Level::Ok => format!("No risks found by {} rules", verdict.rules_checked),
        Level::Review => format!("Review: {}", reasons.join("; ")),
        Level::Blocked => format!("Blocked: {}", reasons.join("; ")),
    };
    if !verdict.unchecked.is_empty() {
        line.push_str(&format!(" (not checked: {})", verdict.unchecked.join("; ")));
    }
    line
}

/// What to do about a blocked change set.
pub(crate) const BLOCKED_NEXT_STEP: &str = "Nothing can execute it: the bot deleted the change set. Change the template, or waive the rule for this stack in .cfn-chatops.yml (`waivers:` with the stack, the rule id and a reason), in a reviewed pull request.";

use crate::model::verdict::{Finding, Level, Verdict};
