//! The ledger's record of a change set the bot planned: what the planner writes and what the
//! outcome handler reads back.

use super::outcome::Actor;
use super::report::Classification;
use super::status::ChangeSetStatus;

/// A change set the planner created, as the outcome handler will need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRecord {
    pub stack: String,
    pub region: String,
    pub name: String,
    pub arn: String,
    pub project: Option<String>,
    pub repository: Option<String>,
    pub branch: String,
    pub pr: Option<u64>,
    pub commit: String,
    /// The plan's classification of the change set (the planner always writes it; a record
    /// written by anything else may lack it).
    pub classification: Option<Classification>,
    pub status: ChangeSetStatus,
    /// The safety verdict's reasons, one line each (why it was blocked, what to review).
    pub verdict_reasons: Vec<String>,
    /// The waivers its verdict used, one line each with their reason.
    pub waivers: Vec<String>,
}

/// A change-set record as the ledger holds it, with what the outcome handler added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChangeSet {
    pub record: ChangeSetRecord,
    /// When and by whom its execution started (CloudTrail), ISO-8601.
    pub started_at: Option<String>,
    pub started_by: Option<Actor>,
}
