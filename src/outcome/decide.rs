//! What an event means for a change-set record. Pure: the handler reads the record and the
//! event, these functions decide, the handler writes.

use super::OutcomeKind;
use super::event::{ChangeSetCall, StackStatus};
use crate::ledger::StoredChangeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Record (when `status` is set), comment and follow up.
    Apply {
        kind: OutcomeKind,
        status: Option<&'static str>,
    },
    Ignore(String),
}

/// Final stack statuses and what they mean for the change set that was executed.
/// `CREATE_FAILED` and `UPDATE_FAILED` are stack statuses only when rollback was disabled (the
/// buttons never disable it; someone else's execution may), and then the stack stops there.
pub fn terminal(status: &str) -> Option<OutcomeKind> {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => Some(OutcomeKind::Executed),
        "ROLLBACK_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_ROLLBACK_COMPLETE" => {
            Some(OutcomeKind::RolledBack)
        }
        "CREATE_FAILED"
        | "UPDATE_FAILED"
        | "ROLLBACK_FAILED"
        | "UPDATE_ROLLBACK_FAILED"
        | "IMPORT_ROLLBACK_FAILED" => Some(OutcomeKind::ExecutionFailed),
        _ => None,
    }
}

/// Statuses of a change set that may be executing now.
pub fn awaiting_outcome(record: &StoredChangeSet) -> bool {
    matches!(record.record.status.as_str(), "pending" | "executing")
}

/// A final stack status for the change set that was executed.
pub fn on_status(event: &StackStatus, record: &StoredChangeSet) -> Decision {
    let Some(kind) = terminal(&event.status) else {
        return Decision::Ignore(format!("stack status {} is not final", event.status));
    };
    if !awaiting_outcome(record) {
        return Decision::Ignore(format!(
            "change set {} is already {}",
            record.record.name, record.record.status
        ));
    }
    // EventBridge does not keep order: a final status from before this execution began is an
    // earlier operation's.
    if record
        .started_at
        .as_deref()
        .is_some_and(|started| event.time.as_str() < started)
    {
        return Decision::Ignore(format!(
            "{} at {} is older than the execution of {}",
            event.status, event.time, record.record.name
        ));
    }
    let status = kind.status();
    Decision::Apply { kind, status }
}

