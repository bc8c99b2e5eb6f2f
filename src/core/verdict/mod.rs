//! The safety verdict's rules, as plain functions: the bot's own (data loss, permissions), and
//! how findings, the repository's levels and its waivers make one verdict.

pub mod checks;
pub mod data_loss;
pub mod guard_rules;
pub mod permissions;

use serde_json::Value;

use crate::model::report::ResourceChangeSummary;
use crate::model::verdict::{Finding, Level, Source, Verdict};

/// The built-in rules' ids, as findings and waivers name them.
pub const BUILTIN_RULES: [&str; 7] = [
    data_loss::DATA_LOSS,
    data_loss::RETENTION_REMOVED,
    data_loss::DELETION_PROTECTION_OFF,
    data_loss::RECOVERY_OFF,
    permissions::IAM_BROADENED,
    permissions::INGRESS_OPEN,
    permissions::PUBLIC_POLICY,
];

/// How far each kind of built-in risk goes (`.cfn-chatops.yml`'s `risks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskLevels {
    pub data_loss: Level,
    pub permissions: Level,
}

impl Default for RiskLevels {
    fn default() -> Self {
        Self {
            data_loss: Level::Review,
            permissions: Level::Review,
        }
    }
}

/// What the built-in rules read about one stack's change set.
pub struct Subject<'a> {
    pub changes: &'a [ResourceChangeSummary],
    /// The template at the commit the changes were computed against; `None` for a new stack
    /// or a template that was not there.
    pub before: Option<&'a Value>,
    /// The template at the planned commit.
    pub after: &'a Value,
    /// The parameter values the change set was created with.
    pub parameters: &'a [(String, String)],
}

/// What one stack's verdict weighs besides its change set: read before any AWS call.
#[derive(Debug, Clone, Default)]
pub struct StackRules {
    /// The template at the commit the changes were computed against, as CloudFormation JSON.
    pub before: Option<Value>,
    pub risks: RiskLevels,
    pub waivers: Vec<Waiver>,
    /// What the team's Guard rules found in the template at the planned commit.
    pub guard: Vec<Finding>,
    /// How many Guard rules were checked.
    pub guard_rules: usize,
    /// What of the team's rules could not be checked, and why.
    pub unchecked: Vec<String>,
}

/// One change set's verdict: CloudFormation's and the hooks' findings, the team's, the
/// bot's, with the stack's waivers applied.
pub fn verdict(
    subject: &Subject,
    stack: &str,
    rules: &StackRules,
    checks: Vec<Finding>,
    mut unchecked: Vec<String>,
) -> Verdict {
    unchecked.extend(rules.unchecked.iter().cloned());
    let mut findings = checks;
    findings.extend(rules.guard.iter().cloned());
    findings.extend(builtin_findings(subject, rules.risks));
    apply_waivers(&mut findings, stack, &rules.waivers);
    Verdict::new(findings, BUILTIN_RULES.len() + rules.guard_rules, unchecked)
}

/// The template with `Ref`s to its parameters replaced by the values the change set gets (or
/// the parameters' defaults), as the team's rules should see it.
pub fn with_parameters(template: &Value, parameters: &[(String, String)]) -> Value {
    let mut resolved = template.clone();
    if let Some(resources) = template.get("Resources") {
        resolved["Resources"] = resolve(resources, Some(template), parameters);
    }
    resolved
}

/// The Guard rules' failures as findings, at their rule file's level.
pub fn guard_findings(failures: Vec<guard_rules::GuardFailure>, level: Level) -> Vec<Finding> {
    failures
        .into_iter()
        .map(|failure| Finding {
            rule: failure.rule,
            resource: failure.resource,
            message: failure.message,
            source: Source::Guard,
            level,
            waived: None,
        })
        .collect()
}

/// Every built-in rule over one change set.
pub fn builtin_findings(subject: &Subject, levels: RiskLevels) -> Vec<Finding> {
    let mut findings = data_loss::findings(subject, levels.data_loss);
    findings.extend(permissions::findings(subject, levels.permissions));
    findings
}

