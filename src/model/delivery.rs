//! What became of a plan's or an outcome's deliveries: the Backlog comment and the Slack cards.

use serde::{Deserialize, Serialize};

/// What became of the plan's comment on the Backlog pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentDelivery {
    pub pr: Option<u64>,
    pub status: CommentStatus,
    pub comment_id: Option<u64>,
    /// Why it was skipped or failed.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentStatus {
    Added,
    Updated,
    /// No pull request (a direct push): Slack only.
    Skipped,
    Failed,
}

impl CommentDelivery {
    pub fn failed(pr: Option<u64>, detail: impl Into<String>) -> Self {
        Self {
            pr,
            status: CommentStatus::Failed,
            comment_id: None,
            detail: Some(detail.into()),
        }
    }
}

/// One Slack card and whether it reached the SNS topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDelivery {
    pub id: String,
    pub title: String,
    pub delivered: bool,
    pub message_id: Option<String>,
    pub error: Option<String>,
}
