//! The plan report: what `cfn-chatops plan` found for each stack. One serde type, printed by
//! `plan --output json`; Slack cards and Backlog comments are rendered from it. Fields
//! are only ever added (with defaults), never renamed: `version` changes if that ever breaks.

use serde::{Deserialize, Serialize};

use super::delivery::{CardDelivery, CommentDelivery, CommentStatus};
use super::verdict::Verdict;

pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub version: u32,
    pub project: Option<String>,
    pub repository: Option<String>,
    pub branch: String,
    /// The pushed head: what was planned.
    pub after: String,
    /// The head commit's subject line and author, as git has them (untrusted text).
    #[serde(default)]
    pub commit_message: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    /// The commit before the push, when the webhook named it.
    pub before: Option<String>,
    /// The commit the changes were computed against (`None`: the empty tree, a first commit).
    pub base: Option<String>,
    pub pr: Option<u64>,
    /// One entry per stack the push touched, sorted by stack and region.
    pub stacks: Vec<StackPlan>,
    /// Stacks whose template or config entry went away: never deleted by the bot.
    #[serde(default)]
    pub left_in_place: Vec<LeftInPlace>,
    /// Failures of the run itself (git, the config file), not of one stack.
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// Slack cards published for this plan (empty when no topic is configured). Named
    /// `notifications` in the JSON, as Amazon Q calls them.
    #[serde(default, rename = "notifications")]
    pub cards: Vec<CardDelivery>,
    /// The Backlog pull request comment (absent when Backlog is not configured).
    #[serde(default)]
    pub comment: Option<CommentDelivery>,
    /// Set on a preview of an open pull request: nothing in it can be executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Preview>,
    /// On a merge plan: the pull request's last preview, as its comment names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previewed: Option<Previewed>,
}

/// A preview of an open pull request before its merge: every change set it made was deleted
/// at once, and new stacks were only validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The branch the pull request merges into.
    pub into: String,
    /// When the preview's Slack card is sent (`.cfn-chatops.yml` `preview.slack`).
    #[serde(default)]
    pub slack: PreviewSlack,
    /// Why nothing was published (a newer head came, the pull request closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
    /// No card was sent because `slack` said so (a topic is configured).
    #[serde(default)]
    pub slack_quiet: bool,
}

/// When a preview goes to Slack, as a card without buttons in the pull request's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewSlack {
    None,
    /// Only when it finds a removal, a replacement, drift or a blocked verdict.
    #[default]
    Risky,
    All,
}

