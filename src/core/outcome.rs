//! What an event means for a change-set record. Pure: the handler reads the record and the
//! event, these functions decide, the handler writes.

use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};

use super::event::{ChangeSetCall, StackStatus};
use crate::model::outcome::OutcomeKind;
use crate::model::record::StoredChangeSet;
use crate::model::report::Classification;
use crate::model::status::ChangeSetStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeDecision {
    /// Record (when `status` is set), comment and follow up.
    Apply {
        kind: OutcomeKind,
        status: Option<ChangeSetStatus>,
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

/// A final stack status for the change set that was executed.
pub fn on_status(event: &StackStatus, record: &StoredChangeSet) -> OutcomeDecision {
    let Some(kind) = terminal(&event.status) else {
        return OutcomeDecision::Ignore(format!("stack status {} is not final", event.status));
    };
    if !record.record.status.awaits_outcome() {
        return OutcomeDecision::Ignore(format!(
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
        return OutcomeDecision::Ignore(format!(
            "{} at {} is older than the execution of {}",
            event.status, event.time, record.record.name
        ));
    }
    let status = kind.status();
    OutcomeDecision::Apply { kind, status }
}

/// An ExecuteChangeSet or DeleteChangeSet call on one of the bot's change sets.
pub fn on_call(call: &ChangeSetCall, record: &StoredChangeSet) -> OutcomeDecision {
    let status = record.record.status;
    let spoken = status.as_str().replace('_', " ");
    if let Some((code, message)) = &call.error {
        // The bot deleting a change set CloudFormation already removed is no news, nor its
        // failing to delete one the safety verdict blocked (its plan already said so).
        let blocked = record.record.classification == Some(Classification::Blocked);
        if (status.is_cleaned_up() || blocked) && !call.execute {
            return OutcomeDecision::Ignore(format!(
                "the bot's own clean-up of {spoken} change set {} failed: {code}",
                record.record.name
            ));
        }
        return OutcomeDecision::Apply {
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
        return OutcomeDecision::Apply {
            kind: OutcomeKind::ExecutionStarted,
            status: (status == ChangeSetStatus::Pending).then_some(ChangeSetStatus::Executing),
        };
    }
    match status {
        ChangeSetStatus::Pending => OutcomeDecision::Apply {
            kind: OutcomeKind::Discarded,
            status: Some(ChangeSetStatus::Discarded),
        },
        _ if status.is_cleaned_up() => OutcomeDecision::Ignore(format!(
            "the bot's own clean-up of {spoken} change set {}",
            record.record.name
        )),
        other => OutcomeDecision::Ignore(format!(
            "change set {} is already {other}",
            record.record.name
        )),
    }
}

fn parse_time(text: &str) -> Option<DateTime> {
    DateTime::from_str(text, DateTimeFormat::DateTime).ok()
}

/// Whole seconds from one ISO-8601 time to a later one.
pub fn seconds_between(start: &str, end: &str) -> Option<u64> {
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    u64::try_from(end.secs() - start.secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::Actor;
    use crate::model::record::ChangeSetRecord;
    use crate::model::report::Classification;

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
                classification: Some(Classification::Changes),
                status: ChangeSetStatus::parse(status).unwrap(),
                verdict_reasons: vec![],
                waivers: vec![],
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
                let OutcomeDecision::Apply { status, .. } =
                    on_status(&status(cfn, t), &record(from, None))
                else {
                    panic!("{cfn} from {from}");
                };
                assert_eq!(status.map(ChangeSetStatus::as_str), Some(ledger), "{cfn}");
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
                OutcomeDecision::Ignore(_)
            ));
        }
        // Already final, or older than the execution: ignored.
        assert!(matches!(
            on_status(&status("UPDATE_COMPLETE", t), &record("executed", None)),
            OutcomeDecision::Ignore(_)
        ));
        assert!(matches!(
            on_status(
                &status("UPDATE_COMPLETE", "2026-03-04T05:00:00Z"),
                &record("executing", Some("2026-03-04T06:00:00Z"))
            ),
            OutcomeDecision::Ignore(_)
        ));
    }

    #[test]
    fn calls_start_discard_or_are_the_bots_own_clean_up() {
        assert_eq!(
            on_call(&call(true, None), &record("pending", None)),
            OutcomeDecision::Apply {
                kind: OutcomeKind::ExecutionStarted,
                status: Some(ChangeSetStatus::Executing)
            }
        );
        // A late CloudTrail event never steps back from a final status.
        assert_eq!(
            on_call(&call(true, None), &record("executed", None)),
            OutcomeDecision::Apply {
                kind: OutcomeKind::ExecutionStarted,
                status: None
            }
        );
        assert_eq!(
            on_call(&call(false, None), &record("pending", None)),
            OutcomeDecision::Apply {
                kind: OutcomeKind::Discarded,
                status: Some(ChangeSetStatus::Discarded)
            }
        );
        for own in ["superseded", "no_changes", "failed"] {
            assert!(matches!(
                on_call(&call(false, None), &record(own, None)),
                OutcomeDecision::Ignore(reason) if reason.contains("clean-up")
            ));
        }
        let OutcomeDecision::Apply { kind, status } = on_call(
            &call(true, Some("ChangeSetNotFound")),
            &record("superseded", None),
        ) else {
            panic!("refusal ignored");
        };
        assert!(matches!(kind, OutcomeKind::Refused { code, .. } if code == "ChangeSetNotFound"));
        assert_eq!(status, None);
        assert!(matches!(
            on_call(&call(false, Some("ChangeSetNotFound")), &record("superseded", None)),
            OutcomeDecision::Ignore(reason) if reason.contains("clean-up")
        ));
        assert!(matches!(
            on_call(
                &call(false, Some("ChangeSetNotFound")),
                &record("pending", None)
            ),
            OutcomeDecision::Apply {
                kind: OutcomeKind::Refused { .. },
                status: None
            }
        ));
    }

    #[test]
    fn the_bots_failed_delete_of_a_blocked_change_set_is_no_refusal() {
        let mut blocked = record("pending", None);
        blocked.record.classification = Some(Classification::Blocked);
        assert!(matches!(
            on_call(&call(false, Some("AccessDenied")), &blocked),
            OutcomeDecision::Ignore(_)
        ));
        assert!(
            matches!(
                on_call(&call(true, Some("InvalidChangeSetStatus")), &blocked),
                OutcomeDecision::Apply {
                    kind: OutcomeKind::Refused { .. },
                    ..
                }
            ),
            "a refused execution is still news"
        );
        assert!(
            matches!(
                on_call(&call(false, Some("AccessDenied")), &record("pending", None)),
                OutcomeDecision::Apply {
                    kind: OutcomeKind::Refused { .. },
                    ..
                }
            ),
            "a person's refused Discard is news"
        );
    }

    #[test]
    fn durations_come_from_iso_times() {
        assert_eq!(
            seconds_between("2026-03-04T06:00:00Z", "2026-03-04T06:02:05Z"),
            Some(125)
        );
        assert_eq!(
            seconds_between("2026-03-04T06:00:00.500Z", "2026-03-04T06:00:10Z"),
            Some(10)
        );
        assert_eq!(
            seconds_between("2026-03-04T06:02:05Z", "2026-03-04T06:00:00Z"),
            None
        );
        assert_eq!(seconds_between("yesterday", "2026-03-04T06:00:00Z"), None);
    }
}
