//! Handles one EventBridge event: claims it in the ledger (events arrive at least once), finds
//! the change set it is about, records the outcome, comments on the pull request and follows up
//! in the Slack thread. Each finished step is remembered, so a retry after a failure (Backlog or
//! SNS down) does only what is left, and nothing is marked done that was not.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::DisplayErrorContext;
use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;

use super::decide::{Decision, awaiting_outcome, on_call, on_status};
use super::event::{self, ChangeSetCall, Event, Parsed, StackStatus, stack_arn_parts};
use super::{Outcome, OutcomeKind};
use crate::backlog::api::RetryPolicy;
use crate::backlog::comment::{Commenter, event_marker, outcome_comment};
use crate::cli::{BacklogArgs, Failure, LedgerArgs, SlackArgs};
use crate::ledger::{ClaimToken, EventClaim, Ledger, STEP_LEDGER, StoredChangeSet, n, s};
use crate::plan::report::{CommentDelivery, CommentStatus};
use crate::slack::publish::Publisher;
use crate::slack::render::follow_up;

pub struct OutcomeHandler {
    pub ledger: Ledger,
    pub sdk: SdkConfig,
    /// `None`: Backlog not configured, no comments.
    pub commenter: Option<Commenter>,
    /// `None`: no SNS topic, no Slack follow-ups.
    pub publisher: Option<Publisher>,
}

/// What handling an event came to.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Handled {
    Ignored {
        reason: String,
    },
    /// Handled before (the same event id).
    Duplicate {
        event_id: String,
    },
    Done {
        outcome: Box<Outcome>,
        comment: Option<CommentDelivery>,
        slack: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Not an event the bot can read: retrying will not help.
    #[error("{0}")]
    BadEvent(String),
    /// Something on the way failed; the event should be delivered again.
    #[error("{0}")]
    Retry(String),
}

const STEP_BACKLOG: &str = "backlog";
const STEP_SLACK: &str = "slack";

/// A resolved event: the outcome and the record it changes.
enum Resolution {
    Ignore(String),
    Apply {
        outcome: Box<Outcome>,
        record: Box<StoredChangeSet>,
        status: Option<&'static str>,
        attributes: Vec<(&'static str, AttributeValue)>,
    },
}

impl OutcomeHandler {
    /// Builds the handler from its settings. A Backlog credential that cannot be read stops
    /// it here, before any event is taken.
    pub async fn from_settings(
        sdk: &SdkConfig,
        ledger: &LedgerArgs,
        backlog: &BacklogArgs,
        slack: &SlackArgs,
    ) -> Result<Self, Failure> {
        Ok(Self {
            ledger: ledger.ledger(sdk),
            sdk: sdk.clone(),
            // Bounded so one handling fits well inside the event's claim lease.
            commenter: backlog
                .client(sdk)
                .await
                .map_err(Failure::usage)?
                .map(|client| {
                    Commenter::new(client.with_retry(RetryPolicy {
                        attempts: 3,
                        first_backoff: Duration::from_millis(500),
                        max_wait: Duration::from_secs(20),
                    }))
                }),
            publisher: slack.publisher(sdk),
        })
    }

