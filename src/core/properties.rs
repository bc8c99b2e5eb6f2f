//! What of a resource change a reviewer is shown: which changed properties (those that force a
//! replacement and the security-relevant ones always, a few others within limits), their
//! before → after values, why they change, and for IAM policy documents which statements come
//! and go. Pure: renderers put the result in their own markup.

use serde_json::Value;

use super::text::{clip_middle, collapse_whitespace};
use crate::model::report::{PropertyChange, ResourceChangeSummary};

/// CloudFormation's placeholder for a value only the execution will know.
const KNOWN_AFTER_APPLY: &str = "{{changeSet:KNOWN_AFTER_APPLY}}";
/// Longest value shown; longer ones are cut in the middle so both ends stay visible.
pub const VALUE_MAX: usize = 80;
/// Ordinary properties shown per row besides the ones always shown.
pub const ORDINARY_PER_ROW: usize = 3;

/// One changed property as the review shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownProperty {
    /// `TopicName`, `DeletionPolicy`, `Tags`, …
    pub name: String,
    /// Display-ready (one line, cut in the middle); `None` when CloudFormation gave none.
    pub before: Option<String>,
    pub after: Option<String>,
    pub forces_replacement: bool,
    /// `parameter Env changed`, `Key.Arn changes`, …
    pub because: Option<String>,
    /// For policy documents: `+ Allow sqs:SendMessage on arn:…`, `- Deny …`.
    pub statements: Vec<String>,
}

/// The properties of a row worth showing, most important first, and how many were left out.
pub fn shown_properties(change: &ResourceChangeSummary) -> (Vec<ShownProperty>, usize) {
    let mut rows: Vec<(u8, &PropertyChange)> = change
        .properties
        .iter()
        .map(|property| (importance(change, property), property))
        .collect();
    rows.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
    let mut shown = Vec::new();
    let mut ordinary = 0;
    let mut hidden = 0;
    for (rank, property) in rows {
        if rank == 0 {
            if ordinary == ORDINARY_PER_ROW {
                hidden += 1;
                continue;
            }
            ordinary += 1;
        }
        shown.push(show(property));
    }
    (shown, hidden)
}

/// 3: forces a replacement; 2: a deletion or replacement policy; 1: security-relevant
/// (permissions, network rules, encryption keys); 0: the rest.
fn importance(change: &ResourceChangeSummary, property: &PropertyChange) -> u8 {
    let name = property.name.as_deref().unwrap_or_default();
    if matches!(
        property.requires_recreation.as_deref(),
        Some("Always" | "Conditionally")
    ) {
        3
    } else if matches!(
        property.attribute.as_str(),
        "DeletionPolicy" | "UpdateReplacePolicy"
    ) {
        2
    } else if is_security_relevant(&change.resource_type)
        || is_policy_document(name)
        || name.contains("SecurityGroup")
        || name.starts_with("CidrIp")
        || name.to_ascii_lowercase().contains("kms")
    {
        1
    } else {
        0
    }
}

/// A change whose own values matter too much to fold into a group of rows alike: it changes a
/// policy document or a deletion or replacement policy.
pub fn stands_alone(change: &ResourceChangeSummary) -> bool {
    change.properties.iter().any(|property| {
        matches!(
            property.attribute.as_str(),
            "DeletionPolicy" | "UpdateReplacePolicy"
        ) || property.name.as_deref().is_some_and(is_policy_document)
    })
}

/// Resource types whose changes grant or open access, or guard data: shown before others.
pub fn is_security_relevant(resource_type: &str) -> bool {
    resource_type.starts_with("AWS::IAM::")
        || resource_type.starts_with("AWS::EC2::SecurityGroup")
        || resource_type.starts_with("AWS::KMS::")
        || matches!(
            resource_type,
            "AWS::S3::BucketPolicy"
                | "AWS::SQS::QueuePolicy"
                | "AWS::SNS::TopicPolicy"
                | "AWS::Lambda::Permission"
                | "AWS::SecretsManager::ResourcePolicy"
        )
}