/// A waiver in `.cfn-chatops.yml`: this stack may go on despite this rule (on this resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub stack: String,
    pub rule: String,
    pub resource: Option<String>,
    pub reason: String,
}

impl Waiver {
    /// It names this stack, the finding's rule and, when it names one, its resource.
    fn lifts(&self, stack: &str, finding: &Finding) -> bool {
        self.stack == stack
            && self.rule == finding.rule
            && self.resource.as_deref().is_none_or(|resource| {
                finding
                    .resource
                    .as_deref()
                    .is_some_and(|named| logical_id_of(named) == resource)
            })
    }
}

/// Marks the findings a waiver of this stack lifts.
pub fn apply_waivers(findings: &mut [Finding], stack: &str, waivers: &[Waiver]) {
    for finding in findings
        .iter_mut()
        .filter(|finding| finding.level > Level::Ok && finding.waivable())
    {
        let waiver = waivers.iter().find(|waiver| waiver.lifts(stack, finding));
        if let Some(waiver) = waiver {
            finding.waived = Some(waiver.reason.clone());
        }
    }
}

/// This stack's waivers that lifted no finding: stale, or a typo in a Guard rule's name.
pub fn unused_waivers<'a>(
    waivers: &'a [Waiver],
    stack: &str,
    findings: &[Finding],
) -> Vec<&'a Waiver> {
    waivers
        .iter()
        .filter(|waiver| waiver.stack == stack)
        .filter(|waiver| {
            !findings
                .iter()
                .any(|finding| finding.waived.is_some() && waiver.lifts(stack, finding))
        })
        .collect()
}

/// `Table` of `Table (AWS::DynamoDB::Table)`.
fn logical_id_of(resource: &str) -> &str {
    resource.split(" (").next().unwrap_or(resource)
}

/// How a finding names a resource: `Table (AWS::DynamoDB::Table)`, or its logical id alone
/// when its type is unknown.
pub fn resource_label(logical_id: &str, resource_type: Option<&str>) -> String {
    match resource_type {
        Some(kind) => format!("{logical_id} ({kind})"),
        None => logical_id.to_owned(),
    }
}

fn resource_name(change: &ResourceChangeSummary) -> String {
    resource_label(&change.logical_id, Some(&change.resource_type))
}

/// A resource's entry in a template.
fn resource<'a>(template: Option<&'a Value>, logical_id: &str) -> Option<&'a Value> {
    template?.get("Resources")?.get(logical_id)
}

/// A resource's property at a path, with `Ref`s to parameters replaced by the values the
/// change set got (or the parameter's default).
fn property(
    template: Option<&Value>,
    logical_id: &str,
    path: &[&str],
    parameters: &[(String, String)],
) -> Option<Value> {
    let mut value = resource(template, logical_id)?.get("Properties")?;
    for key in path {
        value = value.get(key)?;
    }
    Some(resolve(value, template, parameters))
}

/// `{"Ref": "Param"}` as the parameter's value; other values as they are.
fn resolve(value: &Value, template: Option<&Value>, parameters: &[(String, String)]) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
            let Some(name) = map["Ref"].as_str() else {
                return value.clone();
            };
            parameters
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, given)| Value::String(given.clone()))
                .or_else(|| {
                    template?
                        .get("Parameters")?
                        .get(name)?
                        .get("Default")
                        .cloned()
                })
                .unwrap_or_else(|| value.clone())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| (key.clone(), resolve(inner, template, parameters)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|inner| resolve(inner, template, parameters))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A flag as CloudFormation accepts it: `true`, `"true"`, `"True"`.
fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Realistic snippets for the rules' tests.
    use super::*;

    pub fn change(
        action: &str,
        logical_id: &str,
        resource_type: &str,
        replacement: Option<&str>,
        policy_action: Option<&str>,
    ) -> ResourceChangeSummary {
        ResourceChangeSummary {
            logical_id: logical_id.into(),
            resource_type: resource_type.into(),
            physical_id: None,
            action: action.into(),
            replacement: replacement.map(str::to_owned),
            policy_action: policy_action.map(str::to_owned),
            destructive: None,
            drift_status: None,
            properties: vec![],
        }
    }

    /// A template of one resource.
    pub fn template(logical_id: &str, resource: Value) -> Value {
        serde_json::json!({ "Resources": { logical_id: resource } })
    }

    pub fn run(
        changes: &[ResourceChangeSummary],
        before: Option<&Value>,
        after: &Value,
    ) -> Vec<Finding> {
        builtin_findings(
            &Subject {
                changes,
                before,
                after,
                parameters: &[],
            },
            RiskLevels::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, resource: &str) -> Finding {
        Finding {
            rule: rule.into(),
            resource: Some(resource.into()),
            message: "m".into(),
            source: Source::Builtin,
            level: Level::Review,
            waived: None,
        }
    }

    #[test]
    fn a_waiver_lifts_its_rule_on_its_stack_and_resource_only() {
        let waivers = [Waiver {
            stack: "app".into(),
            rule: "data-loss".into(),
            resource: Some("Table".into()),
            reason: "table is rebuilt from S3 nightly".into(),
        }];
        let mut findings = vec![
            finding("data-loss", "Table (AWS::DynamoDB::Table)"),
            finding("data-loss", "Other (AWS::DynamoDB::Table)"),
            finding("iam-broadened", "Table (AWS::DynamoDB::Table)"),
        ];
        apply_waivers(&mut findings, "app", &waivers);
        assert_eq!(
            findings[0].waived.as_deref(),
            Some("table is rebuilt from S3 nightly")
        );
        assert_eq!(findings[1].waived, None, "another resource");
        assert_eq!(findings[2].waived, None, "another rule");

        let mut elsewhere = vec![finding("data-loss", "Table (AWS::DynamoDB::Table)")];
        apply_waivers(&mut elsewhere, "other-stack", &waivers);
        assert_eq!(elsewhere[0].waived, None, "another stack");
        assert!(unused_waivers(&waivers, "app", &findings).is_empty());
        assert_eq!(
            unused_waivers(&waivers, "app", &elsewhere).len(),
            1,
            "nothing on this stack's findings matched it"
        );
        assert!(
            unused_waivers(&waivers, "other-stack", &[]).is_empty(),
            "not its waiver"
        );

        let any_resource = [Waiver {
            resource: None,
            ..waivers[0].clone()
        }];
        let mut all = vec![
            finding("data-loss", "A (AWS::S3::Bucket)"),
            finding("data-loss", "B (AWS::S3::Bucket)"),
        ];
        apply_waivers(&mut all, "app", &any_resource);
        assert!(all.iter().all(|finding| finding.waived.is_some()));
    }

    #[test]
    fn the_verdict_weighs_every_source_and_waivers() {
        let before =
            fixtures::template("Table", serde_json::json!({"Type": "AWS::DynamoDB::Table"}));
        let after = serde_json::json!({"Resources": {}});
        let removed = [fixtures::change(
            "Remove",
            "Table",
            "AWS::DynamoDB::Table",
            None,
            Some("Delete"),
        )];
        let subject = Subject {
            changes: &removed,
            before: Some(&before),
            after: &after,
            parameters: &[],
        };
        let guard = Finding {
            source: Source::Guard,
            level: Level::Blocked,
            ..finding("S3_BUCKET_ENCRYPTED", "Logs (AWS::S3::Bucket)")
        };
        let rules = StackRules {
            before: Some(before.clone()),
            guard: vec![guard],
            guard_rules: 4,
            ..StackRules::default()
        };
        let verdict = verdict(&subject, "app", &rules, vec![], vec![]);
        assert_eq!(verdict.level, Level::Blocked);
        assert_eq!(verdict.rules_checked, BUILTIN_RULES.len() + 4);
        assert_eq!(verdict.findings[0].source, Source::Guard, "worst first");
        assert_eq!(verdict.findings[1].rule, data_loss::DATA_LOSS);

        let waived = StackRules {
            waivers: vec![Waiver {
                stack: "app".into(),
                rule: "S3_BUCKET_ENCRYPTED".into(),
                resource: None,
                reason: "log bucket, encrypted by default".into(),
            }],
            ..rules
        };
        let verdict = super::verdict(&subject, "app", &waived, vec![], vec![]);
        assert_eq!(verdict.level, Level::Review, "the data loss still counts");
        assert_eq!(verdict.waived().count(), 1);
    }

    #[test]
    fn parameters_are_resolved_from_values_then_defaults() {
        let template = serde_json::json!({
            "Parameters": {"Protect": {"Type": "String", "Default": "true"}, "Env": {"Type": "String"}},
            "Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {
                "DeletionProtection": {"Ref": "Protect"}, "Tag": {"Ref": "Env"}}}}
        });
        let given = [("Env".to_owned(), "prod".to_owned())];
        assert_eq!(
            property(Some(&template), "Db", &["DeletionProtection"], &given),
            Some(Value::String("true".into()))
        );
        assert_eq!(
            property(Some(&template), "Db", &["Tag"], &given),
            Some(Value::String("prod".into()))
        );
        assert_eq!(property(Some(&template), "Db", &["Missing"], &given), None);
        assert!(is_true(Some(&Value::String("True".into()))));
        assert!(!is_true(Some(&Value::Bool(false))));
    }

    #[test]
    fn guard_sees_the_template_with_its_parameters_and_its_failures_become_findings() {
        let template = serde_json::json!({
            "Parameters": {"Versioning": {"Type": "String", "Default": "Suspended"}},
            "Resources": {"Logs": {"Type": "AWS::S3::Bucket", "Properties": {
                "VersioningConfiguration": {"Status": {"Ref": "Versioning"}},
                "BucketName": {"Fn::Sub": "${AWS::StackName}-logs"}}}}
        });
        let resolved = with_parameters(&template, &[]);
        let properties = &resolved["Resources"]["Logs"]["Properties"];
        assert_eq!(properties["VersioningConfiguration"]["Status"], "Suspended");
        assert_eq!(
            properties["BucketName"],
            serde_json::json!({"Fn::Sub": "${AWS::StackName}-logs"}),
            "what cannot be resolved stays as written"
        );
        assert_eq!(resolved["Parameters"], template["Parameters"]);
        let given = [("Versioning".to_owned(), "Enabled".to_owned())];
        assert_eq!(
            with_parameters(&template, &given)["Resources"]["Logs"]["Properties"]["VersioningConfiguration"]
                ["Status"],
            "Enabled"
        );

        let findings = guard_findings(
            vec![guard_rules::GuardFailure {
                rule: "S3_BUCKET_VERSIONING_ENABLED".into(),
                resource: Some("Logs (AWS::S3::Bucket)".into()),
                message: "versioning must be enabled".into(),
            }],
            Level::Review,
        );
        assert_eq!(
            findings,
            [Finding {
                rule: "S3_BUCKET_VERSIONING_ENABLED".into(),
                resource: Some("Logs (AWS::S3::Bucket)".into()),
                message: "versioning must be enabled".into(),
                source: Source::Guard,
                level: Level::Review,
                waived: None,
            }]
        );
    }

    #[test]
    fn what_the_team_could_not_check_is_part_of_the_verdict() {
        let after = serde_json::json!({"Resources": {}});
        let subject = Subject {
            changes: &[],
            before: None,
            after: &after,
            parameters: &[],
        };
        let rules = StackRules {
            unchecked: vec!["Guard rules: policies/*.guard match no file at abc1234".into()],
            ..StackRules::default()
        };
        let verdict = verdict(
            &subject,
            "app",
            &rules,
            vec![],
            vec!["Hooks: not offered".into()],
        );
        assert_eq!(
            verdict.unchecked,
            [
                "Hooks: not offered",
                "Guard rules: policies/*.guard match no file at abc1234"
            ]
        );
        assert_eq!(verdict.level, Level::Ok);
    }
}
