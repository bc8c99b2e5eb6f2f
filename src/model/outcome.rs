//! What happened to a change set after it was planned: executed, rolled back, failed, or
//! discarded, and by whom. Each EventBridge event about one of the bot's change sets becomes an
//! [`Outcome`], recorded in the ledger and mirrored on the pull request and in the Slack thread.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::status::ChangeSetStatus;

/// Who pressed the button (or ran the command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// Through Amazon Q in Slack: the Slack user id from the `chatbot-session-slack-<ID>`
    /// session name.
    SlackUser(String),
    /// Anyone else: the IAM principal.
    Principal(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::SlackUser(id) => write!(f, "Slack user {id}"),
            Actor::Principal(principal) => f.write_str(principal),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Executed,
    RolledBack,
    /// The execution failed and could not roll back (or rollback was off).
    ExecutionFailed,
    ExecutionStarted,
    Discarded,
    /// An execute or discard call CloudFormation refused (e.g. a stale button).
    Refused {
        action: String,
        code: String,
        message: String,
    },
}

impl OutcomeKind {
    /// The ledger status it leads to, when it changes the record.
    pub fn status(&self) -> Option<ChangeSetStatus> {
        match self {
            OutcomeKind::Executed => Some(ChangeSetStatus::Executed),
            OutcomeKind::RolledBack => Some(ChangeSetStatus::RolledBack),
            OutcomeKind::ExecutionFailed => Some(ChangeSetStatus::ExecuteFailed),
            OutcomeKind::ExecutionStarted => Some(ChangeSetStatus::Executing),
            OutcomeKind::Discarded => Some(ChangeSetStatus::Discarded),
            OutcomeKind::Refused { .. } => None,
        }
    }
}

/// One outcome, with what the comment and the Slack follow-up say about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The EventBridge event id: the de-duplication key.
    pub event_id: String,
    pub kind: OutcomeKind,
    pub stack: String,
    pub region: String,
    pub change_set: String,
    pub commit: String,
    pub project: Option<String>,
    pub repository: Option<String>,
    pub pr: Option<u64>,
    /// CloudFormation's stack status and its reason, for status changes.
    pub stack_status: Option<String>,
    pub reason: Option<String>,
    pub actor: Option<Actor>,
    /// From the start of the execution to this status.
    pub duration_seconds: Option<u64>,
    /// The waivers the change set's verdict used, one line each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<String>,
    /// Why the safety verdict blocked it, when it did and the change set was run anyway (the
    /// bot could not delete it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_reasons: Vec<String>,
}
