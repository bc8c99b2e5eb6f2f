//! The ledger's item layout, as plain functions: keys, attribute values, and the change-set
//! record read back from an item. The layout is in the README.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::model::outcome::Actor;
use crate::model::record::{ChangeSetRecord, StoredChangeSet};
use crate::model::report::Classification;
use crate::model::status::ChangeSetStatus;
use crate::model::trigger::DeliveryKey;

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

pub(super) fn event_pk(id: &str) -> String {
    format!("event#{id}")
}

pub(super) const EVENT_SK: &str = "event";

/// Partition key of a webhook delivery record (the key as text, for a queued plan's record).
pub(super) fn delivery_pk(key: impl std::fmt::Display) -> String {
    format!("delivery#{key}")
}

pub(super) const DELIVERY_SK: &str = "delivery";

/// Partition of the local runner's queue: one item per plan answered `dispatched` that has not
/// run to its end yet.
pub(super) const LOCAL_PLANS_PK: &str = "local-plans";

/// Sort key of a queued plan: the queue's order is the order plans were queued in.
pub(super) fn local_plan_sk(queued_at: SystemTime, key: &DeliveryKey) -> String {
    let millis = queued_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{millis:013}#{key}")
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn status(status: ChangeSetStatus) -> AttributeValue {
    s(status.as_str())
}

/// An item from its attributes, as the SDK takes it.
pub(super) fn to_item(attributes: Vec<(&str, AttributeValue)>) -> HashMap<String, AttributeValue> {
    attributes
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

pub(super) fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

/// The condition under which a re-run of the plan may rewrite a record, with its values:
/// `attribute_not_exists(pk) OR #status IN (:pending, :no_changes, :failed)`.
pub(super) fn replannable_condition() -> (String, Vec<(String, AttributeValue)>) {
    let values: Vec<_> = ChangeSetStatus::ALL
        .into_iter()
        .filter(|status| status.is_replannable())
        .map(|replannable| (format!(":{replannable}"), status(replannable)))
        .collect();
    let names: Vec<_> = values.iter().map(|(name, _)| name.as_str()).collect();
    (
        format!(
            "attribute_not_exists(pk) OR #status IN ({})",
            names.join(", ")
        ),
        values,
    )
}

/// A list of texts; `None` for an empty one, which is not stored.
fn list(lines: &[String]) -> Option<AttributeValue> {
    (!lines.is_empty()).then(|| AttributeValue::L(lines.iter().map(s).collect()))
}

/// The texts of a list attribute; empty when it is absent.
pub(super) fn texts(item: &HashMap<String, AttributeValue>, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|value| value.as_l().ok())
        .map(|values| {
            values
                .iter()
                .filter_map(|value| value.as_s().ok().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// The attributes of a new change-set record.
pub(super) fn change_set_item(
    record: &ChangeSetRecord,
    now: u64,
    expires_at: u64,
) -> Vec<(&'static str, AttributeValue)> {
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
        ("status", status(record.status)),
        ("planned_at", n(now)),
        ("expires_at", n(expires_at)),
    ];
    let optional = [
        (
            "classification",
            record.classification.map(|c| s(c.as_str())),
        ),
        ("project", record.project.clone().map(s)),
        ("repository", record.repository.clone().map(s)),
        ("pr", record.pr.map(n)),
        ("verdict_reasons", list(&record.verdict_reasons)),
        ("waivers", list(&record.waivers)),
    ];
    item.extend(
        optional
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
    );
    item
}

/// A change-set record from its item; `None` for an item that is not a whole record.
pub(super) fn stored_change_set(item: &HashMap<String, AttributeValue>) -> Option<StoredChangeSet> {
    let field = |name: &str| text(item, name);
    Some(StoredChangeSet {
        record: ChangeSetRecord {
            stack: field("stack")?,
            region: field("region")?,
            name: field("name")?,
            arn: field("arn")?,
            project: field("project"),
            repository: field("repository"),
            branch: field("branch").unwrap_or_default(),
            pr: item
                .get("pr")
                .and_then(|pr| pr.as_n().ok())
                .and_then(|pr| pr.parse().ok()),
            commit: field("commit")?,
            classification: field("classification").and_then(|c| Classification::parse(&c)),
            status: ChangeSetStatus::parse(&field("status")?)?,
            verdict_reasons: texts(item, "verdict_reasons"),
            waivers: texts(item, "waivers"),
        },
        started_at: field("started_at"),
        started_by: field("started_by").and_then(|by| serde_json::from_str(&by).ok()),
    })
}

/// What an outcome records on a change set besides its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    None,
    /// An ExecuteChangeSet call (CloudTrail).
    Started {
        at: String,
        by: Actor,
    },
    /// A DeleteChangeSet call (CloudTrail).
    Discarded {
        at: String,
        by: Actor,
    },
    /// The stack's final status after the execution.
    Finished {
        stack_status: String,
        at: String,
        duration_seconds: Option<u64>,
        reason: Option<String>,
    },
}

impl Facts {
    /// The record's attributes these facts set.
    pub(super) fn attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        // The actor is kept as its JSON, read back by `stored_change_set`.
        let actor = |by: &Actor| s(serde_json::to_string(by).unwrap_or_default());
        match self {
            Facts::None => vec![],
            Facts::Started { at, by } => vec![("started_at", s(at)), ("started_by", actor(by))],
            Facts::Discarded { at, by } => {
                vec![("discarded_at", s(at)), ("discarded_by", actor(by))]
            }
            Facts::Finished {
                stack_status,
                at,
                duration_seconds,
                reason,
            } => {
                let mut attributes =
                    vec![("stack_status", s(stack_status)), ("finished_at", s(at))];
                attributes.extend(duration_seconds.map(|seconds| ("duration_seconds", n(seconds))));
                attributes.extend(reason.as_ref().map(|reason| ("status_reason", s(reason))));
                attributes
            }
        }
    }
}

pub(super) fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Unique enough to tell two claims of one key apart: the process-random hasher seed mixed
/// with the current time.
pub(super) fn new_token() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ChangeSetRecord {
        ChangeSetRecord {
            stack: "alarms".into(),
            region: "us-east-1".into(),
            name: "cfn-chatops-d3adb33".into(),
            arn: "arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/y".into(),
            project: Some("INFRA".into()),
            repository: None,
            branch: "main".into(),
            pr: Some(57),
            commit: "d3adb33".into(),
            classification: Some(Classification::Drift),
            status: ChangeSetStatus::Pending,
            verdict_reasons: vec!["data-loss — Table (AWS::DynamoDB::Table): replaced".into()],
            waivers: vec![],
        }
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let item = to_item(change_set_item(&record(), 10, 20));
        assert_eq!(item["pk"], s("stack#us-east-1/alarms"));
        assert_eq!(item["sk"], s("changeset#cfn-chatops-d3adb33"));
        assert_eq!(item["status"], s("pending"));
        assert_eq!(item["classification"], s("drift"));
        assert_eq!(item["pr"], n(57));
        assert!(
            !item.contains_key("repository"),
            "absent values are left out"
        );
        assert!(!item.contains_key("waivers"), "empty lists are left out");
        let stored = stored_change_set(&item).unwrap();
        assert_eq!(stored.record, record());
        assert_eq!((stored.started_at, stored.started_by), (None, None));
    }

    #[test]
    fn an_item_that_is_not_a_whole_record_is_not_one() {
        let mut item = to_item(change_set_item(&record(), 10, 20));
        item.insert("status".into(), s("exploded"));
        assert_eq!(stored_change_set(&item), None);
        let mut item = to_item(change_set_item(&record(), 10, 20));
        item.remove("arn");
        assert_eq!(stored_change_set(&item), None);
        // The classification is the plan's word on it, not needed to follow the change set.
        let mut item = to_item(change_set_item(&record(), 10, 20));
        item.remove("classification");
        let stored = stored_change_set(&item).unwrap();
        assert_eq!(stored.record.classification, None);
        assert_eq!(stored.record.status, ChangeSetStatus::Pending);
    }

    #[test]
    fn facts_become_attributes_and_the_actor_reads_back() {
        let by = Actor::SlackUser("U0123ABC".into());
        let started = Facts::Started {
            at: "2026-03-04T06:00:00Z".into(),
            by: by.clone(),
        };
        let mut item = to_item(change_set_item(&record(), 10, 20));
        for (name, value) in started.attributes() {
            item.insert(name.into(), value);
        }
        let stored = stored_change_set(&item).unwrap();
        assert_eq!(stored.started_at.as_deref(), Some("2026-03-04T06:00:00Z"));
        assert_eq!(stored.started_by, Some(by));
        let finished = Facts::Finished {
            stack_status: "UPDATE_COMPLETE".into(),
            at: "t".into(),
            duration_seconds: Some(42),
            reason: None,
        };
        let names: Vec<_> = finished.attributes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["stack_status", "finished_at", "duration_seconds"]);
        assert!(Facts::None.attributes().is_empty());
    }

    #[test]
    fn the_replannable_condition_names_every_replannable_status() {
        let (condition, values) = replannable_condition();
        assert_eq!(
            condition,
            "attribute_not_exists(pk) OR #status IN (:pending, :no_changes, :failed, :blocked)"
        );
        assert_eq!(values.len(), 4);
        assert!(values.contains(&(":failed".into(), s("failed"))));
    }

    #[test]
    fn claim_tokens_differ() {
        assert_ne!(new_token(), new_token());
    }
}
