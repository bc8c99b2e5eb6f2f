//! The bot's pull request comments, rendered (pure) in the project's text format, Markdown or
//! Backlog notation, each carrying a marker so a re-run updates its own comment.

mod markup;
pub(crate) mod outcome;
pub mod plan;

use crate::model::report::PlanReport;

/// Longest comment the bot writes. Backlog documents no limit; reviewers read short comments.
pub const COMMENT_MAX: usize = 20_000;
/// Detail lines (warnings, every change, drift, notes) shown per stack before "…N more", so
/// one huge stack cannot push the others out of the comment.
pub const DETAILS_PER_STACK: usize = 100;

/// Identifies the bot's comment for one plan (the pushed commit), so a re-run updates it.
pub fn plan_marker(report: &PlanReport) -> String {
    format!("cfn-chatops:plan:{}", report.after)
}

/// Identifies the bot's comment for one EventBridge event.
pub fn event_marker(event_id: &str) -> String {
    let id: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(100)
        .collect();
    format!("cfn-chatops:event:{id}")
}
