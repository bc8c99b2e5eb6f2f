//! The one shape every webhook format is normalised into.

use std::fmt;

use super::commit::short;

/// A push as Backlog reported it, before the filters have looked at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub project_key: String,
    pub repository: String,
    /// Full ref name, e.g. `refs/heads/main`.
    pub git_ref: String,
    pub before: Option<String>,
    /// `None` when the format does not name the pushed commit (a type-12 push without revisions).
    pub after: Option<String>,
    /// The format said the ref was deleted.
    pub deleted: bool,
    pub revisions: Vec<Revision>,
    pub pr_number: Option<u64>,
    pub actor: Option<String>,
}

/// One pushed commit. Oldest first, as both Backlog formats list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub id: String,
    pub message: String,
    pub author: Option<String>,
}

/// A push that passed the filters: something to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub project_key: String,
    pub repository: String,
    pub branch: String,
    pub before: Option<String>,
    pub after: String,
    pub revisions: Vec<Revision>,
    pub pr_number: Option<u64>,
    pub actor: Option<String>,
    /// A preview of pull request `pr_number` (from `branch`, head `after`) into this branch:
    /// nothing is left to execute.
    pub preview_into: Option<String>,
}

impl Trigger {
    /// Depends only on the repository and the pushed commit (for a preview, also the pull
    /// request), so the same commit arriving through the project webhook and the Git webhook
    /// (or as a retry) maps to the same key.
    pub fn delivery_key(&self) -> DeliveryKey {
        match (&self.preview_into, self.pr_number) {
            (Some(_), Some(pr)) => DeliveryKey(format!(
                "{}/{}#pr-{pr}@{}",
                self.project_key, self.repository, self.after
            )),
            _ => DeliveryKey(format!(
                "{}/{}@{}",
                self.project_key, self.repository, self.after
            )),
        }
    }

    pub fn is_preview(&self) -> bool {
        self.preview_into.is_some()
    }
}

/// `{project}/{repo}@{after}` (a preview: `{project}/{repo}#pr-{n}@{head}`): the
/// de-duplication key of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKey(String);

impl DeliveryKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a well-formed delivery is not planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// A project-webhook activity type the bot does not act on.
    ActivityType(i64),
    /// Sample data from the "Test" button in Backlog's webhook settings.
    TestSend,
    BranchDeleted(String),
    TagRef(String),
    NotABranch(String),
    OtherBranch {
        branch: String,
        target: String,
    },
    NoRevisions,
    /// A type-18 or type-19 delivery when no Backlog API credentials are configured: previews
    /// need the pull request's head over REST.
    PreviewNeedsBacklogApi(u64),
    /// A merge webhook, but the pull request is not merged or has no merge commit over REST.
    MergeNotFound {
        number: u64,
        why: String,
    },
    /// A merge webhook, but no Backlog API credentials are configured to look it up.
    MergeNeedsBacklogApi(u64),
    /// A push to another branch than the target, with no open pull request from it into the
    /// target branch.
    NoOpenPullRequest {
        branch: String,
        target: String,
    },
    /// A pull request event for one that is closed or merged (merges plan from their own
    /// event).
    PullRequestNotOpen(u64),
    /// A pull request into another branch than the target.
    PullRequestBase {
        number: u64,
        base: String,
        target: String,
    },
    /// Backlog names no head commit for the pull request.
    HeadUnknown(u64),
    /// A preview of this head of the pull request was dispatched already.
    HeadUnchanged {
        number: u64,
        head: String,
    },
    /// A type-12 push listing fewer revisions than it counts: its head commit is unknown.
    RevisionsTruncated {
        listed: usize,
        count: u64,
    },
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::ActivityType(kind) => write!(f, "type {kind}"),
            Ignored::TestSend => f.write_str("test send from Backlog's webhook settings"),
            Ignored::BranchDeleted(branch) => write!(f, "branch {branch} was deleted"),
            Ignored::TagRef(git_ref) => write!(f, "tag ref {git_ref}"),
            Ignored::NotABranch(git_ref) => write!(f, "ref {git_ref} is not a branch"),
            Ignored::OtherBranch { branch, target } => {
                write!(f, "branch {branch} is not the target branch {target}")
            }
            Ignored::NoRevisions => f.write_str("push has no revisions"),
            Ignored::PreviewNeedsBacklogApi(number) => write!(
                f,
                "pull request #{number} changed, but no Backlog API credentials are configured to read its head: no preview"
            ),
            Ignored::NoOpenPullRequest { branch, target } => write!(
                f,
                "branch {branch} is not the target branch {target} and has no open pull request into it"
            ),
            Ignored::PullRequestNotOpen(number) => {
                write!(f, "pull request #{number} is not open: no preview")
            }
            Ignored::PullRequestBase {
                number,
                base,
                target,
            } => write!(
                f,
                "pull request #{number} merges into {base}, not the target branch {target}"
            ),
            Ignored::HeadUnknown(number) => write!(
                f,
                "Backlog names no head commit for pull request #{number}: the next push to its branch previews it"
            ),
            Ignored::HeadUnchanged { number, head } => write!(
                f,
                "a preview of head {} of pull request #{number} was dispatched already",
                short(head)
            ),
            Ignored::MergeNotFound { number, why } => {
                write!(f, "pull request #{number}: {why}")
            }
            Ignored::MergeNeedsBacklogApi(number) => write!(
                f,
                "pull request #{number} merged, but no Backlog API credentials are configured to look it up; the push webhook plans it"
            ),
            Ignored::RevisionsTruncated { listed, count } => write!(
                f,
                "push lists {listed} of {count} revisions, so its head commit is unknown; the Git webhook carries it"
            ),
        }
    }
}