/// The last preview of a merged pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previewed {
    /// The head commit it previewed.
    pub head: String,
    /// Whether that head is what was merged (a parent of the merge commit); `None` when git
    /// could not tell.
    pub merged: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackPlan {
    pub stack: String,
    pub region: String,
    /// Template path in the repository.
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    pub classification: Classification,
    /// Whether the change set is safe to execute, and why not: set on every change set that
    /// was reviewed (`changes` and `drift`, and those the verdict blocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why it failed, is blocked or busy (CloudFormation's text verbatim where it gave one).
    pub reason: Option<String>,
    /// CloudFormation's own StatusReason on a usable change set, verbatim: a `[WARN]` that
    /// property values are incomplete, often because creating a resource's change failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the review could not show (the bot's words): a nested stack's change set that
    /// failed or could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
    pub change_set: Option<ChangeSetRef>,
    /// The IAM acknowledgements the change set was created with (the bot's decision, from the
    /// template or the config).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The parameter values the change set was created with; `NoEcho` ones as `****`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterValue>,
    #[serde(default)]
    pub counts: ActionCounts,
    /// Every resource change, in CloudFormation's order.
    #[serde(default)]
    pub changes: Vec<ResourceChangeSummary>,
    #[serde(default)]
    pub drift: Vec<DriftedProperty>,
    /// Older pending change sets of ours on this stack, deleted because this commit supersedes them.
    #[serde(default)]
    pub superseded: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl StackPlan {
    /// A stack's plan with nothing found yet.
    pub fn new(
        stack: impl Into<String>,
        region: impl Into<String>,
        template: impl Into<String>,
        classification: Classification,
    ) -> Self {
        Self {
            stack: stack.into(),
            region: region.into(),
            template: template.into(),
            renamed_from: None,
            classification,
            verdict: None,
            reason: None,
            warnings: vec![],
            incomplete: vec![],
            change_set: None,
            capabilities: vec![],
            parameters: vec![],
            counts: ActionCounts::default(),
            changes: vec![],
            drift: vec![],
            superseded: vec![],
            notes: vec![],
        }
    }

    /// How many of its changes destroy something.
    pub fn destructive_count(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.destructive.is_some())
            .count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Nothing to change; the change set was deleted.
    NoChanges,
    /// A change set ready to execute.
    Changes,
    /// A change set ready to execute that also overwrites out-of-band changes.
    Drift,
    /// No usable change set; `reason` says why.
    Failed,
    /// The stack cannot be updated until a human acts (e.g. ROLLBACK_COMPLETE).
    Blocked,
    /// The stack is in the middle of an operation; nothing was created.
    Busy,
    /// A newer commit already has a pending change set on the stack (a late or replayed
    /// webhook); nothing was created.
    Superseded,
}

impl Classification {
    pub const ALL: [Classification; 7] = [
        Classification::NoChanges,
        Classification::Changes,
        Classification::Drift,
        Classification::Failed,
        Classification::Blocked,
        Classification::Busy,
        Classification::Superseded,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::NoChanges => "no_changes",
            Classification::Changes => "changes",
            Classification::Drift => "drift",
            Classification::Failed => "failed",
            Classification::Blocked => "blocked",
            Classification::Busy => "busy",
            Classification::Superseded => "superseded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSetRef {
    pub name: String,
    pub arn: Option<String>,
    pub stack_id: Option<String>,
    /// `CREATE` or `UPDATE`.
    #[serde(rename = "type")]
    pub change_set_type: String,
    /// Created with `DeploymentMode=REVERT_DRIFT`.
    pub drift_aware: bool,
    /// `CREATE_COMPLETE` and `AVAILABLE`: the buttons can act on it.
    pub executable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_url: Option<String>,
    /// The bot deleted it (no change, failed, blocked, superseded, or a preview's).
    #[serde(default)]
    pub deleted: bool,
}

/// Resource changes per action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCounts {
    pub add: u32,
    pub modify: u32,
    pub remove: u32,
    pub import: u32,
    pub dynamic: u32,
    pub sync_with_actual: u32,
}

impl ActionCounts {
    /// Adds another change set's counts (a nested stack's to its root's).
    pub fn add_all(&mut self, other: &ActionCounts) {
        self.add += other.add;
        self.modify += other.modify;
        self.remove += other.remove;
        self.import += other.import;
        self.dynamic += other.dynamic;
        self.sync_with_actual += other.sync_with_actual;
    }

    /// `+add ~modify -remove`, as reviewers read counts, then the rarer actions that occur:
    /// `+0 ~0 -0 import 3`.
    pub fn summary(&self) -> String {
        let mut text = format!("+{} ~{} -{}", self.add, self.modify, self.remove);
        for (count, action) in [
            (self.import, "import"),
            (self.dynamic, "dynamic"),
            (self.sync_with_actual, "sync-with-actual"),
        ] {
            if count > 0 {
                text.push_str(&format!(" {action} {count}"));
            }
        }
        text
    }

    pub fn count(&mut self, action: &str) {
        match action {
            "Add" => self.add += 1,
            "Modify" => self.modify += 1,
            "Remove" => self.remove += 1,
            "Import" => self.import += 1,
            "Dynamic" => self.dynamic += 1,
            "SyncWithActual" => self.sync_with_actual += 1,
            _ => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChangeSummary {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    /// Add, Modify, Remove, Import, Dynamic or SyncWithActual.
    pub action: String,
    /// `True`, `False` or `Conditional` for Modify.
    pub replacement: Option<String>,
    pub policy_action: Option<String>,
    /// Why this change destroys something (removal, replacement and the properties forcing
    /// it, a Delete policy action); `None` when it does not.
    pub destructive: Option<String>,
    pub drift_status: Option<String>,
    #[serde(default)]
    pub properties: Vec<PropertyChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyChange {
    /// Properties, Tags, Metadata, …
    pub attribute: String,
    pub name: Option<String>,
    pub requires_recreation: Option<String>,
    pub change_source: Option<String>,
    pub causing_entity: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftedProperty {
    pub logical_id: String,
    pub resource_type: String,
    /// MODIFIED or DELETED.
    pub status: String,
    pub property: Option<String>,
    /// The live value the change set will overwrite.
    pub actual: Option<String>,
    /// The value of the previous deployment.
    pub previous: Option<String>,
}

/// A parameter as the change set got it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterValue {
    pub key: String,
    /// `****` for a `NoEcho` parameter: its value never leaves the planner.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftInPlace {
    pub stack: String,
    pub template: String,
    pub reason: String,
}

impl PlanReport {
    /// Every stack classified, every card delivered and the run itself sound: exit 0.
    pub fn succeeded(&self) -> bool {
        self.failures().is_empty()
    }

    /// What made the run fail, one line each.
    pub fn failures(&self) -> Vec<String> {
        self.errors
            .iter()
            .cloned()
            .chain(
                self.stacks
                    .iter()
                    .filter(|stack| stack.classification == Classification::Failed)
                    .map(|stack| {
                        format!(
                            "{} ({}): {}",
                            stack.stack,
                            stack.region,
                            stack.reason.as_deref().unwrap_or("failed")
                        )
                    }),
            )
            .chain(
                self.cards
                    .iter()
                    .filter(|delivery| !delivery.delivered)
                    .map(|delivery| {
                        format!(
                            "Slack card {:?} not delivered: {}",
                            delivery.title,
                            delivery.error.as_deref().unwrap_or("unknown error")
                        )
                    }),
            )
            .chain(
                self.comment
                    .iter()
                    .filter(|comment| comment.status == CommentStatus::Failed)
                    .map(|comment| {
                        let pr = comment
                            .pr
                            .map_or("the pull request".to_owned(), |pr| format!("PR #{pr}"));
                        format!(
                            "Backlog comment on {pr} not delivered: {}",
                            comment.detail.as_deref().unwrap_or("unknown error")
                        )
                    }),
            )
            .collect()
    }
}

/// A report of PR 57 on `INFRA/cfn-templates`, for tests that render reports; they set the
/// untrusted texts they probe.
#[cfg(test)]
pub fn sample_report(stacks: Vec<StackPlan>) -> PlanReport {
    PlanReport {
        version: REPORT_VERSION,
        project: Some("INFRA".into()),
        repository: Some("cfn-templates".into()),
        branch: "main".into(),
        after: "d3adb33fc0ffee00112233445566778899aabbcc".into(),
        commit_message: None,
        author: None,
        before: None,
        base: None,
        pr: Some(57),
        stacks,
        left_in_place: vec![],
        errors: vec![],
        notes: vec![],
        cards: vec![],
        comment: None,
        preview: None,
        previewed: None,
    }
}

/// A resource change of an SNS topic, for tests that render reports.
#[cfg(test)]
pub fn sample_change(
    action: &str,
    logical_id: &str,
    destructive: Option<&str>,
) -> ResourceChangeSummary {
    ResourceChangeSummary {
        logical_id: logical_id.into(),
        resource_type: "AWS::SNS::Topic".into(),
        physical_id: None,
        action: action.into(),
        replacement: None,
        policy_action: None,
        destructive: destructive.map(str::to_owned),
        drift_status: None,
        properties: vec![],
    }
}
