//! What a pull request's preview is published as: the decisions over a preview's report.

use crate::model::report::{Classification, PlanReport, PreviewSlack};
use crate::model::verdict::Level;

/// Whether the preview goes to Slack, as `.cfn-chatops.yml` `preview.slack` says: `risky`
/// means a removal, a replacement (or any other destructive change), drift, a blocked verdict,
/// or a preview change set that could not be deleted in some stack.
pub fn wants_slack(report: &PlanReport) -> bool {
    let Some(preview) = &report.preview else {
        return false;
    };
    match preview.slack {
        PreviewSlack::None => false,
        PreviewSlack::All => true,
        PreviewSlack::Risky => report.stacks.iter().any(|stack| {
            stack.destructive_count() > 0
                || !stack.drift.is_empty()
                || stack.classification == Classification::Drift
                || stack
                    .verdict
                    .as_ref()
                    .is_some_and(|verdict| verdict.level == Level::Blocked)
                || stack.change_set.as_ref().is_some_and(|c| !c.deleted)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::{Preview, StackPlan, sample_change, sample_report};

    fn preview(slack: PreviewSlack, stacks: Vec<StackPlan>) -> PlanReport {
        PlanReport {
            preview: Some(Preview {
                into: "main".into(),
                slack,
                withheld: None,
                slack_quiet: false,
            }),
            ..sample_report(stacks)
        }
    }

    fn stack(changes: Vec<crate::model::report::ResourceChangeSummary>) -> StackPlan {
        StackPlan {
            changes,
            ..StackPlan::new("app", "ap-northeast-1", "app.yaml", Classification::Changes)
        }
    }

    #[test]
    fn risky_previews_go_to_slack_by_default_and_the_setting_overrides() {
        let calm = vec![stack(vec![sample_change("Add", "Topic", None)])];
        let risky = vec![stack(vec![sample_change(
            "Remove",
            "Table",
            Some("removed"),
        )])];
        assert!(!wants_slack(&preview(PreviewSlack::Risky, calm.clone())));
        assert!(wants_slack(&preview(PreviewSlack::Risky, risky.clone())));
        assert!(wants_slack(&preview(PreviewSlack::All, calm.clone())));
        assert!(!wants_slack(&preview(PreviewSlack::None, risky.clone())));
        let mut drifted = stack(vec![]);
        drifted.classification = Classification::Drift;
        assert!(wants_slack(&preview(PreviewSlack::Risky, vec![drifted])));
        // A merge plan is not a preview: its cards are always sent.
        assert!(!wants_slack(&sample_report(risky)));
    }
}