fn is_policy_document(name: &str) -> bool {
    matches!(
        name,
        "PolicyDocument" | "AssumeRolePolicyDocument" | "KeyPolicy" | "Policies"
    )
}

fn show(property: &PropertyChange) -> ShownProperty {
    let name = property
        .name
        .clone()
        .unwrap_or_else(|| property.attribute.clone());
    let (before, after) = (property.before.as_deref(), property.after.as_deref());
    let statements = if is_policy_document(&name) {
        statement_changes(before, after)
    } else {
        // Lists (managed policy ARNs, security-group rules, …): what comes and goes, since
        // a value cut in the middle could hide an addition.
        element_changes(before, after)
    };
    ShownProperty {
        before: property.before.as_deref().map(display_value),
        after: property.after.as_deref().map(display_value),
        forces_replacement: matches!(
            property.requires_recreation.as_deref(),
            Some("Always" | "Conditionally")
        ),
        because: because(property),
        statements,
        name,
    }
}

/// A value on one line, CloudFormation's placeholder in words, long values cut in the middle.
pub fn display_value(value: &str) -> String {
    if value == KNOWN_AFTER_APPLY {
        return "known after apply".into();
    }
    clip_middle(&collapse_whitespace(value), VALUE_MAX)
}

/// Why a property changes, from `ChangeSource` and `CausingEntity`.
pub fn because(property: &PropertyChange) -> Option<String> {
    let entity = property.causing_entity.as_deref()?;
    match property.change_source.as_deref() {
        Some("ParameterReference") => Some(format!("parameter {entity} changed")),
        Some("ResourceReference" | "ResourceAttribute") => Some(format!("{entity} changes")),
        _ => None,
    }
}

/// The statements a policy document gains (`+`) and loses (`-`), as `Effect Action on
/// Resource` (or `for Principal` in a trust policy). Values that are not JSON policies (one
/// side unknown, a placeholder) give nothing.
pub fn statement_changes(before: Option<&str>, after: Option<&str>) -> Vec<String> {
    // A document's statements; a role's `Policies` is a list of named documents.
    fn of_document(document: &Value) -> Option<Vec<Value>> {
        match document.get("Statement")? {
            Value::Array(list) => Some(list.clone()),
            single @ Value::Object(_) => Some(vec![single.clone()]),
            _ => None,
        }
    }
    let statements = |text: Option<&str>| -> Option<Vec<Value>> {
        let document: Value = serde_json::from_str(text?).ok()?;
        match &document {
            Value::Array(policies) => Some(
                policies
                    .iter()
                    .filter_map(|policy| of_document(policy.get("PolicyDocument")?))
                    .flatten()
                    .collect(),
            ),
            _ => of_document(&document),
        }
    };
    let (before, after) = (
        statements(before).unwrap_or_default(),
        statements(after).unwrap_or_default(),
    );
    let mut changes: Vec<String> = after
        .iter()
        .filter(|statement| !before.contains(statement))
        .map(|statement| format!("+ {}", statement_text(statement)))
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|statement| !after.contains(statement))
            .map(|statement| format!("- {}", statement_text(statement))),
    );
    changes
}

/// The elements a JSON list value gains (`+`) and loses (`-`); nothing for other values.
pub fn element_changes(before: Option<&str>, after: Option<&str>) -> Vec<String> {
    let list = |text: Option<&str>| -> Option<Vec<Value>> {
        match serde_json::from_str(text?).ok()? {
            Value::Array(items) => Some(items),
            _ => None,
        }
    };
    let (Some(before), Some(after)) = (list(before), list(after)) else {
        return vec![];
    };
    let mut changes: Vec<String> = after
        .iter()
        .filter(|item| !before.contains(item))
        .map(|item| format!("+ {}", clip_middle(&compact(item), 2 * VALUE_MAX)))
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|item| !after.contains(item))
            .map(|item| format!("- {}", clip_middle(&compact(item), 2 * VALUE_MAX))),
    );
    changes
}

