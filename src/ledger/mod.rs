//! The durable ledger: one DynamoDB table shared by the intake, the planner and the outcome
//! handler. Key schema is fixed (`pk` and `sk` strings, TTL attribute `expires_at` in epoch
//! seconds) so that infra, tests and tools can create it. The item layout is in the README.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use crate::intake::trigger::{DeliveryKey, Trigger};

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
    /// The plan's classification (`changes`, `drift`, `no_changes`, `failed`).
    pub classification: String,
    /// `pending` (executable), `no_changes` or `failed` (deleted), later `superseded`, …
    pub status: String,
}

/// Partition key of a stack's change-set records: `stack#{region}/{stack}`.
pub fn stack_pk(region: &str, stack: &str) -> String {
    format!("stack#{region}/{stack}")
}

/// Sort key of a change-set record under its stack.
pub fn change_set_sk(name: &str) -> String {
    format!("changeset#{name}")
}

/// Partition key of the pointer from a change-set ARN to its record.
pub fn change_set_pk(arn: &str) -> String {
    format!("changeset#{arn}")
}

/// Partition key of a webhook delivery record.
fn delivery_pk(key: &DeliveryKey) -> String {
    format!("delivery#{key}")
}

const DELIVERY_SK: &str = "delivery";

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

    fn error(&self, err: impl std::error::Error) -> LedgerError {
        LedgerError {
            table: self.table.clone(),
            message: DisplayErrorContext(err).to_string(),
        }
    }

    /// Conditional put: succeeds for a new delivery, or one whose earlier claim went stale
    /// without a dispatch.
    pub async fn claim_delivery(
        &self,
        trigger: &Trigger,
        runner: &str,
    ) -> Result<Claim, LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let token = ClaimToken(new_token());
        let mut item = vec![
            ("pk", s(delivery_pk(&trigger.delivery_key()))),
            ("sk", s(DELIVERY_SK)),
            ("kind", s("delivery")),
            ("state", s("dispatching")),
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
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :dispatching AND claimed_at < :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":dispatching", s("dispatching"))
            .expression_attribute_values(":stale", n(now.saturating_sub(CLAIM_LEASE.as_secs())))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed(token)),
            Err(err) => match err.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let state = failed.item.as_ref().and_then(|item| item.get("state"));
                    if state == Some(&s("dispatching")) {
                        Ok(Claim::InFlight)
                    } else {
                        Ok(Claim::Duplicate)
                    }
                }
                other => Err(self.error(other)),
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
            .expression_attribute_values(":dispatched", s("dispatched"))
            .expression_attribute_values(":now", n(now));
        update = match build_id {
            Some(build_id) => update
                .update_expression(
                    "SET #state = :dispatched, dispatched_at = :now, build_id = :build",
                )
                .expression_attribute_values(":build", s(build_id)),
            None => update.update_expression("SET #state = :dispatched, dispatched_at = :now"),
        };
        update.send().await.map_err(|err| self.error(err))?;
        Ok(())
    }

    /// Records a planned change set: the record under its stack (which later updates change),
    /// and a pointer from its ARN (which never changes), written together.
    pub async fn record_change_set(&self, record: &ChangeSetRecord) -> Result<(), LedgerError> {
        let now = epoch_seconds(SystemTime::now());
        let expires_at = n(now + CHANGE_SET_TTL.as_secs());
        let mut item = vec![
            ("pk", s(stack_pk(&record.region, &record.stack))),
            ("sk", s(change_set_sk(&record.name))),
            ("kind", s("changeset")),
            ("stack", s(&record.stack)),
            ("region", s(&record.region)),
            ("name", s(&record.name)),
            ("arn", s(&record.arn)),
            ("branch", s(&record.branch)),
            ("commit", s(&record.commit)),
            ("classification", s(&record.classification)),
            ("status", s(&record.status)),
            ("planned_at", n(now)),
            ("expires_at", expires_at.clone()),
        ];
        let optional = [
            ("project", record.project.clone().map(s)),
            ("repository", record.repository.clone().map(s)),
            ("pr", record.pr.map(n)),
        ];
        item.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?))),
        );
        let pointer = vec![
            ("pk", s(change_set_pk(&record.arn))),
            ("sk", s("changeset")),
            ("kind", s("changeset-arn")),
            ("stack", s(&record.stack)),
            ("region", s(&record.region)),
            ("name", s(&record.name)),
            ("expires_at", expires_at),
        ];
        let put = |item: Vec<(&str, AttributeValue)>, condition: Option<&str>| {
            let mut put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(item)));
            if let Some(condition) = condition {
                put = put
                    .condition_expression(condition)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":pending", s("pending"))
                    .expression_attribute_values(":no_changes", s("no_changes"))
                    .expression_attribute_values(":failed", s("failed"));
            }
            put.build()
                .map(|put| TransactWriteItem::builder().put(put).build())
        };
        // A re-run of the plan may refresh a record, but never undo what happened since
        // (executed, superseded, discarded: written by the outcome handler or a newer plan).
        let refreshable = "attribute_not_exists(pk) OR #status IN (:pending, :no_changes, :failed)";
        let items = [put(item, Some(refreshable)), put(pointer, None)]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.error(err))?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result.map_err(|err| err.into_service_error()) {
            Ok(_) => Ok(()),
            // The record has moved on: keep it as it is (the pointer exists from the first run).
            Err(TransactWriteItemsError::TransactionCanceledException(canceled))
                if canceled
                    .cancellation_reasons()
                    .iter()
                    .any(|reason| reason.code() == Some("ConditionalCheckFailed")) =>
            {
                Ok(())
            }
            Err(err) => Err(self.error(err)),
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
            .expression_attribute_values(":superseded", s("superseded"))
            .expression_attribute_values(":commit", s(by_commit))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(self.error(err)),
        }
    }

    /// Forgets a claim whose dispatch failed, so that Backlog's retry can dispatch it.
    pub async fn release_delivery(
        &self,
        key: &DeliveryKey,
        token: &ClaimToken,
    ) -> Result<(), LedgerError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(key)))
            .key("sk", s(DELIVERY_SK))
            .condition_expression("claim = :claim")
            .expression_attribute_values(":claim", s(&token.0))
            .send()
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }
}

/// An item from its attributes, as the SDK takes it.
fn to_item(attributes: Vec<(&str, AttributeValue)>) -> HashMap<String, AttributeValue> {
    attributes
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Unique enough to tell two claims of one key apart: the process-random hasher seed mixed
/// with the current time.
fn new_token() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}