    pub async fn handle(&self, value: &Value) -> Result<Handled, HandleError> {
        let event = match event::parse(value) {
            Ok(Parsed::Event(event)) => event,
            Ok(Parsed::Unrelated(reason)) => {
                tracing::info!(reason, "event ignored: unrelated");
                return Ok(Handled::Ignored { reason });
            }
            Err(err) => return Err(HandleError::BadEvent(err.to_string())),
        };
        let (id, kind) = match &event {
            Event::StackStatus(status) => (status.id.as_str(), "stack-status"),
            Event::ChangeSetCall(call) => (call.id.as_str(), "change-set-call"),
        };
        let retry = |what: &str, err: &dyn std::fmt::Display| {
            HandleError::Retry(format!("event {id}: {what}: {err}"))
        };
        let (token, done, recorded) = match self
            .ledger
            .claim_event(id, kind)
            .await
            .map_err(|err| retry("claim", &err))?
        {
            EventClaim::Claimed {
                token,
                done,
                outcome,
            } => (token, done, outcome),
            EventClaim::Done => {
                tracing::info!(event_id = id, "event already handled");
                return Ok(Handled::Duplicate {
                    event_id: id.to_string(),
                });
            }
            EventClaim::InFlight => {
                return Err(HandleError::Retry(format!(
                    "event {id} is being handled by another invocation"
                )));
            }
        };
        let result = self.process(&event, id, &token, &done, recorded).await;
        let summary = match &result {
            Ok(Handled::Ignored { reason }) => format!("ignored: {reason}"),
            Ok(_) => "handled".to_string(),
            Err(err) => format!("failed: {err}"),
        };
        match result {
            Ok(handled) => {
                if let Err(err) = self.ledger.end_event(id, &token, true, &summary).await {
                    // Every step is recorded: a redelivery finds them done and repeats nothing.
                    tracing::warn!(event_id = id, error = %err, "event not marked done");
                }
                tracing::info!(event_id = id, summary, "event handled");
                Ok(handled)
            }
            Err(message) => {
                if let Err(err) = self.ledger.end_event(id, &token, false, &summary).await {
                    tracing::error!(event_id = id, error = %err, "event claim not released; a retry takes it over after the lease");
                }
                tracing::error!(
                    event_id = id,
                    error = message,
                    "event failed; to be retried"
                );
                Err(HandleError::Retry(message))
            }
        }
    }

    async fn process(
        &self,
        event: &Event,
        id: &str,
        token: &ClaimToken,
        done: &[String],
        recorded: Option<String>,
    ) -> Result<Handled, String> {
        let is_done = |step: &str| done.iter().any(|d| d == step);
        // A retry continues with the outcome the first attempt recorded: the ledger has moved on
        // since, so deciding again would find nothing to do.
        let outcome = match recorded.filter(|_| is_done(STEP_LEDGER)) {
            Some(json) => serde_json::from_str::<Outcome>(&json)
                .map_err(|err| format!("recorded outcome unreadable: {err}"))?,
            None => match self.resolve(event).await? {
                Resolution::Ignore(reason) => {
                    tracing::info!(event_id = id, reason, "event ignored");
                    return Ok(Handled::Ignored { reason });
                }
                Resolution::Apply {
                    outcome,
                    record,
                    status,
                    attributes,
                } => {
                    let json = serde_json::to_string(&outcome).map_err(|err| err.to_string())?;
                    let applied = self
                        .ledger
                        .record_outcome(&record, status, attributes, (id, token), &json)
                        .await
                        .map_err(|err| err.to_string())?;
                    if !applied {
                        return Err(format!(
                            "change set {} changed while this event was handled",
                            record.record.name
                        ));
                    }
                    *outcome
                }
            },
        };
        let mut failures = Vec::new();
        let mut comment = None;
        if !is_done(STEP_BACKLOG) {
            match self.comment(&outcome).await {
                Ok(delivery) => {
                    comment = Some(delivery);
                    self.ledger
                        .event_step_done(id, token, STEP_BACKLOG)
                        .await
                        .map_err(|err| err.to_string())?;
                }
                Err(err) => failures.push(format!("Backlog comment: {err}")),
            }
        }
        let mut slack = is_done(STEP_SLACK);
        if !slack {
            match self.follow_up(&outcome).await {
                Ok(sent) => {
                    slack = sent;
                    self.ledger
                        .event_step_done(id, token, STEP_SLACK)
                        .await
                        .map_err(|err| err.to_string())?;
                }
                Err(err) => failures.push(format!("Slack follow-up: {err}")),
            }
        }
        if !failures.is_empty() {
            return Err(format!("event {id}: {}", failures.join("; ")));
        }
        Ok(Handled::Done {
            outcome: Box::new(outcome),
            comment,
            slack,
        })
    }

    async fn resolve(&self, event: &Event) -> Result<Resolution, String> {
        match event {
            Event::StackStatus(status) => self.resolve_status(status).await,
            Event::ChangeSetCall(call) => self.resolve_call(call).await,
        }
    }

