//! Slack through Amazon Q Developer: the plan's cards, with the custom-action buttons that
//! execute or discard a change set, and the outcome follow-ups in the same thread. Pure; every
//! limit of a custom notification holds by construction.

pub mod cards;
pub(crate) mod follow_up;
pub(crate) mod mrkdwn;
pub(crate) mod preview;

use mrkdwn::{clip, escape, truncate};

use crate::model::commit::short;
use crate::model::notification::KEYWORD_MAX;
use crate::model::report::PlanReport;

/// Printable ASCII for ids compared as strings; anything else becomes `_`.
pub(crate) fn ascii_id(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect()
}

/// One Slack thread per plan: per pull request when there is one, else per commit.
pub fn thread_id(report: &PlanReport) -> String {
    thread_id_of(
        report.project.as_deref(),
        report.repository.as_deref(),
        report.pr,
        &report.after,
    )
}

/// The thread of a plan from what the ledger keeps of it, for follow-ups.
pub fn thread_id_of(
    project: Option<&str>,
    repository: Option<&str>,
    pr: Option<u64>,
    commit: &str,
) -> String {
    let subject = match pr {
        Some(pr) => format!("pr-{pr}"),
        None => format!("commit-{}", short(commit)),
    };
    ascii_id(
        &format!(
            "cfn-chatops/{}/{}/{subject}",
            project.unwrap_or("local"),
            repository.unwrap_or("repository")
        ),
        200,
    )
}

pub(crate) fn keywords<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    words
        .into_iter()
        .map(|word| truncate(&escape(&clip(word, KEYWORD_MAX)), KEYWORD_MAX))
        .collect()
}
