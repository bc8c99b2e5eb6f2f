//! From a described change set to what a reviewer must know: no changes, changes (with the
//! destructive ones marked), drift, or failure. Pure: the input is DescribeChangeSet as AWS
//! documents it (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html>),
//! so documented and recorded responses drive it directly.

use serde::Deserialize;

use crate::core::template::Template;
use crate::model::report::{
    ActionCounts, Classification, DriftedProperty, PropertyChange, ResourceChangeSummary,
};

/// DescribeChangeSet's answer (all pages merged), in AWS's JSON names. Every field may be
/// missing or null, as the documented examples show.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeSetDescription {
    pub change_set_id: Option<String>,
    pub stack_id: Option<String>,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub execution_status: Option<String>,
    pub stack_drift_status: Option<String>,
    pub deployment_mode: Option<String>,
    pub changes: Vec<Change>,
    /// The values the change set was created with; SSM parameter types with what
    /// CloudFormation resolved them to. (Recorded answers hold `"Parameters": null`.)
    pub parameters: Option<Vec<ChangeSetParameter>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeSetParameter {
    pub parameter_key: Option<String>,
    pub resolved_value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Change {
    pub resource_change: Option<ResourceChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceChange {
    pub action: Option<String>,
    pub logical_resource_id: Option<String>,
    pub physical_resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub replacement: Option<String>,
    pub policy_action: Option<String>,
    pub resource_drift_status: Option<String>,
    pub details: Option<Vec<Detail>>,
    /// A nested stack's own change set, for an `AWS::CloudFormation::Stack` row.
    pub change_set_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Detail {
    pub target: Option<ResourceTargetDefinition>,
    pub change_source: Option<String>,
    pub causing_entity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceTargetDefinition {
    pub attribute: Option<String>,
    pub name: Option<String>,
    pub requires_recreation: Option<String>,
    pub path: Option<String>,
    pub before_value: Option<String>,
    pub after_value: Option<String>,
    pub before_value_from: Option<String>,
    pub drift: Option<TargetDrift>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TargetDrift {
    pub previous_value: Option<String>,
    pub actual_value: Option<String>,
}

/// The two StatusReason texts CloudFormation gives a change set with nothing to change.
const NO_CHANGE_REASONS: [&str; 2] = [
    "The submitted information didn't contain changes.",
    "No updates are to be performed.",
];

/// The `[WARN]` reason: with IncludePropertyValues some changes were dropped.
pub const INCOMPLETE_PROPERTY_VALUES: &str =
    "[WARN] --include-property-values option can return incomplete ChangeSet data";

impl ChangeSetDescription {
    /// Creation has ended, one way or the other.
    pub fn is_settled(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some("CREATE_COMPLETE" | "FAILED" | "DELETE_COMPLETE" | "DELETE_FAILED")
        )
    }

    pub fn is_no_change_failure(&self) -> bool {
        self.status.as_deref() == Some("FAILED")
            && self.status_reason.as_deref().is_some_and(|reason| {
                NO_CHANGE_REASONS
                    .iter()
                    .any(|text| reason.starts_with(text))
            })
    }

    pub fn has_incomplete_property_values(&self) -> bool {
        self.status_reason
            .as_deref()
            .is_some_and(|reason| reason.starts_with(INCOMPLETE_PROPERTY_VALUES))
    }

    /// The change set can be executed now (the only state in which buttons make sense).
    pub fn is_executable(&self) -> bool {
        self.status.as_deref() == Some("CREATE_COMPLETE")
            && self.execution_status.as_deref() == Some("AVAILABLE")
    }

    /// Replaces rows of `self` (read without property values, so complete) with their richer
    /// twins from `with_values` where both have the resource.
    pub fn enrich_from(&mut self, with_values: &ChangeSetDescription) {
        for change in self.changes.iter_mut() {
            let Some(resource) = &change.resource_change else {
                continue;
            };
            let twin = with_values.changes.iter().find(|other| {
                other.resource_change.as_ref().is_some_and(|other| {
                    other.logical_resource_id == resource.logical_resource_id
                        && other.action == resource.action
                })
            });
            if let Some(twin) = twin {
                *change = twin.clone();
            }
        }
    }
}

/// What a settled change set means for the reviewer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub classification: Classification,
    pub counts: ActionCounts,
    pub changes: Vec<ResourceChangeSummary>,
    pub drift: Vec<DriftedProperty>,
    /// StatusReason for a failure, verbatim.
    pub reason: Option<String>,
    /// CloudFormation's own StatusReason on a usable change set (e.g. a `[WARN]`), verbatim.
    pub warnings: Vec<String>,
    /// What the review could not show: nested change sets that failed or could not be read.
    pub incomplete: Vec<String>,
    /// Things a reviewer should know that the counts do not say.
    pub notes: Vec<String>,
}

impl Assessment {
    /// A change set with nothing to execute: no rows, only why.
    fn unusable(classification: Classification, reason: Option<String>) -> Self {
        Self {
            classification,
            counts: ActionCounts::default(),
            changes: vec![],
            drift: vec![],
            reason,
            warnings: vec![],
            incomplete: vec![],
            notes: vec![],
        }
    }
}

/// A new stack previewed without a change set (one would leave a stack behind): every resource
/// its template declares, as `Add`. Not CloudFormation's word: its change set after the merge
/// has the list, which conditions may shorten; the notes say so.
pub fn declared_additions(template: &Template) -> Assessment {
    let (declared, conditional) = template.declared_resources();
    let mut counts = ActionCounts::default();
    let changes = declared
        .into_iter()
        .map(|(logical_id, resource_type)| {
            counts.count("Add");
            ResourceChangeSummary {
                logical_id,
                resource_type,
                physical_id: None,
                action: "Add".into(),
                replacement: None,
                policy_action: None,
                destructive: None,
                drift_status: None,
                properties: vec![],
            }
        })
        .collect();
    let mut notes = vec![
        "new stack: nothing is created before the merge. CloudFormation validated the template; the resources it declares are listed as Add, and the change set after the merge is CloudFormation's own list".to_owned(),
    ];
    if conditional > 0 {
        notes.push(format!(
            "{conditional} of them have a Condition: CloudFormation may not create them"
        ));
    }
    Assessment {
        classification: Classification::Changes,
        counts,
        changes,
        drift: vec![],
        reason: None,
        warnings: vec![],
        incomplete: vec![],
        notes,
    }
}

/// Classifies a settled change set.
pub fn classify(description: &ChangeSetDescription) -> Assessment {
    let resources: Vec<&ResourceChange> = description
        .changes
        .iter()
        .filter_map(|change| change.resource_change.as_ref())
        .collect();
    if description.is_no_change_failure() {
        return Assessment::unusable(Classification::NoChanges, description.status_reason.clone());
    }
    if description.status.as_deref() != Some("CREATE_COMPLETE") {
        let reason = description.status_reason.clone().unwrap_or_else(|| {
            format!(
                "change set ended in {}",
                description.status.as_deref().unwrap_or("an unknown status")
            )
        });
        return Assessment::unusable(Classification::Failed, Some(reason));
    }
    let mut counts = ActionCounts::default();
    let mut changes = Vec::new();
    let mut drift = Vec::new();
    // Drift-aware change sets have been seen to report replacements of resources nothing
    // changed (cloudformation-coverage-roadmap issues 2505 and 2559): on a stack CloudFormation
    // does not call drifted, a replaced IN_SYNC resource says so instead of asserting it.
    let phantoms_possible = description.deployment_mode.as_deref() == Some("REVERT_DRIFT")
        && description.stack_drift_status.as_deref() != Some("DRIFTED");
    for resource in resources {
        counts.count(resource.action.as_deref().unwrap_or_default());
        changes.push(summarise(resource, phantoms_possible));
        drift.extend(drifted_properties(resource));
    }
    let mut notes = Vec::new();
    // CloudFormation's stack-level verdict counts even when no resource row shows it.
    let stack_drifted = description.stack_drift_status.as_deref() == Some("DRIFTED");
    if stack_drifted && drift.is_empty() {
        notes.push(
            "CloudFormation reports the stack DRIFTED, though no resource change shows the drift"
                .into(),
        );
    }
    if changes.is_empty() {
        notes.push(NO_RESOURCE_CHANGES.into());
    }
    if description.has_incomplete_property_values() {
        notes.push(
            "CloudFormation could not give every property value; changes were re-read without them"
                .into(),
        );
    }
    Assessment {
        classification: if stack_drifted || !drift.is_empty() {
            Classification::Drift
        } else {
            Classification::Changes
        },
        counts,
        changes,
        drift,
        reason: None,
        warnings: description
            .status_reason
            .iter()
            .filter(|reason| !reason.trim().is_empty())
            .cloned()
            .collect(),
        incomplete: vec![],
        notes,
    }
}

/// The note of a change set whose rows change no resource.
const NO_RESOURCE_CHANGES: &str =
    "no resource changes: only outputs, parameters or CloudFormation's own records change";

/// A nested stack's change set says this of itself: it runs with its root.
const NESTED_STATUS_REASON: &str = "Executable from root change set";

/// The nested change sets a description's rows point at: `(path, change set ARN)`, the path
/// being the nested stack's logical id under `parent` (`Network`, `Network/Subnets`).
pub fn nested_change_sets(
    description: &ChangeSetDescription,
    parent: &str,
) -> Vec<(String, String)> {
    description
        .changes
        .iter()
        .filter_map(|change| change.resource_change.as_ref())
        .filter_map(|row| {
            let arn = row.change_set_id.as_deref().filter(|arn| !arn.is_empty())?;
            let id = row.logical_resource_id.as_deref().unwrap_or("?");
            let path = if parent.is_empty() {
                id.to_owned()
            } else {
                format!("{parent}/{id}")
            };
            Some((path, arn.to_owned()))
        })
        .collect()
}

/// The root's assessment with its nested stacks': their rows under their path
/// (`Network/Bucket`), counted with the root's, their drift and warnings; a nested change set
/// that failed or could not be read is a warning, never silence.
pub fn with_nested(
    mut root: Assessment,
    nested: &[(String, ChangeSetDescription)],
    unreadable: &[(String, String)],
) -> Assessment {
    for (path, description) in nested {
        let child = classify(description);
        match child.classification {
            Classification::Failed => root.incomplete.push(format!(
                "the change set of nested stack {path} failed: {}",
                child.reason.as_deref().unwrap_or("no reason given")
            )),
            Classification::NoChanges => {}
            _ => {
                root.counts.add_all(&child.counts);
                root.changes
                    .extend(child.changes.into_iter().map(|mut change| {
                        change.logical_id = format!("{path}/{}", change.logical_id);
                        change
                    }));
                root.drift.extend(child.drift.into_iter().map(|mut drift| {
                    drift.logical_id = format!("{path}/{}", drift.logical_id);
                    drift
                }));
                root.warnings.extend(
                    child
                        .warnings
                        .into_iter()
                        .filter(|warning| warning != NESTED_STATUS_REASON)
                        .map(|warning| format!("nested stack {path}: {warning}")),
                );
                root.notes.extend(
                    child
                        .notes
                        .into_iter()
                        .filter(|note| note != NO_RESOURCE_CHANGES)
                        .map(|note| format!("nested stack {path}: {note}")),
                );
            }
        }
    }
    for (path, reason) in unreadable {
        root.incomplete.push(format!(
            "the change set of nested stack {path} could not be read, so its changes are not shown: {reason}"
        ));
    }
    if root.classification == Classification::Changes && !root.drift.is_empty() {
        root.classification = Classification::Drift;
    }
    root
}

/// Appended to a replacement CloudFormation may have reported in error.
pub const POSSIBLE_PHANTOM: &str = "may be reported in error: nothing in the template forces it, the resource has not drifted, and drift-aware change sets are known to report such replacements (cloudformation-coverage-roadmap 2505, 2559); compare with a standard change set";

fn summarise(resource: &ResourceChange, phantoms_possible: bool) -> ResourceChangeSummary {
    let details = resource.details.as_deref().unwrap_or_default();
    let action = resource.action.clone().unwrap_or_default();
    let forcing: Vec<String> = unique(
        details
            .iter()
            .filter_map(|detail| detail.target.as_ref())
            .filter(|target| {
                matches!(
                    target.requires_recreation.as_deref(),
                    Some("Always" | "Conditionally")
                )
            })
            .filter_map(property_name),
    );
    let replacement = resource.replacement.clone();
    let mut reasons = Vec::new();
    if action == "Remove" {
        reasons.push(match resource.policy_action.as_deref() {
            Some("Retain") => "removed from the stack (the resource itself is retained)".to_owned(),
            Some("Snapshot") => "removed (a snapshot is kept)".to_owned(),
            _ => "removed".to_owned(),
        });
    }
    // Replacement means something only for an update: CloudFormation also puts "True" on
    // some new resources (an SNS topic with a TopicName) when it describes property values.
    if let Some(kind @ ("True" | "Conditional")) =
        replacement.as_deref().filter(|_| action == "Modify")
    {
        let certainty = if kind == "True" {
            "replaced"
        } else {
            "may be replaced"
        };
        if forcing.is_empty() {
            reasons.push(certainty.to_owned());
        } else {
            reasons.push(format!("{certainty} (forced by {})", forcing.join(", ")));
        }
    }
    if let Some(policy @ ("Delete" | "ReplaceAndDelete")) = resource.policy_action.as_deref() {
        reasons.push(format!("physical resource deleted (PolicyAction {policy})"));
    }
    // Said last, so what is destroyed comes first: a template or parameter edit that forces
    // the replacement makes it real, whatever the drift status says.
    let forced_by_an_edit = details.iter().any(|detail| {
        matches!(
            detail.change_source.as_deref(),
            Some("DirectModification" | "ParameterReference")
        ) && detail.target.as_ref().is_some_and(|target| {
            matches!(
                target.requires_recreation.as_deref(),
                Some("Always" | "Conditionally")
            )
        })
    });
    if action == "Modify"
        && matches!(replacement.as_deref(), Some("True" | "Conditional"))
        && phantoms_possible
        && resource.resource_drift_status.as_deref() == Some("IN_SYNC")
        && !forced_by_an_edit
    {
        reasons.push(POSSIBLE_PHANTOM.to_owned());
    }
    ResourceChangeSummary {
        logical_id: resource.logical_resource_id.clone().unwrap_or_default(),
        resource_type: resource.resource_type.clone().unwrap_or_default(),
        physical_id: resource.physical_resource_id.clone(),
        action,
        replacement,
        policy_action: resource.policy_action.clone(),
        destructive: (!reasons.is_empty()).then(|| reasons.join("; ")),
        drift_status: resource.resource_drift_status.clone(),
        properties: property_changes(details),
    }
}

/// One row per changed property: a `Ref` to a parameter yields two details (Dynamic and
/// Static) for one property, so they are merged on (attribute, name, source, entity).
fn property_changes(details: &[Detail]) -> Vec<PropertyChange> {
    let mut rows: Vec<PropertyChange> = Vec::new();
    for detail in details {
        let Some(target) = &detail.target else {
            continue;
        };
        let row = PropertyChange {
            attribute: target.attribute.clone().unwrap_or_default(),
            name: property_name(target),
            requires_recreation: target.requires_recreation.clone(),
            change_source: detail.change_source.clone(),
            causing_entity: detail.causing_entity.clone().filter(|e| !e.is_empty()),
            before: target.before_value.clone(),
            after: target.after_value.clone(),
        };
        let same = rows.iter_mut().find(|existing| {
            existing.attribute == row.attribute
                && existing.name == row.name
                && existing.change_source == row.change_source
                && existing.causing_entity == row.causing_entity
        });
        match same {
            Some(existing) => {
                existing.before = existing.before.take().or(row.before);
                existing.after = existing.after.take().or(row.after);
                if recreation_rank(&row.requires_recreation)
                    > recreation_rank(&existing.requires_recreation)
                {
                    existing.requires_recreation = row.requires_recreation;
                }
            }
            None => rows.push(row),
        }
    }
    rows
}

fn recreation_rank(value: &Option<String>) -> u8 {
    match value.as_deref() {
        Some("Always") => 3,
        Some("Conditionally") => 2,
        Some("Never") => 1,
        _ => 0,
    }
}

/// The property a target names: `Name` for properties, else the path, else the attribute.
fn property_name(target: &ResourceTargetDefinition) -> Option<String> {
    target
        .name
        .clone()
        .or_else(|| target.path.clone())
        .or_else(|| target.attribute.clone())
}

/// Drift shown by a drift-aware change set: the resource's drift status, and each property
/// whose "before" is the actual state or that carries drift values.
fn drifted_properties(resource: &ResourceChange) -> Vec<DriftedProperty> {
    let logical_id = resource.logical_resource_id.clone().unwrap_or_default();
    let resource_type = resource.resource_type.clone().unwrap_or_default();
    let resource_status = resource
        .resource_drift_status
        .clone()
        .filter(|status| matches!(status.as_str(), "MODIFIED" | "DELETED"));
    // The resource's own drift status is the strongest word: IN_SYNC means no drift, whatever
    // the details say (drift-aware change sets report phantom changes). Otherwise a detail is
    // drift when its drift values differ, or when its "before" is the actual state.
    let in_sync = resource.resource_drift_status.as_deref() == Some("IN_SYNC");
    let mut drifted: Vec<DriftedProperty> = Vec::new();
    let details = resource
        .details
        .iter()
        .flatten()
        .filter_map(|detail| detail.target.as_ref())
        .filter(|target| !in_sync && is_drifted(target));
    for property in details.map(|target| DriftedProperty {
        logical_id: logical_id.clone(),
        resource_type: resource_type.clone(),
        status: resource_status.clone().unwrap_or_else(|| "MODIFIED".into()),
        property: property_name(target),
        actual: target
            .drift
            .as_ref()
            .and_then(|drift| drift.actual_value.clone())
            .or_else(|| target.before_value.clone()),
        previous: target
            .drift
            .as_ref()
            .and_then(|drift| drift.previous_value.clone()),
    }) {
        if !drifted
            .iter()
            .any(|seen| seen.property == property.property)
        {
            drifted.push(property);
        }
    }
    if drifted.is_empty()
        && let Some(status) = resource_status
    {
        drifted.push(DriftedProperty {
            logical_id,
            resource_type,
            status,
            property: None,
            actual: None,
            previous: None,
        });
    }
    drifted
}

fn is_drifted(target: &ResourceTargetDefinition) -> bool {
    match &target.drift {
        Some(drift) if drift.actual_value.is_some() || drift.previous_value.is_some() => {
            drift.actual_value != drift.previous_value
        }
        _ => target.before_value_from.as_deref() == Some("ACTUAL_STATE"),
    }
}

fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixtures: documented AWS examples and synthetic ones from the API model (see the README
    /// in tests/fixtures/cloudformation).
    fn fixture(name: &str) -> ChangeSetDescription {
        let path = format!(
            "{}/tests/fixtures/cloudformation/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn destructive(assessment: &Assessment) -> Vec<(&str, &str)> {
        assessment
            .changes
            .iter()
            .filter_map(|c| Some((c.logical_id.as_str(), c.destructive.as_deref()?)))
            .collect()
    }

    #[test]
    fn both_documented_no_change_reasons_mean_no_changes() {
        for name in [
            "synthetic-no-changes.json",
            "synthetic-no-updates-transform.json",
        ] {
            let description = fixture(name);
            assert!(description.is_settled() && !description.is_executable());
            assert_eq!(
                classify(&description).classification,
                Classification::NoChanges,
                "{name}"
            );
        }
    }

    #[test]
    fn any_other_failure_is_failed_with_the_reason_verbatim() {
        let assessment = classify(&fixture("synthetic-failed-template.json"));
        assert_eq!(assessment.classification, Classification::Failed);
        assert_eq!(
            assessment.reason.as_deref(),
            Some(
                "Template format error: Unresolved resource dependencies [AlarmTopic] in the Resources block of the template"
            )
        );
    }

    #[test]
    fn a_documented_executable_change_set_has_changes() {
        let description = fixture("dcs-awscli-lambda-timeout.json");
        assert!(description.is_executable());
        let assessment = classify(&description);
        assert_eq!(assessment.classification, Classification::Changes);
        assert_eq!(assessment.counts.modify, 1);
        assert!(destructive(&assessment).is_empty());
        assert_eq!(
            assessment.changes[0].properties[0].name.as_deref(),
            Some("Timeout")
        );
    }

    #[test]
    fn replacement_names_the_properties_that_force_it() {
        let assessment = classify(&fixture("dcs-replacement-true.json"));
        assert_eq!(assessment.classification, Classification::Changes);
        assert_eq!(
            destructive(&assessment),
            [(
                "MyEC2Instance",
                "replaced (forced by KeyName, InstanceType)"
            )]
        );
        // Six details, two per property (Dynamic and Static ParameterReference): deduplicated
        // on attribute, name, source and entity.
        let properties = &assessment.changes[0].properties;
        assert_eq!(properties.len(), 6);
        assert_eq!(
            properties
                .iter()
                .filter(|p| p.name.as_deref() == Some("KeyName"))
                .count(),
            2
        );
    }

    #[test]
    fn additions_and_removals_are_counted_and_removals_are_destructive() {
        let assessment = classify(&fixture("dcs-add-remove.json"));
        assert_eq!((assessment.counts.add, assessment.counts.remove), (2, 1));
        let removed: Vec<_> = destructive(&assessment)
            .into_iter()
            .map(|(_, why)| why)
            .collect();
        assert_eq!(removed, ["removed"]);
    }

    #[test]
    fn parameter_changes_and_direct_modifications_are_not_destructive() {
        for name in ["dcs-parameter-change.json", "dcs-direct-modification.json"] {
            let assessment = classify(&fixture(name));
            assert_eq!(assessment.classification, Classification::Changes, "{name}");
            assert!(destructive(&assessment).is_empty(), "{name}");
        }
    }

    #[test]
    fn policy_actions_and_conditional_replacements_are_destructive() {
        let assessment = classify(&fixture("synthetic-destructive.json"));
        assert_eq!(
            destructive(&assessment),
            [
                (
                    "OldBucket",
                    "removed; physical resource deleted (PolicyAction Delete)"
                ),
                (
                    "Logs",
                    "removed from the stack (the resource itself is retained)"
                ),
                (
                    "Table",
                    "may be replaced (forced by KeySchema); physical resource deleted (PolicyAction ReplaceAndDelete)"
                ),
            ]
        );
        assert_eq!(assessment.counts.add, 1);
    }

    #[test]
    fn drift_aware_change_sets_show_actual_and_previous_values() {
        let description = fixture("synthetic-drift-aware.json");
        let assessment = classify(&description);
        assert_eq!(assessment.classification, Classification::Drift);
        assert_eq!(assessment.counts.sync_with_actual, 1);
        let drift: Vec<_> = assessment
            .drift
            .iter()
            .map(|d| {
                (
                    d.logical_id.as_str(),
                    d.status.as_str(),
                    d.property.as_deref(),
                    d.actual.as_deref(),
                    d.previous.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            drift,
            [
                (
                    "WorkerFunction",
                    "MODIFIED",
                    Some("Timeout"),
                    Some("45"),
                    Some("30")
                ),
                (
                    "WorkerFunction",
                    "MODIFIED",
                    Some("MemorySize"),
                    Some("256"),
                    Some("128")
                ),
                ("WorkerAlarm", "DELETED", None, None, None),
            ]
        );
    }

    #[test]
    fn in_sync_resources_and_equal_drift_values_are_not_drift() {
        let mut description = fixture("synthetic-drift-aware.json");
        description.stack_drift_status = Some("IN_SYNC".into());
        let function = description.changes[0].resource_change.as_mut().unwrap();
        function.resource_drift_status = Some("IN_SYNC".into());
        let alarm = description.changes[2].resource_change.as_mut().unwrap();
        alarm.resource_drift_status = Some("IN_SYNC".into());
        let assessment = classify(&description);
        assert_eq!(assessment.classification, Classification::Changes);
        assert!(assessment.drift.is_empty());

        let mut equal = fixture("synthetic-drift-aware.json");
        equal.stack_drift_status = None;
        equal.changes.truncate(1);
        let function = equal.changes[0].resource_change.as_mut().unwrap();
        function.resource_drift_status = None;
        for detail in function.details.iter_mut().flatten() {
            let target = detail.target.as_mut().unwrap();
            target.drift = Some(TargetDrift {
                previous_value: Some("30".into()),
                actual_value: Some("30".into()),
            });
        }
        assert_eq!(classify(&equal).classification, Classification::Changes);
    }

    #[test]
    fn a_drifted_stack_without_drifted_rows_is_still_drift_and_says_so() {
        let mut description = fixture("dcs-awscli-lambda-timeout.json");
        description.stack_drift_status = Some("DRIFTED".into());
        let assessment = classify(&description);
        assert_eq!(assessment.classification, Classification::Drift);
        assert!(assessment.notes[0].starts_with("CloudFormation reports the stack DRIFTED"));
    }

    #[test]
    fn nested_change_sets_parse_and_the_child_is_not_executable() {
        let root = fixture("dcs-nested-root.json");
        assert!(root.is_executable());
        let child = fixture("dcs-nested-child.json");
        assert!(!child.is_executable());
        assert_eq!(classify(&child).classification, Classification::Changes);
    }

    #[test]
    fn nested_stacks_rows_are_shown_under_their_path_and_count_in_the_root() {
        let root = fixture("dcs-nested-root.json");
        assert_eq!(
            nested_change_sets(&root, ""),
            [(
                "ChildStack".to_owned(),
                "arn:aws:cloudformation:us-west-2:123456789012:changeSet/my-nested-stack-change-set/4eca1a01-e285-xmpl-8026-9a1967bfb4b0".to_owned()
            )]
        );
        // The child of the documented example has no nested stack of its own.
        let child = fixture("dcs-nested-child.json");
        assert!(nested_change_sets(&child, "ChildStack").is_empty());
        let merged = with_nested(classify(&root), &[("ChildStack".into(), child)], &[]);
        let ids: Vec<_> = merged
            .changes
            .iter()
            .map(|c| c.logical_id.as_str())
            .collect();
        assert_eq!(ids, ["ChildStack", "ChildStack/function"]);
        assert_eq!(merged.counts.modify, 2);
        assert!(
            merged.warnings.is_empty(),
            "'Executable from root change set' is not a warning: {:?}",
            merged.warnings
        );

        // A nested stack replacing and deleting a topic (a change set recorded on AWS) makes
        // the root destructive: the one harmless `Modify Stack` row no longer hides it.
        let replacing = fixture("localstack-modify-replace-and-delete-sns-prop-values.json");
        let merged = with_nested(
            classify(&root),
            &[("ChildStack".into(), replacing)],
            &[(
                "ChildStack/Deeper".into(),
                "DescribeChangeSet: throttled".into(),
            )],
        );
        let destructive: Vec<_> = merged
            .changes
            .iter()
            .filter(|c| c.destructive.is_some())
            .map(|c| c.logical_id.as_str())
            .collect();
        assert_eq!(destructive, ["ChildStack/Topic1"]);
        assert_eq!(merged.counts.modify, 3);
        assert_eq!(
            merged.incomplete,
            [
                "the change set of nested stack ChildStack/Deeper could not be read, so its changes are not shown: DescribeChangeSet: throttled"
            ]
        );
        assert!(
            merged.warnings.is_empty(),
            "the bot's words are not CloudFormation's"
        );

        // A nested change set that failed is said, not skipped.
        let failed = fixture("synthetic-failed-template.json");
        let merged = with_nested(classify(&root), &[("ChildStack".into(), failed)], &[]);
        assert_eq!(merged.incomplete.len(), 1);
        assert!(
            merged.incomplete[0].starts_with("the change set of nested stack ChildStack failed: "),
            "{:?}",
            merged.incomplete
        );
    }

    #[test]
    fn a_replacement_on_an_in_sync_resource_of_a_drift_aware_change_set_is_qualified() {
        // Synthetic, shaped after the answers reported in cloudformation-coverage-roadmap
        // issues 2505 and 2559: an unchanged, IN_SYNC resource replaced by a REVERT_DRIFT
        // change set.
        let described = |mode: &str, stack_drift: &str| -> ChangeSetDescription {
            serde_json::from_value(serde_json::json!({
                "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE",
                "DeploymentMode": mode, "StackDriftStatus": stack_drift,
                "Changes": [{"ResourceChange": {
                    "Action": "Modify", "LogicalResourceId": "ChildResource",
                    "ResourceType": "AWS::ApiGateway::Resource", "Replacement": "True",
                    "PolicyAction": "ReplaceAndDelete", "ResourceDriftStatus": "IN_SYNC"
                }}]
            }))
            .unwrap()
        };
        let phantom = classify(&described("REVERT_DRIFT", "IN_SYNC"));
        let why = phantom.changes[0].destructive.as_deref().unwrap();
        assert!(
            why.starts_with(
                "replaced; physical resource deleted (PolicyAction ReplaceAndDelete); "
            ),
            "still destructive, the deletion first: {why}"
        );
        assert!(why.ends_with(POSSIBLE_PHANTOM), "{why}");
        // A template edit that forces the replacement makes it real.
        let mut edited = described("REVERT_DRIFT", "IN_SYNC");
        if let Some(row) = edited.changes[0].resource_change.as_mut() {
            row.details = Some(vec![Detail {
                target: Some(ResourceTargetDefinition {
                    attribute: Some("Properties".into()),
                    name: Some("ParentId".into()),
                    requires_recreation: Some("Always".into()),
                    ..Default::default()
                }),
                change_source: Some("DirectModification".into()),
                causing_entity: None,
            }]);
        }
        let why = classify(&edited).changes[0].destructive.clone().unwrap();
        assert!(!why.contains(POSSIBLE_PHANTOM), "{why}");
        for (mode, stack_drift) in [("REVERT_DRIFT", "DRIFTED"), ("STANDARD", "IN_SYNC")] {
            let plain = classify(&described(mode, stack_drift));
            let why = plain.changes[0].destructive.as_deref().unwrap();
            assert!(
                !why.contains(POSSIBLE_PHANTOM),
                "{mode} {stack_drift}: {why}"
            );
        }
    }

    #[test]
    fn nested_paths_go_down_the_levels() {
        let parent: ChangeSetDescription = serde_json::from_value(serde_json::json!({
            "Status": "CREATE_COMPLETE",
            "Changes": [
                {"ResourceChange": {"Action": "Modify", "LogicalResourceId": "Subnets", "ResourceType": "AWS::CloudFormation::Stack", "ChangeSetId": "arn:aws:cloudformation:us-east-1:123456789012:changeSet/s/1"}},
                {"ResourceChange": {"Action": "Modify", "LogicalResourceId": "Plain", "ResourceType": "AWS::CloudFormation::Stack", "ChangeSetId": null}}
            ]
        }))
        .unwrap();
        assert_eq!(
            nested_change_sets(&parent, "Network"),
            [(
                "Network/Subnets".to_owned(),
                "arn:aws:cloudformation:us-east-1:123456789012:changeSet/s/1".to_owned()
            )]
        );
    }

    #[test]
    fn a_warned_description_is_completed_without_property_values_and_enriched() {
        let with_values = fixture("synthetic-warn-incomplete.json");
        assert!(with_values.has_incomplete_property_values());
        let mut complete: ChangeSetDescription = serde_json::from_value(serde_json::json!({
            "Status": "CREATE_COMPLETE",
            "ExecutionStatus": "AVAILABLE",
            "Changes": [
                {"ResourceChange": {"Action": "Modify", "LogicalResourceId": "WorkerFunction", "ResourceType": "AWS::Lambda::Function", "Replacement": "False"}},
                {"ResourceChange": {"Action": "Modify", "LogicalResourceId": "WorkerQueue", "ResourceType": "AWS::SQS::Queue", "Replacement": "False"}}
            ]
        }))
        .unwrap();
        complete.enrich_from(&with_values);
        let assessment = classify(&complete);
        assert_eq!(assessment.counts.modify, 2, "the dropped change is back");
        let queue = &assessment.changes[1].properties[0];
        assert_eq!(
            (queue.before.as_deref(), queue.after.as_deref()),
            (Some("30"), Some("90"))
        );
    }

    #[test]
    fn replacement_on_a_new_resource_is_not_destructive_real_aws() {
        // Recorded against AWS: an SNS topic with a TopicName, described with property values,
        // is an `Add` with `Replacement: "True"`.
        let added = fixture("localstack-add-replacement-true-sns.json");
        let row = added.changes[0].resource_change.as_ref().unwrap();
        assert_eq!(
            (row.action.as_deref(), row.replacement.as_deref()),
            (Some("Add"), Some("True"))
        );
        let assessment = classify(&added);
        assert_eq!(assessment.counts.add, 1);
        assert_eq!(
            assessment.changes[0].destructive, None,
            "a new topic destroys nothing"
        );
        assert_eq!(
            assessment.changes[0].replacement.as_deref(),
            Some("True"),
            "CloudFormation's word is kept as it said it"
        );
    }

    #[test]
    fn a_real_replacement_names_the_property_and_the_deletion_real_aws() {
        let modified = classify(&fixture(
            "localstack-modify-replace-and-delete-sns-prop-values.json",
        ));
        let topic1 = &modified.changes[0];
        assert_eq!(
            topic1.destructive.as_deref(),
            Some(
                "replaced (forced by TopicName); physical resource deleted (PolicyAction ReplaceAndDelete)"
            )
        );
        assert_eq!(modified.changes[1].destructive, None, "DisplayName only");
    }

    #[test]
    fn cloudformation_warnings_on_a_usable_change_set_are_kept_verbatim_real_aws() {
        for (name, resource) in [
            ("localstack-warn-incomplete-no-export.json", "[MyFoo]"),
            (
                "localstack-warn-incomplete-fn-join-template-error.json",
                "[Topic2]",
            ),
        ] {
            let description = fixture(name);
            let reason = description.status_reason.clone().unwrap();
            assert!(description.is_executable(), "{name}: AWS still offers it");
            let assessment = classify(&description);
            assert_eq!(assessment.warnings, std::slice::from_ref(&reason), "{name}");
            assert!(reason.starts_with(INCOMPLETE_PROPERTY_VALUES), "{name}");
            assert!(reason.contains(resource), "{name}: {reason}");
            assert_eq!(assessment.reason, None, "{name}: not a failure");
        }
        // A change set without a StatusReason warns of nothing.
        assert!(
            classify(&fixture("dcs-awscli-lambda-timeout.json"))
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn counts_name_the_rarer_actions_when_they_occur() {
        let mut counts = ActionCounts::default();
        assert_eq!(counts.summary(), "+0 ~0 -0");
        for action in ["Import", "Import", "Dynamic", "Add"] {
            counts.count(action);
        }
        assert_eq!(counts.summary(), "+1 ~0 -0 import 2 dynamic 1");
    }
}
