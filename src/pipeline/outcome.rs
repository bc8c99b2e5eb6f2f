//! Handles one EventBridge event: claims it in the ledger (events arrive at least once), finds
//! the change set it is about, records the outcome, comments on the pull request and follows up
//! in the Slack thread. Each finished step is remembered, so a retry after a failure (Backlog or
//! SNS down) does only what is left, and nothing is marked done that was not.

use serde::Serialize;
use serde_json::Value;

use crate::adapter::backlog::api::BacklogError;
use crate::adapter::backlog::commenter::Commenter;
use crate::adapter::cloudformation::CloudFormation;
use crate::adapter::ledger::{
    ClaimToken, EventClaim, EventStep, Facts, Ledger, LedgerError, StoredOutcome,
};
use crate::adapter::sns::Publisher;
use crate::core::event::{
    self, ChangeSetCall, Event, EventError, Parsed, StackStatus, stack_arn_parts,
};
use crate::core::names::is_preview_change_set;
use crate::core::outcome::{OutcomeDecision, on_call, on_status, seconds_between, terminal};
use crate::model::delivery::{CommentDelivery, CommentStatus};
use crate::model::outcome::{Actor, Outcome, OutcomeKind};
use crate::model::record::StoredChangeSet;
use crate::model::report::Classification;
use crate::model::status::ChangeSetStatus;
use crate::render::backlog::event_marker;
use crate::render::backlog::outcome::outcome_comment;
use crate::render::slack::follow_up::follow_up;

pub struct OutcomeHandler {
    pub ledger: Ledger,
    pub cloudformation: CloudFormation,
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
    #[error(transparent)]
    BadEvent(#[from] EventError),
    /// Another invocation holds the event's claim now.
    #[error("event {0} is being handled by another invocation")]
    InFlight(String),
    /// Something on the way failed; the event should be delivered again.
    #[error("{0}")]
    Retry(Failed),
}

/// What failed while an event was handled.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error("event {event_id}: claim: {source}")]
    Claim {
        event_id: String,
        source: LedgerError,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("recorded outcome unreadable: {0}")]
    RecordedOutcome(serde_json::Error),
    #[error("DescribeChangeSet {name}: {detail}")]
    ChangeSetUnreadable { name: String, detail: String },
    #[error("change set {0} changed while this event was handled")]
    Changed(String),
    /// The comment, the follow-up or both; the other steps were recorded.
    #[error("event {event_id}: {}", failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Deliveries {
        event_id: String,
        failures: Vec<DeliveryFailure>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryFailure {
    #[error("Backlog comment: {0}")]
    Comment(BacklogError),
    #[error("Slack follow-up: {0}")]
    FollowUp(String),
}

/// A resolved event: the outcome and the record it changes.
enum Resolution {
    Ignore(String),
    Apply {
        outcome: Box<Outcome>,
        record: Box<StoredChangeSet>,
        status: Option<ChangeSetStatus>,
        facts: Facts,
    },
}

impl OutcomeHandler {
    pub async fn handle(&self, value: &Value) -> Result<Handled, HandleError> {
        let event = match event::parse(value)? {
            Parsed::Event(event) => event,
            Parsed::Unrelated(reason) => {
                tracing::info!(reason, "event ignored: unrelated");
                return Ok(Handled::Ignored { reason });
            }
        };
        let (id, kind) = match &event {
            Event::StackStatus(status) => (status.id.as_str(), "stack-status"),
            Event::ChangeSetCall(call) => (call.id.as_str(), "change-set-call"),
        };
        let (token, done, recorded) =
            match self.ledger.claim_event(id, kind).await.map_err(|source| {
                HandleError::Retry(Failed::Claim {
                    event_id: id.to_owned(),
                    source,
                })
            })? {
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
                EventClaim::InFlight => return Err(HandleError::InFlight(id.to_owned())),
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
            Err(cause) => {
                if let Err(err) = self.ledger.end_event(id, &token, false, &summary).await {
                    tracing::error!(event_id = id, error = %err, "event claim not released; a retry takes it over after the lease");
                }
                let err = HandleError::Retry(cause);
                tracing::error!(event_id = id, error = %err, "event failed; to be retried");
                Err(err)
            }
        }
    }