    async fn resolve_status(&self, event: &StackStatus) -> Result<Resolution, String> {
        if super::decide::terminal(&event.status).is_none() {
            return Ok(Resolution::Ignore(format!(
                "stack status {} is not final",
                event.status
            )));
        }
        let records = self
            .ledger
            .stack_change_sets(&event.region, &event.stack)
            .await
            .map_err(|err| err.to_string())?;
        let waiting: Vec<_> = records.into_iter().filter(awaiting_outcome).collect();
        if waiting.is_empty() {
            return Ok(Resolution::Ignore(format!(
                "no change set of ours awaits an outcome on stack {}",
                event.stack
            )));
        }
        let cloudformation = crate::aws::cloudformation(&self.sdk, &event.region);
        // The latest execution that started before this status (a record whose final status
        // was lost never captures later ones).
        let executing = waiting
            .iter()
            .filter(|r| r.record.status == "executing")
            .filter(|r| {
                r.started_at
                    .as_deref()
                    .is_none_or(|s| s <= event.time.as_str())
            })
            .max_by(|a, b| a.started_at.cmp(&b.started_at));
        let executed = match executing {
            Some(record) => Some(record.clone()),
            // CloudTrail is best effort: ask CloudFormation which pending one ran.
            None => self.executed_one(&cloudformation, &waiting).await?,
        };
        let Some(record) = executed else {
            return Ok(Resolution::Ignore(format!(
                "none of our change sets on stack {} was executed: it changed another way",
                event.stack
            )));
        };
        let (kind, status) = match on_status(event, &record) {
            Decision::Ignore(reason) => return Ok(Resolution::Ignore(reason)),
            Decision::Apply { kind, status } => (kind, status),
        };
        let started = match &record.started_at {
            Some(started) => Some(started.clone()),
            None => execution_start(&cloudformation, event).await,
        };
        let duration_seconds = started.and_then(|started| seconds_between(&started, &event.time));
        let mut attributes = vec![
            ("stack_status", s(&event.status)),
            ("finished_at", s(&event.time)),
        ];
        if let Some(seconds) = duration_seconds {
            attributes.push(("duration_seconds", n(seconds)));
        }
        if let Some(reason) = &event.reason {
            attributes.push(("status_reason", s(reason)));
        }
        let actor = record
            .started_by
            .as_deref()
            .and_then(|by| serde_json::from_str(by).ok());
        Ok(Resolution::Apply {
            outcome: Box::new(outcome_of(
                &event.id,
                kind,
                &record,
                Some(event.status.clone()),
                event.reason.clone(),
                actor,
                duration_seconds,
            )),
            record: Box::new(record),
            status,
            attributes,
        })
    }

    /// The pending change set CloudFormation reports as executed (siblings of an executed
    /// change set are deleted by CloudFormation, so they are simply not found).
    async fn executed_one(
        &self,
        cloudformation: &aws_sdk_cloudformation::Client,
        waiting: &[StoredChangeSet],
    ) -> Result<Option<StoredChangeSet>, String> {
        for record in waiting {
            let described = cloudformation
                .describe_change_set()
                .change_set_name(&record.record.arn)
                .send()
                .await;
            match described {
                Ok(output) => {
                    let status = output
                        .execution_status()
                        .map(|status| status.as_str())
                        .unwrap_or_default();
                    if status.starts_with("EXECUTE_") {
                        return Ok(Some(record.clone()));
                    }
                }
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_change_set_not_found_exception()) => {}
                Err(err) => {
                    return Err(format!(
                        "DescribeChangeSet {}: {}",
                        record.record.name,
                        DisplayErrorContext(err)
                    ));
                }
            }
        }
        Ok(None)
    }

    async fn resolve_call(&self, call: &ChangeSetCall) -> Result<Resolution, String> {
        let found = if call.change_set.starts_with("arn:") {
            self.ledger.change_set_by_arn(&call.change_set).await
        } else {
            let Some(stack) = call.stack.as_deref() else {
                return Ok(Resolution::Ignore(format!(
                    "{} of {} names no stack",
                    call.action(),
                    call.change_set
                )));
            };
            let stack = stack_arn_parts(stack).map_or(stack, |(_, name)| name);
            self.ledger
                .change_set(&call.region, stack, &call.change_set)
                .await
        }
        .map_err(|err| err.to_string())?;
        let Some(record) = found else {
            return Ok(Resolution::Ignore(format!(
                "change set {} is not one of ours",
                call.change_set
            )));
        };
        let (kind, status) = match on_call(call, &record) {
            Decision::Ignore(reason) => return Ok(Resolution::Ignore(reason)),
            Decision::Apply { kind, status } => (kind, status),
        };
        let actor = serde_json::to_string(&call.actor).map_err(|err| err.to_string())?;
        let attributes = match kind {
            OutcomeKind::ExecutionStarted => {
                vec![("started_at", s(&call.time)), ("started_by", s(actor))]
            }
            OutcomeKind::Discarded => {
                vec![("discarded_at", s(&call.time)), ("discarded_by", s(actor))]
            }
            _ => vec![],
        };
        Ok(Resolution::Apply {
            outcome: Box::new(outcome_of(
                &call.id,
                kind,
                &record,
                None,
                None,
                Some(call.actor.clone()),
                None,
            )),
            record: Box::new(record),
            status,
            attributes,
        })
    }