fn statement_text(statement: &Value) -> String {
    let list = |key: &str| -> Option<String> {
        let value = statement.get(key)?;
        let items: Vec<String> = match value {
            Value::Array(items) => items.iter().map(compact).collect(),
            other => vec![compact(other)],
        };
        Some(items.join(", "))
    };
    let effect = statement
        .get("Effect")
        .and_then(Value::as_str)
        .unwrap_or("Allow");
    let action = list("Action")
        .or_else(|| list("NotAction").map(|a| format!("all but {a}")))
        .unwrap_or_else(|| "?".into());
    let mut text = format!("{effect} {action}");
    if let Some(resource) = list("Resource") {
        text.push_str(&format!(" on {resource}"));
    }
    if let Some(principal) = statement.get("Principal") {
        text.push_str(&format!(" for {}", compact(principal)));
    }
    if statement.get("Condition").is_some() {
        text.push_str(" (with a condition)");
    }
    clip_middle(&text, 2 * VALUE_MAX)
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The parameters whose change caused property changes in a stack, once each, in order.
pub fn changed_parameters(changes: &[ResourceChangeSummary]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for property in changes.iter().flat_map(|change| &change.properties) {
        if property.change_source.as_deref() == Some("ParameterReference")
            && let Some(name) = &property.causing_entity
            && !names.contains(name)
        {
            names.push(name.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(name: &str, before: &str, after: &str, recreation: &str) -> PropertyChange {
        PropertyChange {
            attribute: "Properties".into(),
            name: Some(name.into()),
            requires_recreation: Some(recreation.into()),
            change_source: Some("DirectModification".into()),
            causing_entity: None,
            before: Some(before.into()),
            after: Some(after.into()),
        }
    }

    fn row(resource_type: &str, properties: Vec<PropertyChange>) -> ResourceChangeSummary {
        ResourceChangeSummary {
            logical_id: "R".into(),
            resource_type: resource_type.into(),
            physical_id: None,
            action: "Modify".into(),
            replacement: None,
            policy_action: None,
            destructive: None,
            drift_status: None,
            properties,
        }
    }

    #[test]
    fn forcing_and_policy_properties_come_first_and_ordinary_ones_are_capped() {
        let mut properties: Vec<_> = (0..6)
            .map(|i| property(&format!("Tag{i}"), "a", "b", "Never"))
            .collect();
        properties.push(property("TopicName", "old", "new", "Always"));
        properties.push(PropertyChange {
            attribute: "DeletionPolicy".into(),
            name: None,
            ..property("x", "Retain", "Delete", "Never")
        });
        let (shown, hidden) = shown_properties(&row("AWS::SNS::Topic", properties));
        let names: Vec<_> = shown.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["TopicName", "DeletionPolicy", "Tag0", "Tag1", "Tag2"]
        );
        assert_eq!(hidden, 3);
        assert!(shown[0].forces_replacement);
        assert_eq!(
            (shown[1].before.as_deref(), shown[1].after.as_deref()),
            (Some("Retain"), Some("Delete"))
        );
    }

    #[test]
    fn values_stay_on_one_line_keep_both_ends_and_name_the_placeholder() {
        assert_eq!(display_value(KNOWN_AFTER_APPLY), "known after apply");
        let long = format!(
            "arn:aws:kms:us-east-1:123456789012:key/{}END",
            "0".repeat(200)
        );
        let shown = display_value(&long);
        assert_eq!(shown.chars().count(), VALUE_MAX);
        assert!(
            shown.starts_with("arn:aws:kms") && shown.ends_with("END"),
            "{shown}"
        );
        assert_eq!(display_value("a\n  b"), "a b");
    }

    #[test]
    fn lists_show_what_comes_and_goes() {
        let before = r#"["arn:aws:iam::aws:policy/ReadOnlyAccess"]"#;
        let after = r#"["arn:aws:iam::aws:policy/ReadOnlyAccess","arn:aws:iam::aws:policy/AdministratorAccess"]"#;
        let (shown, _) = shown_properties(&row(
            "AWS::IAM::Role",
            vec![property("ManagedPolicyArns", before, after, "Never")],
        ));
        assert_eq!(
            shown[0].statements,
            ["+ arn:aws:iam::aws:policy/AdministratorAccess"]
        );
        let ingress = r#"[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIp":"0.0.0.0/0"}]"#;
        // Keys in CloudFormation's (the template's) order: serde_json keeps it, as the Guard
        // library enables `preserve_order`.
        assert_eq!(
            element_changes(Some("[]"), Some(ingress)),
            [r#"+ {"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIp":"0.0.0.0/0"}"#]
        );
        let reordered = r#"[{"CidrIp":"0.0.0.0/0","ToPort":22,"FromPort":22,"IpProtocol":"tcp"}]"#;
        assert!(
            element_changes(Some(reordered), Some(ingress)).is_empty(),
            "the same item with its keys in another order is no change"
        );
        assert!(element_changes(Some("a"), Some("b")).is_empty());
    }

    #[test]
    fn causes_are_said_from_the_change_source() {
        let mut by_parameter = property("Timeout", "30", "60", "Never");
        by_parameter.change_source = Some("ParameterReference".into());
        by_parameter.causing_entity = Some("WorkerTimeout".into());
        let mut by_key = property("KmsKeyId", "k1", "k2", "Never");
        by_key.change_source = Some("ResourceAttribute".into());
        by_key.causing_entity = Some("Key.Arn".into());
        let (shown, _) = shown_properties(&row(
            "AWS::SecretsManager::Secret",
            vec![by_parameter.clone(), by_key],
        ));
        assert_eq!(shown[0].name, "KmsKeyId", "keys are security-relevant");
        assert_eq!(shown[0].because.as_deref(), Some("Key.Arn changes"));
        assert_eq!(
            shown[1].because.as_deref(),
            Some("parameter WorkerTimeout changed")
        );
        assert_eq!(
            changed_parameters(&[row("AWS::Lambda::Function", vec![by_parameter])]),
            ["WorkerTimeout"]
        );
    }

    #[test]
    fn policy_documents_show_the_statements_that_come_and_go() {
        let before = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:1:orders"}]}"#;
        let after = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:SendMessage","sqs:DeleteMessage"],"Resource":"*"}]}"#;
        assert_eq!(
            statement_changes(Some(before), Some(after)),
            [
                "+ Allow sqs:SendMessage, sqs:DeleteMessage on *",
                "- Allow sqs:SendMessage on arn:aws:sqs:us-east-1:1:orders"
            ]
        );
        let trust = r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"arn:aws:iam::999:root"},"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#;
        assert_eq!(
            statement_changes(None, Some(trust)),
            [r#"+ Allow sts:AssumeRole for {"AWS":"arn:aws:iam::999:root"} (with a condition)"#]
        );
        assert!(statement_changes(Some(KNOWN_AFTER_APPLY), Some("x")).is_empty());
        // A role's inline policies: named documents in a list.
        let inline = |action: &str| {
            format!(
                r#"[{{"PolicyName":"queue","PolicyDocument":{{"Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}}}]"#
            )
        };
        assert_eq!(
            statement_changes(Some(&inline("sqs:SendMessage")), Some(&inline("sqs:*"))),
            ["+ Allow sqs:* on *", "- Allow sqs:SendMessage on *"]
        );
        let (shown, _) = shown_properties(&row(
            "AWS::IAM::Policy",
            vec![property("PolicyDocument", before, after, "Never")],
        ));
        assert_eq!(shown[0].statements.len(), 2);
    }
}