    async fn process(
        &self,
        event: &Event,
        id: &str,
        token: &ClaimToken,
        done: &[EventStep],
        recorded: Option<StoredOutcome>,
    ) -> Result<Handled, Failed> {
        let is_done = |step: EventStep| done.contains(&step);
        // A retry continues with the outcome the first attempt recorded: the ledger has moved on
        // since, so deciding again would find nothing to do.
        let outcome = match recorded.filter(|_| is_done(EventStep::Ledger)) {
            Some(stored) => stored.read().map_err(Failed::RecordedOutcome)?,
            None => match self.resolve(event).await? {
                Resolution::Ignore(reason) => {
                    tracing::info!(event_id = id, reason, "event ignored");
                    return Ok(Handled::Ignored { reason });
                }
                Resolution::Apply {
                    outcome,
                    record,
                    status,
                    facts,
                } => {
                    let applied = self
                        .ledger
                        .record_outcome(&record, status, &facts, (id, token), &outcome)
                        .await?;
                    if !applied {
                        return Err(Failed::Changed(record.record.name));
                    }
                    *outcome
                }
            },
        };
        let mut failures = Vec::new();
        let mut comment = None;
        if !is_done(EventStep::Backlog) {
            match self.comment(&outcome).await {
                Ok(delivery) => {
                    comment = Some(delivery);
                    self.ledger
                        .event_step_done(id, token, EventStep::Backlog)
                        .await?;
                }
                Err(err) => failures.push(DeliveryFailure::Comment(err)),
            }
        }
        let mut slack = is_done(EventStep::Slack);
        if !slack {
            match self.follow_up(&outcome).await {
                Ok(sent) => {
                    slack = sent;
                    self.ledger
                        .event_step_done(id, token, EventStep::Slack)
                        .await?;
                }
                Err(err) => failures.push(err),
            }
        }
        if !failures.is_empty() {
            return Err(Failed::Deliveries {
                event_id: id.to_owned(),
                failures,
            });
        }
        Ok(Handled::Done {
            outcome: Box::new(outcome),
            comment,
            slack,
        })
    }

    async fn resolve(&self, event: &Event) -> Result<Resolution, Failed> {
        match event {
            Event::StackStatus(status) => self.resolve_status(status).await,
            Event::ChangeSetCall(call) => self.resolve_call(call).await,
        }
    }

    async fn resolve_status(&self, event: &StackStatus) -> Result<Resolution, Failed> {
        if terminal(&event.status).is_none() {
            return Ok(Resolution::Ignore(format!(
                "stack status {} is not final",
                event.status
            )));
        }
        let records = self
            .ledger
            .stack_change_sets(&event.region, &event.stack)
            .await?;
        let waiting: Vec<_> = records
            .into_iter()
            .filter(|r| r.record.status.awaits_outcome())
            .collect();
        if waiting.is_empty() {
            return Ok(Resolution::Ignore(format!(
                "no change set of ours awaits an outcome on stack {}",
                event.stack
            )));
        }
        // The latest execution that started before this status (a record whose final status
        // was lost never captures later ones).
        let executing = waiting
            .iter()
            .filter(|r| r.record.status == ChangeSetStatus::Executing)
            .filter(|r| {
                r.started_at
                    .as_deref()
                    .is_none_or(|s| s <= event.time.as_str())
            })
            .max_by(|a, b| a.started_at.cmp(&b.started_at));
        let executed = match executing {
            Some(record) => Some(record.clone()),
            // CloudTrail is best effort: ask CloudFormation which pending one ran.
            None => self.executed_one(&event.region, &waiting).await?,
        };
        let Some(record) = executed else {
            return Ok(Resolution::Ignore(format!(
                "none of our change sets on stack {} was executed: it changed another way",
                event.stack
            )));
        };
        let (kind, status) = match on_status(event, &record) {
            OutcomeDecision::Ignore(reason) => return Ok(Resolution::Ignore(reason)),
            OutcomeDecision::Apply { kind, status } => (kind, status),
        };
        let started = match &record.started_at {
            Some(started) => Some(started.clone()),
            None => {
                self.cloudformation
                    .operation_start(&event.region, &event.stack_id, &event.time)
                    .await
            }
        };
        let duration_seconds = started.and_then(|started| seconds_between(&started, &event.time));
        let facts = Facts::Finished {
            stack_status: event.status.clone(),
            at: event.time.clone(),
            duration_seconds,
            reason: event.reason.clone(),
        };
        Ok(Resolution::Apply {
            outcome: Box::new(outcome_of(
                &event.id,
                kind,
                &record,
                Some(event.status.clone()),
                event.reason.clone(),
                record.started_by.clone(),
                duration_seconds,
            )),
            record: Box::new(record),
            status,
            facts,
        })
    }

