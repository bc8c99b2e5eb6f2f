//! The text report `cfn-chatops plan` prints: one line per stack, then what needs attention.

use std::fmt::Write;

use crate::model::commit::short;
use crate::model::delivery::CommentStatus;
use crate::model::report::{Classification, PlanReport};
use crate::model::verdict::Level;
use crate::render::verdict_headline;

/// The report for people: one line per stack, then what needs attention.
pub fn plan_text(report: &PlanReport) -> String {
    let mut text = String::new();
    let repository = match (&report.project, &report.repository) {
        (Some(project), Some(repository)) => format!("{project}/{repository} "),
        _ => String::new(),
    };
    let pr = report
        .pr
        .map(|pr| format!(" (PR #{pr})"))
        .unwrap_or_default();
    let base = report
        .base
        .as_deref()
        .map_or("the empty tree".to_owned(), short);
    if let Some(preview) = &report.preview {
        let _ = write!(
            text,
            "preview before the merge into {} (nothing in it can be executed): ",
            preview.into
        );
    }
    let _ = writeln!(
        text,
        "{repository}{} @ {}{pr}, changes since {base}",
        report.branch,
        short(&report.after)
    );
    if report.stacks.is_empty() && report.left_in_place.is_empty() && report.errors.is_empty() {
        let _ = writeln!(text, "  no stack touched");
    }
    for stack in &report.stacks {
        let _ = write!(
            text,
            "  {:<28} {:<10} {:<11}",
            stack.stack,
            stack.region,
            stack.classification.as_str()
        );
        match stack.classification {
            Classification::Changes | Classification::Drift => {
                let _ = write!(text, " {}", stack.counts.summary());
                match (&stack.change_set, &report.preview) {
                    (Some(change_set), Some(_)) if change_set.deleted => {
                        let _ = write!(text, "  {} preview, deleted", change_set.change_set_type);
                    }
                    (Some(change_set), _) => {
                        let _ =
                            write!(text, "  {} {}", change_set.change_set_type, change_set.name);
                    }
                    (None, Some(_)) => text.push_str("  new stack, template validated"),
                    (None, None) => {}
                }
            }
            _ => {
                if let Some(reason) = &stack.reason {
                    let _ = write!(text, " {reason}");
                }
            }
        }
        text.push('\n');
        if let Some(verdict) = &stack.verdict {
            let label = match verdict.level {
                Level::Ok => "",
                Level::Review => "Review: ",
                Level::Blocked => "Blocked: ",
            };
            let _ = writeln!(text, "      {label}{}", verdict_headline(verdict));
            if !verdict.unchecked.is_empty() {
                let _ = writeln!(
                    text,
                    "        not checked: {}",
                    verdict.unchecked.join("; ")
                );
            }
            for finding in verdict.findings.iter().filter(|finding| !finding.counts()) {
                let _ = match &finding.waived {
                    Some(_) => writeln!(text, "        waived: {}", finding.waiver_line()),
                    None => writeln!(text, "        note: {}", finding.summary()),
                };
            }
        }
        if let Some(from) = &stack.renamed_from {
            let _ = writeln!(text, "      renamed from {from}");
        }
        if stack
            .change_set
            .as_ref()
            .is_some_and(|change_set| change_set.change_set_type == "CREATE")
        {
            let _ = writeln!(text, "      new stack {} will be created", stack.stack);
        }
        if !stack.capabilities.is_empty() {
            let _ = writeln!(text, "      acknowledges {}", stack.capabilities.join(", "));
        }
        if !stack.parameters.is_empty() {
            let values: Vec<String> = stack
                .parameters
                .iter()
                .map(|p| format!("{}={}", p.key, p.value))
                .collect();
            let _ = writeln!(text, "      parameters {}", values.join(", "));
        }
        for gap in &stack.incomplete {
            let _ = writeln!(text, "      ! incomplete review: {gap}");
        }
        for warning in &stack.warnings {
            let _ = writeln!(text, "      ! CloudFormation warns: {warning}");
        }
        // Every row, destructive first: the build log is a review on its own.
        for change in stack.changes.iter().filter(|c| c.destructive.is_some()) {
            let _ = writeln!(
                text,
                "      ! {} {} {}: {}",
                change.action,
                change.logical_id,
                change.resource_type,
                change.destructive.as_deref().unwrap_or_default()
            );
        }
        for change in stack.changes.iter().filter(|c| c.destructive.is_none()) {
            let _ = writeln!(
                text,
                "      {} {} {}",
                change.action, change.logical_id, change.resource_type
            );
        }
        for drift in &stack.drift {
            let _ = writeln!(
                text,
                "      ≠ drift {} {} {}: actual {} previous {}",
                drift.status,
                drift.logical_id,
                drift.property.as_deref().unwrap_or("(resource)"),
                drift.actual.as_deref().unwrap_or("?"),
                drift.previous.as_deref().unwrap_or("?")
            );
        }
        for superseded in &stack.superseded {
            let _ = writeln!(text, "      superseded and deleted {superseded}");
        }
        for note in &stack.notes {
            let _ = writeln!(text, "      note: {note}");
        }
    }
    for left in &report.left_in_place {
        let _ = writeln!(
            text,
            "  {:<28} left in place: {} ({})",
            left.stack, left.reason, left.template
        );
    }
    for error in &report.errors {
        let _ = writeln!(text, "  error: {error}");
    }
    for note in &report.notes {
        let _ = writeln!(text, "  note: {note}");
    }
    if let Some(withheld) = report.preview.as_ref().and_then(|p| p.withheld.as_ref()) {
        let _ = writeln!(text, "  not published: {withheld}");
    }
    let delivered = report.cards.iter().filter(|d| d.delivered).count();
    if !report.cards.is_empty() {
        let _ = writeln!(
            text,
            "  slack: {delivered} of {} cards delivered",
            report.cards.len()
        );
    }
    for missed in report.cards.iter().filter(|d| !d.delivered) {
        let _ = writeln!(
            text,
            "  slack: not delivered: {} ({})",
            missed.title,
            missed.error.as_deref().unwrap_or("unknown error")
        );
    }
    if let Some(comment) = &report.comment {
        let pr = comment
            .pr
            .map(|pr| format!(" PR #{pr}"))
            .unwrap_or_default();
        let status = match comment.status {
            CommentStatus::Added => "comment added",
            CommentStatus::Updated => "comment updated",
            CommentStatus::Skipped => "no comment",
            CommentStatus::Failed => "comment NOT delivered",
        };
        let detail = comment
            .detail
            .as_deref()
            .map(|detail| format!(" ({detail})"))
            .unwrap_or_default();
        let _ = writeln!(text, "  backlog:{pr} {status}{detail}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::{StackPlan, sample_change, sample_report};

    #[test]
    fn every_row_is_listed_with_its_action_destructive_first_after_the_warnings() {
        let mut stack = StackPlan::new(
            "app",
            "us-east-1",
            "stacks/app.yaml",
            Classification::Changes,
        );
        stack.counts.count("Add");
        stack.counts.count("Remove");
        stack.counts.count("Import");
        stack.changes = vec![
            sample_change("Add", "NewTopic", None),
            sample_change("Import", "Bucket", None),
            sample_change("Remove", "OldTopic", Some("removed")),
        ];
        stack.warnings = vec!["[WARN] incomplete ChangeSet data".into()];
        let text = plan_text(&sample_report(vec![stack]));
        let lines: Vec<_> = text.lines().collect();
        assert!(lines[1].contains("+1 ~0 -1 import 1"), "{text}");
        assert_eq!(
            &lines[2..6],
            [
                "      ! CloudFormation warns: [WARN] incomplete ChangeSet data",
                "      ! Remove OldTopic AWS::SNS::Topic: removed",
                "      Add NewTopic AWS::SNS::Topic",
                "      Import Bucket AWS::SNS::Topic",
            ],
            "{text}"
        );
    }
}
