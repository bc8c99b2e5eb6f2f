//! What the bot reads of Backlog's pull requests and projects, in the REST API's JSON names
//! (<https://developer.nulab.com/docs/backlog/api/2/get-pull-request/>).

use serde::{Deserialize, Serialize};

/// How a project renders comment text (`textFormattingRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextFormat {
    Markdown,
    Backlog,
}

/// A reference to a Backlog object (a status, a user) by its id: all the bot reads of one.
#[derive(Debug, Clone, Deserialize)]
pub struct IdRef {
    pub id: u64,
}

/// A pull request's status ids, as Backlog numbers them (1 open, 2 closed, 3 merged).
pub const STATUS_OPEN: u64 = 1;
pub const STATUS_MERGED: u64 = 3;

/// Whether a pull request status id, as the REST API or a webhook's `changes[]` carries it,
/// means "merged".
pub fn is_merged_status(id: u64) -> bool {
    id == STATUS_MERGED
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub summary: String,
    pub base: String,
    /// The branch it merges from.
    #[serde(default)]
    pub branch: String,
    pub status: IdRef,
    pub merge_commit: Option<String>,
    /// The head of `branch`, as Backlog last saw it.
    #[serde(default)]
    pub branch_commit: Option<String>,
}

impl PullRequest {
    pub fn is_merged(&self) -> bool {
        is_merged_status(self.status.id)
    }

    pub fn is_open(&self) -> bool {
        self.status.id == STATUS_OPEN
    }
}