    /// The pending change set CloudFormation reports as executed (siblings of an executed
    /// change set are deleted by CloudFormation, so they are simply not found).
    async fn executed_one(
        &self,
        region: &str,
        waiting: &[StoredChangeSet],
    ) -> Result<Option<StoredChangeSet>, Failed> {
        for record in waiting {
            let status = self
                .cloudformation
                .execution_status(region, &record.record.arn)
                .await
                .map_err(|err| Failed::ChangeSetUnreadable {
                    name: record.record.name.clone(),
                    detail: err.detail(),
                })?;
            if status.is_some_and(|status| status.starts_with("EXECUTE_")) {
                return Ok(Some(record.clone()));
            }
        }
        Ok(None)
    }

    async fn resolve_call(&self, call: &ChangeSetCall) -> Result<Resolution, Failed> {
        let found = if call.change_set.starts_with("arn:") {
            self.ledger.change_set_by_arn(&call.change_set).await?
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
                .await?
        };
        let Some(record) = found else {
            if call.execute && is_preview_change_set(&call.change_set) {
                // Never the bot's doing: a preview's change set holds unmerged code.
                tracing::warn!(
                    change_set = call.change_set,
                    actor = ?call.actor,
                    "a pull request preview's change set was executed: code that was not merged is being deployed"
                );
                return Ok(Resolution::Ignore(format!(
                    "change set {} is a pull request preview's, executed outside the bot: not tracked",
                    call.change_set
                )));
            }
            return Ok(Resolution::Ignore(format!(
                "change set {} is not one of ours",
                call.change_set
            )));
        };
        let (kind, status) = match on_call(call, &record) {
            OutcomeDecision::Ignore(reason) => return Ok(Resolution::Ignore(reason)),
            OutcomeDecision::Apply { kind, status } => (kind, status),
        };
        let facts = match kind {
            OutcomeKind::ExecutionStarted => Facts::Started {
                at: call.time.clone(),
                by: call.actor.clone(),
            },
            OutcomeKind::Discarded => Facts::Discarded {
                at: call.time.clone(),
                by: call.actor.clone(),
            },
            _ => Facts::None,
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
            facts,
        })
    }

    /// Comments on the pull request; `Skipped` for a direct push or without Backlog.
    async fn comment(&self, outcome: &Outcome) -> Result<CommentDelivery, BacklogError> {
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
        let format = commenter.text_format(project).await?;
        commenter
            .upsert(
                project,
                repository,
                pr,
                &event_marker(&outcome.event_id),
                &outcome_comment(outcome, format),
            )
            .await
    }

    /// Publishes the follow-up; `false` without a topic. The error is SNS's own, as the
    /// delivery recorded it.
    async fn follow_up(&self, outcome: &Outcome) -> Result<bool, DeliveryFailure> {
        let Some(publisher) = &self.publisher else {
            return Ok(false);
        };
        let deliveries = publisher.publish(&[follow_up(outcome)]).await;
        match deliveries.into_iter().find(|delivery| !delivery.delivered) {
            None => Ok(true),
            Some(missed) => Err(DeliveryFailure::FollowUp(
                missed.error.unwrap_or_else(|| "not delivered".into()),
            )),
        }
    }
}

fn outcome_of(
    event_id: &str,
    kind: OutcomeKind,
    record: &StoredChangeSet,
    stack_status: Option<String>,
    reason: Option<String>,
    actor: Option<Actor>,
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
        waivers: r.waivers.clone(),
        blocked_reasons: match r.classification {
            Some(Classification::Blocked) => r.verdict_reasons.clone(),
            _ => vec![],
        },
    }
}
