//! Data-loss rules: a data-bearing resource removed or replaced (unless its data is retained
//! or snapshotted), a retention policy taken away, deletion protection or recovery turned off.

use serde_json::Value;

use super::{Subject, is_true, property, resource, resource_name};
use crate::model::report::ResourceChangeSummary;
use crate::model::verdict::{Finding, Level, Source};

pub const DATA_LOSS: &str = "data-loss";
pub const RETENTION_REMOVED: &str = "retention-removed";
pub const DELETION_PROTECTION_OFF: &str = "deletion-protection-off";
pub const RECOVERY_OFF: &str = "recovery-off";

/// Resource types whose deletion deletes data (or keys and secrets that unlock it).
const DATA_BEARING: [&str; 33] = [
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::S3Express::DirectoryBucket",
    "AWS::EFS::FileSystem",
    "AWS::FSx::FileSystem",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::ServerlessCache",
    "AWS::MemoryDB::Cluster",
    "AWS::OpenSearchService::Domain",
    "AWS::Elasticsearch::Domain",
    "AWS::Kinesis::Stream",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::Cognito::UserPool",
    "AWS::EC2::Volume",
    "AWS::Backup::BackupVault",
    "AWS::Neptune::DBCluster",
    "AWS::Neptune::DBInstance",
    "AWS::DocDB::DBCluster",
    "AWS::DocDB::DBInstance",
    "AWS::Timestream::Database",
    "AWS::Timestream::Table",
    "AWS::Redshift::Cluster",
    "AWS::RedshiftServerless::Namespace",
    "AWS::ECR::Repository",
    "AWS::Cassandra::Table",
    "AWS::QLDB::Ledger",
];

pub fn is_data_bearing(resource_type: &str) -> bool {
    DATA_BEARING.contains(&resource_type)
}

pub(super) fn findings(subject: &Subject, level: Level) -> Vec<Finding> {
    let mut found = Vec::new();
    for change in subject.changes {
        let finding = |rule: &str, level: Level, message: String| Finding {
            rule: rule.into(),
            resource: Some(resource_name(change)),
            message,
            source: Source::Builtin,
            level,
            waived: None,
        };
        if is_data_bearing(&change.resource_type)
            && let Some((destroys, message)) = fate(subject, change)
        {
            found.push(finding(
                DATA_LOSS,
                if destroys { level } else { Level::Ok },
                message,
            ));
        }
        if change.action == "Modify" {
            for message in retention_removed(subject, change) {
                found.push(finding(RETENTION_REMOVED, level, message));
            }
            for (rule, message) in protections_off(subject, change) {
                found.push(finding(rule, level, message));
            }
        }
    }
    found
}

