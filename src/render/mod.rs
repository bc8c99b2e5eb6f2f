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

/// The verdict's first line, in plain words (each renderer labels, escapes and clips it):
/// the reasons, or how many rules found nothing (and how many findings were waived).
pub(crate) fn verdict_headline(verdict: &Verdict) -> String {
    match verdict.level {
        Level::Ok => match verdict.waived().count() {
            0 => format!("No risks found by {} rules", verdict.rules_checked),
            waived => format!(
                "No risks left by {} rules: {waived} waived",
                verdict.rules_checked
            ),
        },
        Level::Review | Level::Blocked => {
            let reasons: Vec<String> = verdict.reasons().map(Finding::summary).collect();
            reasons.join("; ")
        }
    }
}

/// How to proceed with a blocked change set: fix what CloudFormation refused, delete one the
/// bot could not, or change the template or waive the rule.
pub(crate) fn blocked_next_step(stack: &StackPlan) -> &'static str {
    let refused = stack
        .verdict
        .as_ref()
        .is_some_and(|verdict| verdict.reasons().any(|finding| !finding.waivable()));
    if stack.change_set.as_ref().is_some_and(|c| c.executable) {
        "The bot could not delete the change set: delete it (`aws cloudformation delete-change-set`, or the console), and do not execute it."
    } else if stack.change_set.is_none() {
        "Nothing was created. Change the template, or waive the rule for this stack in .cfn-chatops.yml (`waivers:` with the stack, the rule id and a reason), in a reviewed pull request."
    } else if refused {
        "CloudFormation refused the change set (its validation, or a Hook in FAIL mode): change the template, or what the check found, and push again. A waiver cannot make it executable."
    } else {
        "Nothing can execute it: the bot deleted the change set. Change the template, or waive the rule for this stack in .cfn-chatops.yml (`waivers:` with the stack, the rule id and a reason), in a reviewed pull request."
    }
}

/// A stack's reason, unless it says the verdict blocked it: the verdict, with how to proceed,
/// is shown in its place.
pub(crate) fn reason_beside_verdict(stack: &StackPlan) -> Option<&str> {
    stack
        .reason
        .as_deref()
        .filter(|reason| !reason.starts_with(BLOCKED_BY_VERDICT))
}

use crate::model::report::StackPlan;
use crate::model::verdict::{BLOCKED_BY_VERDICT, Finding, Level, Verdict};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::{ChangeSetRef, Classification};
    use crate::model::verdict::Source;

    fn blocked(source: Source, deleted: bool) -> StackPlan {
        let mut stack = StackPlan::new("app", "us-east-1", "app.yaml", Classification::Blocked);
        stack.reason = Some(BLOCKED_BY_VERDICT.into());
        stack.change_set = Some(ChangeSetRef {
            name: "cfn-chatops-abc".into(),
            arn: None,
            stack_id: None,
            change_set_type: "UPDATE".into(),
            drift_aware: false,
            executable: !deleted,
            template_url: None,
            deleted: false,
        });
        stack.verdict = Some(Verdict::new(
            vec![Finding {
                rule: "r".into(),
                resource: None,
                message: "m".into(),
                source,
                level: Level::Blocked,
                waived: None,
            }],
            7,
            vec![],
        ));
        stack
    }

    #[test]
    fn how_to_proceed_depends_on_who_blocked_and_whether_the_change_set_is_gone() {
        assert!(blocked_next_step(&blocked(Source::Builtin, true)).contains("waive the rule"));
        let refused = blocked_next_step(&blocked(Source::Cloudformation, true));
        assert!(refused.contains("CloudFormation refused"), "{refused}");
        assert!(refused.contains("A waiver cannot make it executable"));
        assert!(
            blocked_next_step(&blocked(Source::Guard, false)).contains("could not delete"),
            "a change set that still exists is never said to be deleted"
        );
        let stack = blocked(Source::Builtin, true);
        assert_eq!(reason_beside_verdict(&stack), None, "the verdict says it");
        let mut kept = blocked(Source::Builtin, false);
        kept.reason = Some(format!(
            "{BLOCKED_BY_VERDICT}, but the change set could not be deleted"
        ));
        assert_eq!(
            reason_beside_verdict(&kept),
            None,
            "how to proceed says it, once"
        );
        kept.reason = Some("Template format error".into());
        assert!(reason_beside_verdict(&kept).is_some());
    }
}
