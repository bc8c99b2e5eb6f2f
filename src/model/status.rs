//! Where a change set the bot planned is in its life, as the ledger records it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A change-set record's status. The planner writes the first three and `superseded`; the
/// outcome handler the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSetStatus {
    /// Executable: waiting for Execute or Discard.
    Pending,
    /// Nothing to change; the bot deleted it.
    NoChanges,
    /// Not usable; the bot deleted it.
    Failed,
    /// A newer commit's change set replaced it; the bot deleted it.
    Superseded,
    /// Its safety verdict blocked it; the bot deleted it.
    Blocked,
    /// Someone pressed Execute; the stack is being updated.
    Executing,
    Executed,
    RolledBack,
    /// The execution failed and could not roll back (or rollback was off).
    ExecuteFailed,
    /// Someone pressed Discard.
    Discarded,
}

impl ChangeSetStatus {
    pub const ALL: [ChangeSetStatus; 10] = [
        ChangeSetStatus::Pending,
        ChangeSetStatus::NoChanges,
        ChangeSetStatus::Failed,
        ChangeSetStatus::Superseded,
        ChangeSetStatus::Blocked,
        ChangeSetStatus::Executing,
        ChangeSetStatus::Executed,
        ChangeSetStatus::RolledBack,
        ChangeSetStatus::ExecuteFailed,
        ChangeSetStatus::Discarded,
    ];

    /// The ledger's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSetStatus::Pending => "pending",
            ChangeSetStatus::NoChanges => "no_changes",
            ChangeSetStatus::Failed => "failed",
            ChangeSetStatus::Superseded => "superseded",
            ChangeSetStatus::Blocked => "blocked",
            ChangeSetStatus::Executing => "executing",
            ChangeSetStatus::Executed => "executed",
            ChangeSetStatus::RolledBack => "rolled_back",
            ChangeSetStatus::ExecuteFailed => "execute_failed",
            ChangeSetStatus::Discarded => "discarded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// May be executing now, so a final stack status can be its outcome.
    pub fn awaits_outcome(self) -> bool {
        matches!(self, ChangeSetStatus::Pending | ChangeSetStatus::Executing)
    }

    /// Deleted by the bot itself: a DeleteChangeSet call on it is the bot's clean-up.
    pub fn is_cleaned_up(self) -> bool {
        matches!(
            self,
            ChangeSetStatus::Superseded
                | ChangeSetStatus::NoChanges
                | ChangeSetStatus::Failed
                | ChangeSetStatus::Blocked
        )
    }

    /// A re-run of the plan may rewrite the record: nothing has happened to it since.
    pub fn is_replannable(self) -> bool {
        matches!(
            self,
            ChangeSetStatus::Pending
                | ChangeSetStatus::NoChanges
                | ChangeSetStatus::Failed
                | ChangeSetStatus::Blocked
        )
    }
}

impl fmt::Display for ChangeSetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_ledger_spelling_and_serde() {
        for status in ChangeSetStatus::ALL {
            assert_eq!(ChangeSetStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.as_str().into())
            );
        }
        assert_eq!(ChangeSetStatus::parse("PENDING"), None);
    }

    #[test]
    fn groups() {
        use ChangeSetStatus::*;
        let awaiting: Vec<_> = ChangeSetStatus::ALL
            .into_iter()
            .filter(|s| s.awaits_outcome())
            .collect();
        assert_eq!(awaiting, [Pending, Executing]);
        let cleaned: Vec<_> = ChangeSetStatus::ALL
            .into_iter()
            .filter(|s| s.is_cleaned_up())
            .collect();
        assert_eq!(cleaned, [NoChanges, Failed, Superseded, Blocked]);
        let replannable: Vec<_> = ChangeSetStatus::ALL
            .into_iter()
            .filter(|s| s.is_replannable())
            .collect();
        assert_eq!(replannable, [Pending, NoChanges, Failed, Blocked]);
    }
}
