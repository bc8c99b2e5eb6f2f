//! The bot's pull request comments, rendered (pure) in the project's text format, Markdown or
//! Backlog notation, each carrying a marker so a re-run updates its own comment.

mod markup;
pub(crate) mod outcome;
pub mod plan;

use crate::model::report::PlanReport;

/// Longest comment the bot writes, in bytes (at least as many as characters). Backlog's API
/// documentation gives no limit; a field test of its API (Qiita, "Backlog API Character Limits
/// (Tested July 2025)", <https://qiita.com/otLenz/items/8e21020b37880f6392c6>) found comments
/// refused above 50,000 characters (error code 7). Kept well under that.
pub const COMMENT_MAX: usize = 45_000;
/// Detail lines (warnings, every change, drift, notes) shown per stack before "…N more", so
/// one huge stack cannot push the others out of the comment.
pub const DETAILS_PER_STACK: usize = 300;

/// Identifies the bot's comment for one plan (the pushed commit), so a re-run updates it; a
/// preview's is per pull request ([`preview_marker`]), edited on every new head.
pub fn plan_marker(report: &PlanReport) -> String {
    match (&report.preview, report.pr) {
        (Some(_), Some(pr)) => format!("{}{}", preview_marker(pr), report.after),
        _ => format!("cfn-chatops:plan:{}", report.after),
    }
}

/// What the one preview comment of a pull request carries, followed by the head it shows.
pub fn preview_marker(pr: u64) -> String {
    // The colon ends the number: pull request 5's marker is not found in 57's comment.
    format!("cfn-chatops:preview:pr-{pr}:")
}

/// The head a preview comment shows, from its marker.
pub fn previewed_head(content: &str, pr: u64) -> Option<String> {
    let marker = preview_marker(pr);
    let at = content.find(&marker)? + marker.len();
    let head: String = content[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    crate::model::commit::parse_full(&head)
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
