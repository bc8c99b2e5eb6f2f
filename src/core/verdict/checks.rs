//! CloudFormation's own checks of a change set (pre-deployment validation and Hooks) as
//! verdict findings, their words kept verbatim.

use super::resource_label;
use crate::model::verdict::{Finding, Level, Source};

/// One pre-deployment validation's result (a `VALIDATION_ERROR` event of DescribeEvents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationResult {
    /// `ValidationName`, e.g. `PROPERTY_VALIDATION`.
    pub name: Option<String>,
    /// `ValidationStatus`: `FAILED` or `SKIPPED`.
    pub status: Option<String>,
    /// `ValidationFailureMode`: `FAIL` fails the change set, `WARN` lets it be created.
    pub failure_mode: Option<String>,
    pub reason: Option<String>,
    /// Where in the template, e.g. `/Resources/Bucket/Properties/BucketName`.
    pub path: Option<String>,
    pub logical_id: Option<String>,
    pub resource_type: Option<String>,
}

/// One Hook's result on the change set (ListHookResults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookResult {
    /// The Hook's type name, e.g. `MyCompany::Security::Encryption`.
    pub type_name: Option<String>,
    /// `HOOK_IN_PROGRESS`, `HOOK_COMPLETE_SUCCEEDED`, `HOOK_COMPLETE_FAILED` or `HOOK_FAILED`.
    pub status: Option<String>,
    pub reason: Option<String>,
    /// `FAIL` or `WARN`.
    pub failure_mode: Option<String>,
    /// What it ran on, when it names a resource.
    pub target: Option<String>,
}

/// The level a failure in this mode gives: `FAIL` blocks, `WARN` asks for review. An unknown
/// or missing mode is taken as `FAIL`: never less certain than CloudFormation.
fn level_of(failure_mode: Option<&str>) -> Level {
    match failure_mode {
        Some("WARN") => Level::Review,
        _ => Level::Blocked,
    }
}

/// The findings in CloudFormation's answers, and what could not be concluded (a Hook still
/// running).
pub fn findings(
    validations: &[ValidationResult],
    hooks: &[HookResult],
) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut unchecked = Vec::new();
    for validation in validations
        .iter()
        .filter(|v| v.status.as_deref() == Some("FAILED"))
    {
        let resource = validation
            .logical_id
            .as_deref()
            .map(|id| resource_label(id, validation.resource_type.as_deref()));
        let mut message = validation
            .reason
            .clone()
            .unwrap_or_else(|| "failed (CloudFormation gave no reason)".into());
        if let Some(path) = &validation.path {
            message.push_str(&format!(" [at {path}]"));
        }
        findings.push(Finding {
            rule: validation
                .name
                .clone()
                .unwrap_or_else(|| "pre-deployment-validation".into()),
            resource,
            message,
            source: Source::Cloudformation,
            level: level_of(validation.failure_mode.as_deref()),
            waived: None,
        });
    }
    for hook in hooks {
        let name = hook.type_name.clone().unwrap_or_else(|| "hook".into());
        match hook.status.as_deref() {
            Some("HOOK_COMPLETE_FAILED" | "HOOK_FAILED") => findings.push(Finding {
                rule: name,
                resource: hook.target.clone(),
                message: hook
                    .reason
                    .clone()
                    .unwrap_or_else(|| "failed (the Hook gave no reason)".into()),
                source: Source::Hook,
                level: level_of(hook.failure_mode.as_deref()),
                waived: None,
            }),
            Some("HOOK_IN_PROGRESS") => unchecked.push(format!(
                "Hook {name} was still running when the plan was read"
            )),
            _ => {}
        }
    }
    (findings, unchecked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(status: &str, mode: &str) -> ValidationResult {
        ValidationResult {
            name: Some("PROPERTY_VALIDATION".into()),
            status: Some(status.into()),
            failure_mode: Some(mode.into()),
            reason: Some("#/BucketName: expected maxLength: 63, actual: 70".into()),
            path: Some("/Resources/Bucket/Properties/BucketName".into()),
            logical_id: Some("Bucket".into()),
            resource_type: Some("AWS::S3::Bucket".into()),
        }
    }

    #[test]
    fn a_failed_validation_in_fail_mode_blocks_with_cloudformations_words() {
        let (findings, unchecked) = findings(&[validation("FAILED", "FAIL")], &[]);
        assert!(unchecked.is_empty());
        assert_eq!(
            findings,
            vec![Finding {
                rule: "PROPERTY_VALIDATION".into(),
                resource: Some("Bucket (AWS::S3::Bucket)".into()),
                message: "#/BucketName: expected maxLength: 63, actual: 70 [at /Resources/Bucket/Properties/BucketName]".into(),
                source: Source::Cloudformation,
                level: Level::Blocked,
                waived: None,
            }]
        );
    }

    #[test]
    fn warn_mode_asks_for_review_and_skipped_validations_are_no_findings() {
        let (found, _) = findings(
            &[validation("FAILED", "WARN"), validation("SKIPPED", "FAIL")],
            &[],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, Level::Review);
    }

    #[test]
    fn hooks_fail_or_warn_by_their_mode_and_a_running_one_is_unchecked() {
        let hook = |status: &str, mode: Option<&str>| HookResult {
            type_name: Some("Org::Security::Encryption".into()),
            status: Some(status.into()),
            reason: Some("Bucket Bucket is not encrypted".into()),
            failure_mode: mode.map(str::to_owned),
            target: None,
        };
        let (found, unchecked) = findings(
            &[],
            &[
                hook("HOOK_COMPLETE_FAILED", Some("FAIL")),
                hook("HOOK_FAILED", Some("WARN")),
                hook("HOOK_COMPLETE_SUCCEEDED", Some("FAIL")),
                hook("HOOK_IN_PROGRESS", Some("FAIL")),
                hook("HOOK_COMPLETE_FAILED", None),
            ],
        );
        let levels: Vec<Level> = found.iter().map(|f| f.level).collect();
        assert_eq!(levels, [Level::Blocked, Level::Review, Level::Blocked]);
        assert!(
            found
                .iter()
                .all(|f| f.source == Source::Hook && f.message == "Bucket Bucket is not encrypted")
        );
        assert_eq!(
            unchecked,
            ["Hook Org::Security::Encryption was still running when the plan was read"]
        );
    }
}