    /// Comments on the pull request; `Skipped` for a direct push or without Backlog.
    async fn comment(&self, outcome: &Outcome) -> Result<CommentDelivery, String> {
        let skipped = |why: &str| CommentDelivery {
            pr: outcome.pr,
            status: CommentStatus::Skipped,
            comment_id: None,
            detail: Some(why.to_string()),
        };
        let (Some(pr), Some(project), Some(repository)) =
            (outcome.pr, &outcome.project, &outcome.repository)
        else {
            return Ok(skipped("no pull request: a direct push"));
        };
        let Some(commenter) = &self.commenter else {
            return Ok(skipped("Backlog not configured"));
        };
        let format = commenter
            .text_format(project)
            .await
            .map_err(|err| err.to_string())?;
        commenter
            .upsert(
                project,
                repository,
                pr,
                &event_marker(&outcome.event_id),
                &outcome_comment(outcome, format),
            )
            .await
            .map_err(|err| err.to_string())
    }

    /// Publishes the follow-up; `false` without a topic.
    async fn follow_up(&self, outcome: &Outcome) -> Result<bool, String> {
        let Some(publisher) = &self.publisher else {
            return Ok(false);
        };
        let deliveries = publisher.publish(&[follow_up(outcome)]).await;
        match deliveries.into_iter().find(|delivery| !delivery.delivered) {
            None => Ok(true),
            Some(missed) => Err(missed.error.unwrap_or_else(|| "not delivered".into())),
        }
    }
}

fn outcome_of(
    event_id: &str,
    kind: OutcomeKind,
    record: &StoredChangeSet,
    stack_status: Option<String>,
    reason: Option<String>,
    actor: Option<super::Actor>,
    duration_seconds: Option<u64>,
) -> Outcome {
    let r = &record.record;
    Outcome {
        event_id: event_id.to_string(),
        kind,
        stack: r.stack.clone(),
        region: r.region.clone(),
        change_set: r.name.clone(),
        commit: r.commit.clone(),
        project: r.project.clone(),
        repository: r.repository.clone(),
        pr: r.pr,
        stack_status,
        reason,
        actor,
        duration_seconds,
    }
}

/// When the operation that ended in `event` began: the stack's newest `*_IN_PROGRESS` event
/// of its own (not a resource's) at or before the final status. Best effort: `None` if unknown.
async fn execution_start(
    cloudformation: &aws_sdk_cloudformation::Client,
    event: &StackStatus,
) -> Option<String> {
    let end = parse_time(&event.time)?;
    let output = cloudformation
        .describe_stack_events()
        .stack_name(&event.stack_id)
        .send()
        .await
        .map_err(
            |err| tracing::warn!(error = %DisplayErrorContext(err), "stack events unavailable"),
        )
        .ok()?;
    output
        .stack_events()
        .iter()
        // The stack's own events: nested stacks' resources have the same type.
        .filter(|e| e.resource_type() == Some("AWS::CloudFormation::Stack"))
        .filter(|e| e.physical_resource_id() == Some(event.stack_id.as_str()))
        .filter(|e| {
            matches!(
                e.resource_status().map(|s| s.as_str()),
                Some("CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS" | "IMPORT_IN_PROGRESS")
            )
        })
        .filter_map(|e| e.timestamp())
        .filter(|time| time.secs() <= end.secs())
        .max_by_key(|time| time.secs())
        .and_then(|time| time.fmt(DateTimeFormat::DateTime).ok())
}

fn parse_time(text: &str) -> Option<DateTime> {
    DateTime::from_str(text, DateTimeFormat::DateTime).ok()
}

/// Whole seconds from one ISO-8601 time to a later one.
fn seconds_between(start: &str, end: &str) -> Option<u64> {
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    u64::try_from(end.secs() - start.secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
