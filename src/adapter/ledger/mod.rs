//! The durable ledger: one DynamoDB table shared by the intake, the planner and the outcome
//! handler. Key schema is fixed (`pk` and `sk` strings, TTL attribute `expires_at` in epoch
//! seconds) so that infra, tests and tools can create it. The item layout is in the README.

mod items;

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

pub use items::{Facts, change_set_pk, change_set_sk, stack_pk};

use crate::adapter::aws::error_text;

use crate::model::outcome::Outcome;
use crate::model::record::{ChangeSetRecord, StoredChangeSet};
use crate::model::status::ChangeSetStatus;
use crate::model::trigger::{DeliveryKey, Trigger};
use items::{
    DELIVERY_SK, EVENT_SK, LOCAL_PLANS_PK, change_set_item, delivery_pk, epoch_seconds, event_pk,
    local_plan_sk, n, new_token, replannable_condition, s, status, stored_change_set, text, texts,
    to_item,
};

/// How long a delivery is remembered: longer than any redelivery Backlog makes.
pub const DELIVERY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A claim older than this whose dispatch never finished (the process died) may be taken over
/// by a redelivery, so a crash cannot swallow a push. Dispatch itself times out well before.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
#[error("ledger table {table}: {message}")]
pub struct LedgerError {
    table: String,
    message: String,
}

/// The outcome of claiming a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This delivery is the first: dispatch it, then confirm or release the claim.
    Claimed(ClaimToken),
    /// Seen and dispatched before.
    Duplicate,
    /// Another delivery of the same push holds a live claim and is dispatching it now.
    InFlight,
}

/// Where a webhook delivery is: claimed and being dispatched, dispatched (a build started, or a
/// plan queued for the local runner), and, for the local runner, how its plan ended. A failed
/// plan's delivery may be claimed again, so a redelivery re-runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Dispatching,
    Dispatched,
    Planned,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Dispatching => "dispatching",
            DeliveryState::Dispatched => "dispatched",
            DeliveryState::Planned => "planned",
            DeliveryState::Failed => "failed",
        }
    }

    fn value(self) -> AttributeValue {
        s(self.as_str())
    }
}

/// A plan the local runner was asked for and has not run to its end. It waits in the ledger,
/// so neither a stop nor a crash of the server loses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPlan {
    /// The delivery key of the push it plans.
    pub delivery: String,
    /// The arguments of `cfn-chatops plan`, after `--repo`.
    pub arguments: Vec<String>,
    sk: String,
}

/// How a queued plan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEnd {
    Planned,
    /// It ran and failed: how (an exit status).
    Failed(String),
}

/// Identifies one claim, so that only its owner confirms or releases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(String);

#[derive(Debug, Clone)]
pub struct Ledger {
    client: Client,
    table: String,
}

/// How long change-set records are kept: long after any button could still be pressed.
pub const CHANGE_SET_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The steps of handling an event, each recorded once done so a retry does only the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStep {
    /// The change-set record and the outcome, written together.
    Ledger,
    /// The pull request comment.
    Backlog,
    /// The Slack follow-up.
    Slack,
}

impl EventStep {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStep::Ledger => "ledger",
            EventStep::Backlog => "backlog",
            EventStep::Slack => "slack",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [EventStep::Ledger, EventStep::Backlog, EventStep::Slack]
            .into_iter()
            .find(|step| step.as_str() == text)
    }
}

/// An outcome as a first attempt recorded it with its `ledger` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutcome(String);

impl StoredOutcome {
    pub fn read(&self) -> Result<Outcome, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

/// The outcome of claiming an EventBridge event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventClaim {
    /// Handle it; `done` names the steps an earlier, failed attempt already completed.
    Claimed {
        token: ClaimToken,
        done: Vec<EventStep>,
        /// What the first attempt decided, once its `ledger` step is done.
        outcome: Option<StoredOutcome>,
    },
    /// Handled before.
    Done,
    /// Another invocation holds a live claim.
    InFlight,
}

/// How long an event claim holds before a retry may take it over: longer than one handling
/// (the events function's Backlog retries are bounded to fit, and its Lambda timeout must be
/// shorter), and shorter than Lambda's second retry of an invocation that died (~3 minutes).
pub const EVENT_LEASE: Duration = Duration::from_secs(120);
/// EventBridge retries for at most a day; remembered well past that.
pub const EVENT_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