/// An ExecuteChangeSet or DeleteChangeSet call on one of the bot's change sets.
pub fn on_call(call: &ChangeSetCall, record: &StoredChangeSet) -> Decision {
    let status = record.record.status.as_str();
    let clean_up = matches!(status, "superseded" | "no_changes" | "failed");
    if let Some((code, message)) = &call.error {
        // The bot deleting a change set CloudFormation already removed is no news.
        if clean_up && !call.execute {
            return Decision::Ignore(format!(
                "the bot's own clean-up of {} change set {} failed: {code}",
                status.replace('_', " "),
                record.record.name
            ));
        }
        return Decision::Apply {
            kind: OutcomeKind::Refused {
                action: call.action().to_string(),
                code: code.clone(),
                message: message.clone(),
            },
            status: None,
        };
    }
    if call.execute {
        // CloudTrail may arrive after the final status: never step back from it.
        return Decision::Apply {
            kind: OutcomeKind::ExecutionStarted,
            status: (status == "pending").then_some("executing"),
        };
    }
    match status {
        "pending" => Decision::Apply {
            kind: OutcomeKind::Discarded,
            status: Some("discarded"),
        },
        _ if clean_up => Decision::Ignore(format!(
            "the bot's own clean-up of {} change set {}",
            status.replace('_', " "),
            record.record.name
        )),
        other => Decision::Ignore(format!(
            "change set {} is already {other}",
            record.record.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::ChangeSetRecord;
    use crate::outcome::Actor;

    fn record(status: &str, started_at: Option<&str>) -> StoredChangeSet {
        StoredChangeSet {
            record: ChangeSetRecord {
                stack: "alarms".into(),
                region: "us-east-1".into(),
                name: "cfn-chatops-d3adb33".into(),
                arn: "arn".into(),
                project: None,
                repository: None,
                branch: "main".into(),
                pr: Some(57),
                commit: "d3adb33".into(),
                classification: "changes".into(),
                status: status.into(),
            },
            started_at: started_at.map(str::to_owned),
            started_by: None,
        }
    }

    fn status(status: &str, time: &str) -> StackStatus {
        StackStatus {
            id: "e".into(),
            time: time.into(),
            region: "us-east-1".into(),
            stack_id: "arn".into(),
            stack: "alarms".into(),
            status: status.into(),
            reason: None,
        }
    }

    fn call(execute: bool, error: Option<&str>) -> ChangeSetCall {
        ChangeSetCall {
            id: "c".into(),
            time: "2026-03-04T06:00:00Z".into(),
            region: "us-east-1".into(),
            execute,
            stack: Some("alarms".into()),
            change_set: "cfn-chatops-d3adb33".into(),
            actor: Actor::SlackUser("U1".into()),
            error: error.map(|code| (code.to_string(), "no".to_string())),
        }
    }

    #[test]
    fn final_statuses_map_to_outcomes_and_passing_ones_are_ignored() {
        let t = "2026-03-04T06:01:00Z";
        for (cfn, ledger) in [
            ("CREATE_COMPLETE", "executed"),
            ("UPDATE_COMPLETE", "executed"),
            ("UPDATE_ROLLBACK_COMPLETE", "rolled_back"),
            ("ROLLBACK_COMPLETE", "rolled_back"),
            ("UPDATE_ROLLBACK_FAILED", "execute_failed"),
            ("UPDATE_FAILED", "execute_failed"),
        ] {
            for from in ["pending", "executing"] {
                let Decision::Apply { status, .. } =
                    on_status(&status(cfn, t), &record(from, None))
                else {
                    panic!("{cfn} from {from}");
                };
                assert_eq!(status, Some(ledger), "{cfn}");
            }
        }
        for passing in [
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "DELETE_COMPLETE",
            "REVIEW_IN_PROGRESS",
        ] {
            assert!(matches!(
                on_status(&status(passing, t), &record("executing", None)),
                Decision::Ignore(_)
            ));
        }
        // Already final, or older than the execution: ignored.
        assert!(matches!(
            on_status(&status("UPDATE_COMPLETE", t), &record("executed", None)),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            on_status(
                &status("UPDATE_COMPLETE", "2026-03-04T05:00:00Z"),
                &record("executing", Some("2026-03-04T06:00:00Z"))
            ),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn calls_start_discard_or_are_the_bots_own_clean_up() {
        assert_eq!(
            on_call(&call(true, None), &record("pending", None)),
            Decision::Apply {
                kind: OutcomeKind::ExecutionStarted,
                status: Some("executing")
            }
        );
        // A late CloudTrail event never steps back from a final status.
        assert_eq!(
            on_call(&call(true, None), &record("executed", None)),
            Decision::Apply {
                kind: OutcomeKind::ExecutionStarted,
                status: None
            }
        );
        assert_eq!(
            on_call(&call(false, None), &record("pending", None)),
            Decision::Apply {
                kind: OutcomeKind::Discarded,
                status: Some("discarded")
            }
        );
        for own in ["superseded", "no_changes", "failed"] {
            assert!(matches!(
                on_call(&call(false, None), &record(own, None)),
                Decision::Ignore(reason) if reason.contains("clean-up")
            ));
        }
        let Decision::Apply { kind, status } = on_call(
            &call(true, Some("ChangeSetNotFound")),
            &record("superseded", None),
        ) else {
            panic!("refusal ignored");
        };
        assert!(matches!(kind, OutcomeKind::Refused { code, .. } if code == "ChangeSetNotFound"));
        assert_eq!(status, None);
        assert!(matches!(
            on_call(&call(false, Some("ChangeSetNotFound")), &record("superseded", None)),
            Decision::Ignore(reason) if reason.contains("clean-up")
        ));
        assert!(matches!(
            on_call(
                &call(false, Some("ChangeSetNotFound")),
                &record("pending", None)
            ),
            Decision::Apply {
                kind: OutcomeKind::Refused { .. },
                status: None
            }
        ));
    }
}
