//! An outcome comment: what happened to a change set, who did it and how long it took.

use super::markup::Writer;
use super::{COMMENT_MAX, event_marker};
use crate::core::text::{clip, collapse_whitespace};
use crate::model::backlog::TextFormat;
use crate::model::commit::short;
use crate::model::outcome::{Outcome, OutcomeKind};
use crate::render::took;

/// An outcome: what happened, to which change set, who did it and how long it took.
pub fn outcome_comment(outcome: &Outcome, format: TextFormat) -> String {
    let mut w = Writer::new(format);
    let stack = format!("{} ({})", w.text(&outcome.stack), w.text(&outcome.region));
    let by = outcome
        .actor
        .as_ref()
        .map(|actor| format!(" by {}", w.text(&actor.to_string())))
        .unwrap_or_default();
    let took = took(outcome.duration_seconds);
    let status = outcome
        .stack_status
        .as_deref()
        .map(|status| format!(" ({})", w.text(status)))
        .unwrap_or_default();
    let headline = match &outcome.kind {
        OutcomeKind::Executed => format!("✅ {stack}: deployed{status}{took}"),
        OutcomeKind::RolledBack => {
            format!("↩️ {stack}: execution failed and rolled back{status}{took}")
        }
        OutcomeKind::ExecutionFailed => format!("❌ {stack}: execution FAILED{status}{took}"),
        OutcomeKind::ExecutionStarted => format!("▶️ {stack}: execution started{by}"),
        OutcomeKind::Discarded => format!("🗑️ {stack}: change set discarded{by}"),
        OutcomeKind::Refused { action, .. } => {
            format!(
                "⚠️ {stack}: {} refused by CloudFormation{by}",
                w.text(action)
            )
        }
    };
    w.heading(&headline);
    let mut detail = format!(
        "Change set {} from commit {}",
        w.value(&outcome.change_set),
        w.value(&short(&outcome.commit))
    );
    if !matches!(
        outcome.kind,
        OutcomeKind::ExecutionStarted | OutcomeKind::Discarded | OutcomeKind::Refused { .. }
    ) && !by.is_empty()
    {
        detail.push_str(&format!(", executed{by}"));
    }
    w.line(detail);
    if let OutcomeKind::Refused { code, message, .. } = &outcome.kind {
        w.line(format!(
            "{}: {}",
            w.value(code),
            w.text(&clip(message, 500))
        ));
    }
    if let Some(reason) = &outcome.reason {
        w.line(format!("Reason: {}", w.text(&clip(reason, 1_000))));
    }
    if !outcome.blocked_reasons.is_empty() {
        w.line(format!(
            "⛔ {} {}",
            w.bold("The safety verdict had blocked this change set:"),
            w.text(&clip(&outcome.blocked_reasons.join("; "), 1_000))
        ));
    }
    // Accepted risks stay visible on what was deployed with them.
    for waiver in &outcome.waivers {
        w.line(format!(
            "⚠️ {} {}",
            w.bold("Waived in .cfn-chatops.yml:"),
            w.text(&clip(waiver, 600))
        ));
    }
    if matches!(
        outcome.kind,
        OutcomeKind::RolledBack | OutcomeKind::ExecutionFailed
    ) {
        w.line(format!(
            "See `aws cloudformation describe-stack-events --stack-name {}` for the failing resource.",
            collapse_whitespace(&outcome.stack).replace('`', "'")
        ));
    }
    w.finish(&event_marker(&outcome.event_id), COMMENT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::Actor;

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    #[test]
    fn outcome_comments_say_what_happened_and_who_did_it() {
        let outcome = Outcome {
            event_id: "e7a5c3b2-1111".into(),
            kind: OutcomeKind::Executed,
            stack: "alarms".into(),
            region: "us-east-1".into(),
            change_set: "cfn-chatops-d3adb33".into(),
            commit: SHA.into(),
            project: Some("INFRA".into()),
            repository: Some("cfn-templates".into()),
            pr: Some(57),
            stack_status: Some("UPDATE_COMPLETE".into()),
            reason: None,
            actor: Some(Actor::SlackUser("U0123ABC".into())),
            duration_seconds: Some(125),
            waivers: vec![],
            blocked_reasons: vec![],
        };
        let text = outcome_comment(&outcome, TextFormat::Markdown);
        assert!(
            text.starts_with(
                "### ✅ alarms (us-east-1): deployed (UPDATE\\_COMPLETE) in 2 min 5 s"
            ),
            "{text}"
        );
        assert!(text.contains("Change set `cfn-chatops-d3adb33` from commit `d3adb33`, executed by Slack user U0123ABC"));
        assert!(text.ends_with("<sub>cfn-chatops:event:e7a5c3b2-1111</sub>"));
        assert!(!text.contains("Waived"), "{text}");
        let waived = Outcome {
            waivers: vec![
                "data-loss — Logs (AWS::Logs::LogGroup): replaced (waived: logs are shipped to S3)"
                    .into(),
            ],
            ..outcome.clone()
        };
        let text = outcome_comment(&waived, TextFormat::Markdown);
        assert!(
            text.contains("⚠️ **Waived in .cfn-chatops.yml:** data-loss — Logs (AWS::Logs::LogGroup): replaced (waived: logs are shipped to S3)"),
            "{text}"
        );
        let run_anyway = Outcome {
            blocked_reasons: vec![
                "ingress-open-to-world — Sg (AWS::EC2::SecurityGroup): opens tcp 22 to 0.0.0.0/0"
                    .into(),
            ],
            ..outcome.clone()
        };
        let text = outcome_comment(&run_anyway, TextFormat::Markdown);
        assert!(
            text.contains(
                "⛔ **The safety verdict had blocked this change set:** ingress-open-to-world"
            ),
            "{text}"
        );
        assert!(!outcome_comment(&outcome, TextFormat::Markdown).contains("⛔"));
        let refused = Outcome {
            kind: OutcomeKind::Refused {
                action: "ExecuteChangeSet".into(),
                code: "ChangeSetNotFound".into(),
                message: "ChangeSet [x] does not exist".into(),
            },
            stack_status: None,
            duration_seconds: None,
            ..outcome
        };
        let text = outcome_comment(&refused, TextFormat::Backlog);
        assert!(text.starts_with("** ⚠️ alarms (us-east-1): ExecuteChangeSet refused by CloudFormation by Slack user U0123ABC"), "{text}");
        assert!(text.contains("ChangeSetNotFound: ChangeSet [x] does not exist"));
    }
}