impl Ledger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A failed DynamoDB call, in the service's words (the whole story is logged).
    fn failed<E, R>(&self, err: SdkError<E, R>) -> LedgerError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        LedgerError {
            table: self.table.clone(),
            message: error_text("DynamoDB", &err),
        }
    }

    /// A conditional write that was made, or whose condition failed (nothing left for it to
    /// do): `Ok`; any other failure is the error.
    fn written_or_moot<O, E, R>(&self, result: Result<O, SdkError<E, R>>) -> Result<(), LedgerError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err.as_service_error().and_then(ProvideErrorMetadata::code)
                    == Some("ConditionalCheckFailedException") =>
            {
                Ok(())
            }
            Err(err) => Err(self.failed(err)),
        }
    }

    fn error(&self, err: impl std::error::Error) -> LedgerError {
        LedgerError {
            table: self.table.clone(),
            message: DisplayErrorContext(err).to_string(),
        }
    }

    /// Conditional put: succeeds for a new delivery, one whose earlier claim went stale
    /// without a dispatch, or one whose local plan failed (a redelivery plans it again).
    pub async fn claim_delivery(
        &self,
        trigger: &Trigger,
        runner: &str,
    ) -> Result<Claim, LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let token = ClaimToken(new_token());
        let mut item = vec![
            ("pk", s(delivery_pk(trigger.delivery_key()))),
            ("sk", s(DELIVERY_SK)),
            ("kind", s("delivery")),
            ("state", DeliveryState::Dispatching.value()),
            ("claim", s(&token.0)),
            ("claimed_at", n(now)),
            ("received_at", n(now)),
            ("project", s(&trigger.project_key)),
            ("repository", s(&trigger.repository)),
            ("branch", s(&trigger.branch)),
            ("after", s(&trigger.after)),
            ("runner", s(runner)),
            ("expires_at", n(now + DELIVERY_TTL.as_secs())),
        ];
        if let Some(before) = &trigger.before {
            item.push(("before", s(before)));
        }
        if let Some(pr) = trigger.pr_number {
            item.push(("pr", n(pr)));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)))
            // A plan that failed is planned again.
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :dispatching AND claimed_at < :stale) OR #state = :failed",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":dispatching", DeliveryState::Dispatching.value())
            .expression_attribute_values(":failed", DeliveryState::Failed.value())
            .expression_attribute_values(":stale", n(now.saturating_sub(CLAIM_LEASE.as_secs())))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed(token)),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let old = failed.item.as_ref();
                    // The SDK retried a put DynamoDB had applied, its answer lost: the claim
                    // in the way is this very one.
                    if old.and_then(|item| item.get("claim")) == Some(&s(&token.0)) {
                        return Ok(Claim::Claimed(token));
                    }
                    let state = old.and_then(|item| item.get("state"));
                    if state == Some(&DeliveryState::Dispatching.value()) {
                        Ok(Claim::InFlight)
                    } else {
                        Ok(Claim::Duplicate)
                    }
                }
                _ => Err(self.failed(err)),
            },
        }
    }

    /// Records a successful dispatch.
    pub async fn confirm_delivery(
        &self,
        key: &DeliveryKey,
        token: &ClaimToken,
        build_id: Option<&str>,
    ) -> Result<(), LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(key)))
            .key("sk", s(DELIVERY_SK))
            .condition_expression("claim = :claim")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", s(&token.0))
            .expression_attribute_values(":dispatched", DeliveryState::Dispatched.value())
            .expression_attribute_values(":now", n(now));
        update = match build_id {
            Some(build_id) => update
                .update_expression(
                    "SET #state = :dispatched, dispatched_at = :now, build_id = :build",
                )
                .expression_attribute_values(":build", s(build_id)),
            None => update.update_expression("SET #state = :dispatched, dispatched_at = :now"),
        };
        update.send().await.map_err(|err| self.failed(err))?;
        Ok(())
    }

    /// Records a planned change set: the record under its stack (which later updates change),
    /// and a pointer from its ARN (which never changes), written together.
    pub async fn record_change_set(&self, record: &ChangeSetRecord) -> Result<(), LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let expires_at = now + CHANGE_SET_TTL.as_secs();
        let pointer = vec![
            ("pk", s(change_set_pk(&record.arn))),
            ("sk", s("changeset")),
            ("kind", s("changeset-arn")),
            ("stack", s(&record.stack)),
            ("region", s(&record.region)),
            ("name", s(&record.name)),
            ("expires_at", n(expires_at)),
        ];
        // A re-run of the plan may refresh a record, but never undo what happened since
        // (executed, superseded, discarded: written by the outcome handler or a newer plan).
        let (refreshable, values) = replannable_condition();
        let record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(change_set_item(record, now, expires_at))))
            .condition_expression(refreshable)
            .expression_attribute_names("#status", "status");
        let record = values
            .into_iter()
            .fold(record, |put, (name, value)| {
                put.expression_attribute_values(name, value)
            })
            .build();
        let pointer = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(pointer)))
            .build();
        let items = [record, pointer]
            .into_iter()
            .map(|put| put.map(|put| TransactWriteItem::builder().put(put).build()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.error(err))?;
        // `false`: the record has moved on; keep it as it is (the pointer exists from the
        // first run).
        self.transact(items).await.map(|_| ())
    }

    /// Writes all of `items` or none. `false`: a condition failed, nothing was written.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, LedgerError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(canceled))
                        if canceled
                            .cancellation_reasons()
                            .iter()
                            .any(|reason| reason.code() == Some("ConditionalCheckFailed"))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(self.failed(err)),
        }
    }

    /// Marks an older change set of the stack as superseded by `by_commit`.
    pub async fn mark_superseded(
        &self,
        region: &str,
        stack: &str,
        name: &str,
        by_commit: &str,
    ) -> Result<(), LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(stack_pk(region, stack)))
            .key("sk", s(change_set_sk(name)))
            // Only a change set this bot recorded: an unknown one gets no orphan record.
            .condition_expression("attribute_exists(pk)")
            .update_expression(
                "SET #status = :superseded, superseded_by = :commit, updated_at = :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":superseded", status(ChangeSetStatus::Superseded))
            .expression_attribute_values(":commit", s(by_commit))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        self.written_or_moot(result)
    }

    /// One change-set record, by stack and name.
    pub async fn change_set(
        &self,
        region: &str,
        stack: &str,
        name: &str,
    ) -> Result<Option<StoredChangeSet>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(stack_pk(region, stack)))
            .key("sk", s(change_set_sk(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.failed(err))?;
        Ok(output.item.as_ref().and_then(stored_change_set))
    }

    /// The record a change-set ARN points to.
    pub async fn change_set_by_arn(
        &self,
        arn: &str,
    ) -> Result<Option<StoredChangeSet>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(change_set_pk(arn)))
            .key("sk", s("changeset"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.failed(err))?;
        let Some(pointer) = output.item else {
            return Ok(None);
        };
        let field = |name: &str| text(&pointer, name).unwrap_or_default();
        self.change_set(&field("region"), &field("stack"), &field("name"))
            .await
    }

    /// Every change-set record of a stack.
    pub async fn stack_change_sets(
        &self,
        region: &str,
        stack: &str,
    ) -> Result<Vec<StoredChangeSet>, LedgerError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(stack_pk(region, stack)))
                .expression_attribute_values(":prefix", s("changeset#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| self.failed(err))?;
            records.extend(output.items().iter().filter_map(stored_change_set));
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(records);
            }
        }
    }

    /// Records an event's outcome in one transaction: the change-set record moves from the
    /// status it was read with to `status` (setting `facts`; skipped when both are empty), and
    /// the event's claim gains its `ledger` step and the outcome a retry continues with. Either
    /// both are written or neither. `false`: the record (or the claim) changed in between;
    /// nothing was written.
    pub async fn record_outcome(
        &self,
        stored: &StoredChangeSet,
        status_to: Option<ChangeSetStatus>,
        facts: &Facts,
        event: (&str, &ClaimToken),
        outcome: &Outcome,
    ) -> Result<bool, LedgerError> {
        let record = &stored.record;
        let attributes = facts.attributes();
        let mut items = Vec::new();
        if status_to.is_some() || !attributes.is_empty() {
            let mut sets = vec!["updated_at = :now".to_string()];
            let mut update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(stack_pk(&record.region, &record.stack)))
                .key("sk", s(change_set_sk(&record.name)))
                .condition_expression("#status = :observed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":observed", status(record.status))
                .expression_attribute_values(":now", n(epoch_seconds(SystemTime::now())));
            if let Some(to) = status_to {
                sets.push("#status = :status".into());
                update = update.expression_attribute_values(":status", status(to));
            }
            for (name, value) in attributes {
                sets.push(format!("{name} = :{name}"));
                update = update.expression_attribute_values(format!(":{name}"), value);
            }
            items.push(update.update_expression(format!("SET {}", sets.join(", "))));
        }
        let outcome = serde_json::to_string(outcome).map_err(|err| self.error(err))?;
        let (id, token) = event;
        items.push(
            Update::builder()
                .table_name(&self.table)
                .key("pk", s(event_pk(id)))
                .key("sk", s(EVENT_SK))
                .condition_expression("claim = :claim")
                .update_expression("ADD steps :step SET outcome = :outcome")
                .expression_attribute_values(
                    ":step",
                    AttributeValue::Ss(vec![EventStep::Ledger.as_str().into()]),
                )
                .expression_attribute_values(":outcome", s(outcome))
                .expression_attribute_values(":claim", s(&token.0)),
        );
        let items = items
            .into_iter()
            .map(|update| {
                update
                    .build()
                    .map(|update| TransactWriteItem::builder().update(update).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.error(err))?;
        self.transact(items).await
    }

    /// Claims an EventBridge event for handling, keeping the steps an earlier attempt finished.
    pub async fn claim_event(&self, id: &str, kind: &str) -> Result<EventClaim, LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let token = ClaimToken(new_token());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(id)))
            .key("sk", s(EVENT_SK))
            .update_expression(
                "SET #state = :processing, claim = :claim, claimed_at = :now, kind = :kind, expires_at = :expires",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :processing AND claimed_at < :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":claim", s(&token.0))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":kind", s(kind))
            .expression_attribute_values(":expires", n(now + EVENT_TTL.as_secs()))
            .expression_attribute_values(":stale", n(now.saturating_sub(EVENT_LEASE.as_secs())))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                let done = item
                    .get("steps")
                    .and_then(|steps| steps.as_ss().ok())
                    .into_iter()
                    .flatten()
                    .filter_map(|step| EventStep::parse(step))
                    .collect();
                let outcome = text(&item, "outcome").map(StoredOutcome);
                Ok(EventClaim::Claimed {
                    token,
                    done,
                    outcome,
                })
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let current = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(event_pk(id)))
                    .key("sk", s(EVENT_SK))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|err| self.failed(err))?;
                let state = current.item.as_ref().and_then(|item| text(item, "state"));
                Ok(match state.as_deref() {
                    Some("done") => EventClaim::Done,
                    _ => EventClaim::InFlight,
                })
            }
            Err(err) => Err(self.failed(err)),
        }
    }

    /// Records one finished delivery step of an event (`backlog`, `slack`), so a retry after a
    /// later failure does not repeat it.
    pub async fn event_step_done(
        &self,
        id: &str,
        token: &ClaimToken,
        step: EventStep,
    ) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(id)))
            .key("sk", s(EVENT_SK))
            .condition_expression("claim = :claim")
            .update_expression("ADD steps :step")
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step.as_str().into()]))
            .expression_attribute_values(":claim", s(&token.0))
            .send()
            .await
            .map_err(|err| self.failed(err))?;
        Ok(())
    }

    /// Ends an event: `done` after it was handled, or released (claim aged at once, steps
    /// kept) so that EventBridge's retry handles the rest.
    pub async fn end_event(
        &self,
        id: &str,
        token: &ClaimToken,
        done: bool,
        summary: &str,
    ) -> Result<(), LedgerError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(id)))
            .key("sk", s(EVENT_SK))
            .condition_expression("claim = :claim")
            .expression_attribute_values(":claim", s(&token.0))
            .expression_attribute_values(":summary", s(summary));
        // DynamoDB refuses expression names an expression does not use.
        let update = if done {
            update
                .update_expression("SET #state = :done, summary = :summary, handled_at = :now")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":done", s("done"))
                .expression_attribute_values(":now", n(epoch_seconds(SystemTime::now())))
        } else {
            update
                .update_expression("SET claimed_at = :zero, summary = :summary")
                .expression_attribute_values(":zero", n(0))
        };
        update.send().await.map_err(|err| self.failed(err))?;
        Ok(())
    }

    /// Forgets a claim whose dispatch failed, so that Backlog's retry can dispatch it. A claim
    /// dispatched after all (its answer came too late) is kept, as its plan runs; one taken
    /// over is not this one's to release.
    pub async fn release_delivery(
        &self,
        key: &DeliveryKey,
        token: &ClaimToken,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(key)))
            .key("sk", s(DELIVERY_SK))
            .condition_expression("claim = :claim AND #state = :dispatching")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", s(&token.0))
            .expression_attribute_values(":dispatching", DeliveryState::Dispatching.value())
            .send()
            .await;
        self.written_or_moot(result)
    }

    /// Records a claimed delivery as dispatched and queues its plan for the local runner, both
    /// or neither.
    pub async fn queue_plan(
        &self,
        key: &DeliveryKey,
        token: &ClaimToken,
        arguments: &[String],
    ) -> Result<(), LedgerError> {
        let now = SystemTime::now();
        let seconds = epoch_seconds(now);
        let sk = local_plan_sk(now, key);
        // The queue item's key is kept on the delivery, so only this queued run records its end.
        let dispatched = Update::builder()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(key)))
            .key("sk", s(DELIVERY_SK))
            .condition_expression("claim = :claim")
            .update_expression("SET #state = :dispatched, dispatched_at = :now, queued = :queued")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", s(&token.0))
            .expression_attribute_values(":dispatched", DeliveryState::Dispatched.value())
            .expression_attribute_values(":now", n(seconds))
            .expression_attribute_values(":queued", s(&sk))
            .build()
            .map_err(|err| self.error(err))?;
        let queued = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(vec![
                ("pk", s(LOCAL_PLANS_PK)),
                ("sk", s(&sk)),
                ("kind", s("queued-plan")),
                ("delivery", s(key.as_str())),
                (
                    "arguments",
                    AttributeValue::L(arguments.iter().map(s).collect()),
                ),
                ("expires_at", n(seconds + DELIVERY_TTL.as_secs())),
            ])))
            .build()
            .map_err(|err| self.error(err))?;
        let items = vec![
            TransactWriteItem::builder().update(dispatched).build(),
            TransactWriteItem::builder().put(queued).build(),
        ];
        // A retry of an attempt DynamoDB applied does not queue the plan again (after it ran):
        // the SDK gives the call one ClientRequestToken for all its attempts.
        if self.transact(items).await? {
            Ok(())
        } else {
            Err(LedgerError {
                table: self.table.clone(),
                message: format!("the claim of {key} was taken over before its plan was queued"),
            })
        }
    }

    /// The oldest plan queued for the local runner, if any.
    pub async fn next_queued_plan(&self) -> Result<Option<QueuedPlan>, LedgerError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(LOCAL_PLANS_PK))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(|err| self.failed(err))?;
        Ok(output.items().first().and_then(|item| {
            Some(QueuedPlan {
                delivery: text(item, "delivery")?,
                arguments: texts(item, "arguments"),
                sk: text(item, "sk")?,
            })
        }))
    }

    /// Records how a queued plan ended on its delivery and takes it off the queue, together. A
    /// delivery that has moved on (claimed again and queued anew, or expired) is left as it is.
    pub async fn finish_queued_plan(
        &self,
        plan: &QueuedPlan,
        end: &PlanEnd,
    ) -> Result<(), LedgerError> {
        let (state, how) = match end {
            PlanEnd::Planned => (DeliveryState::Planned, "exit status: 0"),
            PlanEnd::Failed(how) => (DeliveryState::Failed, how.as_str()),
        };
        let dequeue = || {
            Delete::builder()
                .table_name(&self.table)
                .key("pk", s(LOCAL_PLANS_PK))
                .key("sk", s(&plan.sk))
                .build()
                .map(|delete| TransactWriteItem::builder().delete(delete).build())
                .map_err(|err| self.error(err))
        };
        let recorded = Update::builder()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(&plan.delivery)))
            .key("sk", s(DELIVERY_SK))
            .condition_expression("#state = :dispatched AND queued = :queued")
            .update_expression("SET #state = :end, finished_at = :now, plan_exit = :how")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":dispatched", DeliveryState::Dispatched.value())
            .expression_attribute_values(":queued", s(&plan.sk))
            .expression_attribute_values(":end", state.value())
            .expression_attribute_values(":now", n(epoch_seconds(SystemTime::now())))
            .expression_attribute_values(":how", s(how))
            .build()
            .map_err(|err| self.error(err))?;
        let items = vec![
            TransactWriteItem::builder().update(recorded).build(),
            dequeue()?,
        ];
        if self.transact(items).await? {
            return Ok(());
        }
        self.transact(vec![dequeue()?]).await.map(|_| ())
    }
}