/// What happens to a removed or replaced resource's data: whether it is destroyed, and the
/// sentence saying so. `None` when the change neither removes nor replaces it.
fn fate(subject: &Subject, change: &ResourceChangeSummary) -> Option<(bool, String)> {
    let kind = noun(&change.resource_type);
    let replaced = match (change.action.as_str(), change.replacement.as_deref()) {
        ("Remove", _) => None,
        ("Modify", Some("True")) => Some("replaced"),
        ("Modify", Some("Conditional")) => Some("may be replaced"),
        _ => return None,
    };
    // CloudFormation's PolicyAction is the authority; without it (an older endpoint, an
    // emulator), the template's policy, as CloudFormation would apply it.
    let (policy, source) = match &change.policy_action {
        Some(action) => (
            Policy::from_action(action),
            format!("PolicyAction {action}"),
        ),
        None => Policy::from_template(subject, change, replaced.is_some()),
    };
    Some(match (replaced, policy) {
        (None, Policy::Delete) => (
            true,
            format!("removed, {source}: the {kind} and its data are deleted"),
        ),
        (None, Policy::Retain) => (
            false,
            format!("removed from the stack; the {kind} is retained ({source})"),
        ),
        (None, Policy::Snapshot) => (
            false,
            format!("removed; a final snapshot is kept ({source})"),
        ),
        (Some(how), Policy::Delete) => (
            true,
            match change.replacement.as_deref() {
                Some("Conditional") => {
                    format!("{how}, {source}: if it is, the old {kind} and its data are deleted")
                }
                _ => format!("{how}, {source}: the old {kind} and its data are deleted"),
            },
        ),
        (Some(how), Policy::Retain) => (
            false,
            format!("{how}; the old {kind} is retained ({source})"),
        ),
        (Some(how), Policy::Snapshot) => (
            false,
            format!("{how}; a snapshot of the old {kind} is kept ({source})"),
        ),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Delete,
    Retain,
    Snapshot,
}

impl Policy {
    fn from_action(action: &str) -> Self {
        match action {
            "Retain" | "ReplaceAndRetain" => Policy::Retain,
            "Snapshot" | "ReplaceAndSnapshot" => Policy::Snapshot,
            _ => Policy::Delete,
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "Retain" | "RetainExceptOnCreate" => Policy::Retain,
            "Snapshot" => Policy::Snapshot,
            _ => Policy::Delete,
        }
    }

    /// A removed resource follows the `DeletionPolicy` it had; a replaced one the
    /// `UpdateReplacePolicy` it is given. RDS instances and clusters default to `Snapshot`.
    /// With where that was read: written in the template, CloudFormation's default, or taken
    /// as `Delete` because no template has the resource.
    fn from_template(
        subject: &Subject,
        change: &ResourceChangeSummary,
        replaced: bool,
    ) -> (Self, String) {
        let (template, key) = if replaced {
            (Some(subject.after), "UpdateReplacePolicy")
        } else {
            (subject.before, "DeletionPolicy")
        };
        let Some(entry) = resource(template, &change.logical_id) else {
            // A nested stack's row (`Network/Bucket`) is in its own template, not the root's.
            let missing = if change.logical_id.contains('/') {
                "not in the root template"
            } else {
                "no template has the resource"
            };
            return (
                Policy::Delete,
                format!("{key} unknown ({missing}), taken as Delete"),
            );
        };
        match entry.get(key).and_then(Value::as_str) {
            Some(text) => (Policy::parse(text), format!("{key} {text} in the template")),
            None if is_snapshot_by_default(subject, change, replaced) => (
                Policy::Snapshot,
                format!("{key} Snapshot by CloudFormation's default"),
            ),
            None => (
                Policy::Delete,
                format!("{key} Delete by CloudFormation's default"),
            ),
        }
    }
}

/// CloudFormation's documented default: `Snapshot` for `AWS::RDS::DBCluster`, and for an
/// `AWS::RDS::DBInstance` that is not part of a cluster (removal only).
fn is_snapshot_by_default(
    subject: &Subject,
    change: &ResourceChangeSummary,
    replaced: bool,
) -> bool {
    if replaced {
        return false;
    }
    match change.resource_type.as_str() {
        "AWS::RDS::DBCluster" => true,
        "AWS::RDS::DBInstance" => property(
            subject.before,
            &change.logical_id,
            &["DBClusterIdentifier"],
            &[],
        )
        .is_none(),
        _ => false,
    }
}

/// `DeletionPolicy` or `UpdateReplacePolicy` that kept data (`Retain`, `Snapshot`), gone.
fn retention_removed(subject: &Subject, change: &ResourceChangeSummary) -> Vec<String> {
    let policy = |template: Option<&Value>, key: &str| {
        resource(template, &change.logical_id)
            .and_then(|entry| entry.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    ["DeletionPolicy", "UpdateReplacePolicy"]
        .into_iter()
        .filter_map(|key| {
            let before = policy(subject.before, key)?;
            let after = policy(Some(subject.after), key);
            let kept = |text: &str| Policy::parse(text) != Policy::Delete;
            (kept(&before) && !after.as_deref().is_some_and(kept)).then(|| {
                format!(
                    "{key} {before} {}: its data is no longer kept when it is {}",
                    match &after {
                        Some(after) => format!("changed to {after}"),
                        None => "removed".into(),
                    },
                    if key == "DeletionPolicy" {
                        "deleted"
                    } else {
                        "replaced"
                    }
                )
            })
        })
        .collect()
}

/// A switch that guards data: the resource type, the rule, the property path, and whether a
/// value means "on".
type Protection = (
    &'static str,
    &'static str,
    &'static [&'static str],
    fn(Option<&Value>) -> bool,
);

const PROTECTIONS: [Protection; 9] = [
    (
        "AWS::RDS::DBInstance",
        DELETION_PROTECTION_OFF,
        &["DeletionProtection"],
        is_true,
    ),
    (
        "AWS::RDS::DBCluster",
        DELETION_PROTECTION_OFF,
        &["DeletionProtection"],
        is_true,
    ),
    (
        "AWS::Neptune::DBCluster",
        DELETION_PROTECTION_OFF,
        &["DeletionProtection"],
        is_true,
    ),
    (
        "AWS::DocDB::DBCluster",
        DELETION_PROTECTION_OFF,
        &["DeletionProtection"],
        is_true,
    ),
    (
        "AWS::DynamoDB::Table",
        DELETION_PROTECTION_OFF,
        &["DeletionProtectionEnabled"],
        is_true,
    ),
    (
        "AWS::Cognito::UserPool",
        DELETION_PROTECTION_OFF,
        &["DeletionProtection"],
        is_active,
    ),
    (
        "AWS::DynamoDB::Table",
        RECOVERY_OFF,
        &[
            "PointInTimeRecoverySpecification",
            "PointInTimeRecoveryEnabled",
        ],
        is_true,
    ),
    (
        "AWS::S3::Bucket",
        RECOVERY_OFF,
        &["VersioningConfiguration", "Status"],
        is_enabled,
    ),
    (
        "AWS::RDS::DBInstance",
        RECOVERY_OFF,
        &["BackupRetentionPeriod"],
        keeps_backups,
    ),
];

fn is_active(value: Option<&Value>) -> bool {
    value.and_then(Value::as_str) == Some("ACTIVE")
}

fn is_enabled(value: Option<&Value>) -> bool {
    value.and_then(Value::as_str) == Some("Enabled")
}

/// RDS keeps automated backups unless the period is 0 (absent: the default, 1 day).
fn keeps_backups(value: Option<&Value>) -> bool {
    match value {
        None => true,
        Some(Value::Number(days)) => days.as_u64() != Some(0),
        Some(Value::String(days)) => days.trim() != "0",
        Some(_) => true,
    }
}

/// Protections that were on before and are off now.
fn protections_off(
    subject: &Subject,
    change: &ResourceChangeSummary,
) -> Vec<(&'static str, String)> {
    if subject.before.is_none() {
        return vec![];
    }
    PROTECTIONS
        .iter()
        .filter(|(kind, ..)| *kind == change.resource_type)
        .filter_map(|(_, rule, path, on)| {
            let before = property(subject.before, &change.logical_id, path, subject.parameters);
            let after = property(
                Some(subject.after),
                &change.logical_id,
                path,
                subject.parameters,
            );
            (on(before.as_ref()) && !on(after.as_ref())).then(|| {
                let shown = |value: Option<&Value>| match value {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => "removed".into(),
                };
                (
                    *rule,
                    format!(
                        "{} turned off: {} → {}",
                        path.join("."),
                        shown(before.as_ref()),
                        shown(after.as_ref())
                    ),
                )
            })
        })
        .collect()
}

/// `table` for `AWS::DynamoDB::Table`, `DB instance` for `AWS::RDS::DBInstance`.
fn noun(resource_type: &str) -> String {
    let last = resource_type.rsplit("::").next().unwrap_or(resource_type);
    match last {
        "DBInstance" => "DB instance".into(),
        "DBCluster" => "DB cluster".into(),
        "FileSystem" => "file system".into(),
        "LogGroup" => "log group".into(),
        "UserPool" => "user pool".into(),
        "BackupVault" => "backup vault".into(),
        "GlobalTable" => "global table".into(),
        "DirectoryBucket" => "directory bucket".into(),
        "CacheCluster" => "cache cluster".into(),
        "ReplicationGroup" => "replication group".into(),
        "ServerlessCache" => "serverless cache".into(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::verdict::fixtures::{change, run, template};

    fn table(extra: Value) -> Value {
        let mut resource =
            json!({"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "orders"}});
        if let (Some(resource), Some(extra)) = (resource.as_object_mut(), extra.as_object()) {
            resource.extend(extra.clone());
        }
        template("Table", resource)
    }

    #[test]
    fn every_data_bearing_type_removed_with_delete_is_found_and_others_are_not() {
        for kind in DATA_BEARING {
            let before = template("Data", json!({"Type": kind}));
            let removed = [change("Remove", "Data", kind, None, Some("Delete"))];
            let found = run(&removed, Some(&before), &json!({"Resources": {}}));
            assert_eq!(found.len(), 1, "{kind}");
            assert_eq!(found[0].rule, DATA_LOSS);
            assert_eq!(found[0].level, Level::Review, "{kind}");
            assert_eq!(
                found[0].resource.as_deref(),
                Some(format!("Data ({kind})").as_str())
            );
            // The negative beside it: the same removal, retained, is a remark.
            let retained = [change("Remove", "Data", kind, None, Some("Retain"))];
            let found = run(&retained, Some(&before), &json!({"Resources": {}}));
            assert_eq!(found.len(), 1, "{kind}");
            assert_eq!(found[0].level, Level::Ok, "{kind}: retained");
            assert!(found[0].message.contains("is retained"), "{kind}");
            // Replaced, with the template's UpdateReplacePolicy Snapshot and no PolicyAction.
            let after = template(
                "Data",
                json!({"Type": kind, "UpdateReplacePolicy": "Snapshot"}),
            );
            let replaced = [change("Modify", "Data", kind, Some("True"), None)];
            let found = run(&replaced, Some(&after), &after);
            assert_eq!(found[0].level, Level::Ok, "{kind}: snapshotted");
        }
        let topic = [change(
            "Remove",
            "Topic",
            "AWS::SNS::Topic",
            None,
            Some("Delete"),
        )];
        assert!(
            run(&topic, None, &json!({})).is_empty(),
            "a topic holds no data"
        );
    }

    #[test]
    fn replaced_tables_lose_data_unless_retained_or_snapshotted() {
        let after = table(json!({}));
        let deleted = [change(
            "Modify",
            "Table",
            "AWS::DynamoDB::Table",
            Some("True"),
            Some("ReplaceAndDelete"),
        )];
        let found = run(&deleted, Some(&after), &after);
        assert_eq!(found[0].level, Level::Review);
        assert_eq!(
            found[0].message,
            "replaced, PolicyAction ReplaceAndDelete: the old table and its data are deleted"
        );

        let retained = [change(
            "Modify",
            "Table",
            "AWS::DynamoDB::Table",
            Some("True"),
            Some("ReplaceAndRetain"),
        )];
        let found = run(&retained, Some(&after), &after);
        assert_eq!(found[0].level, Level::Ok, "said, but not a risk");
        assert_eq!(
            found[0].message,
            "replaced; the old table is retained (PolicyAction ReplaceAndRetain)"
        );

        let conditional = [change(
            "Modify",
            "Table",
            "AWS::DynamoDB::Table",
            Some("Conditional"),
            None,
        )];
        let found = run(&conditional, Some(&after), &after);
        assert_eq!(found[0].level, Level::Review);
        assert_eq!(
            found[0].message,
            "may be replaced, UpdateReplacePolicy Delete by CloudFormation's default: if it is, the old table and its data are deleted",
            "no more certain than CloudFormation's Conditional"
        );
        // A removed table no template has (the base unknown): said as an assumption.
        let removed = [change(
            "Remove",
            "Table",
            "AWS::DynamoDB::Table",
            None,
            None,
        )];
        assert_eq!(
            run(&removed, None, &after)[0].message,
            "removed, DeletionPolicy unknown (no template has the resource), taken as Delete: the table and its data are deleted"
        );

        let in_place = [change(
            "Modify",
            "Table",
            "AWS::DynamoDB::Table",
            Some("False"),
            None,
        )];
        assert!(run(&in_place, Some(&after), &after).is_empty());
    }

    #[test]
    fn without_a_policy_action_the_templates_policy_decides() {
        let before = table(json!({"DeletionPolicy": "Retain"}));
        let removed = [change(
            "Remove",
            "Table",
            "AWS::DynamoDB::Table",
            None,
            None,
        )];
        let found = run(&removed, Some(&before), &json!({"Resources": {}}));
        assert_eq!(found[0].level, Level::Ok);
        assert_eq!(
            found[0].message,
            "removed from the stack; the table is retained (DeletionPolicy Retain in the template)"
        );
        let before = table(json!({}));
        let found = run(&removed, Some(&before), &json!({"Resources": {}}));
        assert_eq!(found[0].level, Level::Review);

        // RDS: Snapshot by default, unless the instance belongs to a cluster.
        let db = template(
            "Db",
            json!({"Type": "AWS::RDS::DBInstance", "Properties": {}}),
        );
        let removed = [change("Remove", "Db", "AWS::RDS::DBInstance", None, None)];
        assert_eq!(run(&removed, Some(&db), &json!({}))[0].level, Level::Ok);
        let member = template(
            "Db",
            json!({"Type": "AWS::RDS::DBInstance", "Properties": {"DBClusterIdentifier": "c"}}),
        );
        assert_eq!(
            run(&removed, Some(&member), &json!({}))[0].level,
            Level::Review
        );
    }

    #[test]
    fn a_retention_policy_taken_away_is_found_and_one_kept_is_not() {
        let modified = [change(
            "Modify",
            "Table",
            "AWS::DynamoDB::Table",
            Some("False"),
            None,
        )];
        let before = table(json!({"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Retain"}));
        let found = run(
            &modified,
            Some(&before),
            &table(json!({"UpdateReplacePolicy": "Retain"})),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, RETENTION_REMOVED);
        assert_eq!(
            found[0].message,
            "DeletionPolicy Snapshot removed: its data is no longer kept when it is deleted"
        );
        let found = run(
            &modified,
            Some(&before),
            &table(json!({"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Retain"})),
        );
        assert!(found[0].message.contains("changed to Delete"));
        assert!(run(&modified, Some(&before), &before).is_empty());
    }

    #[test]
    fn protections_turned_off_are_found_and_left_on_are_not() {
        let modified = |kind: &str| [change("Modify", "R", kind, Some("False"), None)];
        let cases = [
            (
                "AWS::RDS::DBInstance",
                json!({"DeletionProtection": true}),
                json!({"DeletionProtection": false}),
                DELETION_PROTECTION_OFF,
            ),
            (
                "AWS::DynamoDB::Table",
                json!({"DeletionProtectionEnabled": "true"}),
                json!({}),
                DELETION_PROTECTION_OFF,
            ),
            (
                "AWS::Cognito::UserPool",
                json!({"DeletionProtection": "ACTIVE"}),
                json!({"DeletionProtection": "INACTIVE"}),
                DELETION_PROTECTION_OFF,
            ),
            (
                "AWS::DynamoDB::Table",
                json!({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}}),
                json!({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": false}}),
                RECOVERY_OFF,
            ),
            (
                "AWS::S3::Bucket",
                json!({"VersioningConfiguration": {"Status": "Enabled"}}),
                json!({"VersioningConfiguration": {"Status": "Suspended"}}),
                RECOVERY_OFF,
            ),
            (
                "AWS::RDS::DBInstance",
                json!({"BackupRetentionPeriod": 7}),
                json!({"BackupRetentionPeriod": 0}),
                RECOVERY_OFF,
            ),
        ];
        for (kind, on, off, rule) in cases {
            let before = template("R", json!({"Type": kind, "Properties": on}));
            let after = template("R", json!({"Type": kind, "Properties": off}));
            let found = run(&modified(kind), Some(&before), &after);
            assert!(
                found
                    .iter()
                    .any(|f| f.rule == rule && f.level == Level::Review),
                "{kind} {rule}: {found:?}"
            );
            let kept = run(&modified(kind), Some(&before), &before);
            assert!(kept.is_empty(), "{kind}: left on is fine: {kept:?}");
            let turned_on = run(&modified(kind), Some(&after), &before);
            assert!(turned_on.is_empty(), "{kind}: turned on is fine");
        }
    }

    #[test]
    fn a_protection_set_from_a_parameter_is_resolved() {
        let kind = "AWS::RDS::DBInstance";
        let with_ref = json!({
            "Parameters": {"Protect": {"Type": "String", "Default": "true"}},
            "Resources": {"R": {"Type": kind, "Properties": {"DeletionProtection": {"Ref": "Protect"}}}}
        });
        let after = template(
            "R",
            json!({"Type": kind, "Properties": {"DeletionProtection": false}}),
        );
        let modified = [change("Modify", "R", kind, Some("False"), None)];
        let found = run(&modified, Some(&with_ref), &after);
        assert_eq!(found[0].rule, DELETION_PROTECTION_OFF);
        assert_eq!(
            found[0].message,
            "DeletionProtection turned off: true → false"
        );
    }
}
