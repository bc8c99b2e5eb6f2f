//! The Amazon Q custom actions behind the card buttons: the JSON files in `custom-actions/`
//! (CreateCustomAction's shape), embedded in the binary, checked against the API model's rules,
//! and printed as they are or as `AWS::Chatbot::CustomAction` resources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::notification::{Notification, is_context_value};

/// The files of `custom-actions/`, by name.
pub const FILES: [(&str, &str); 2] = [
    (
        "cfn-chatops-execute.json",
        include_str!("../../custom-actions/cfn-chatops-execute.json"),
    ),
    (
        "cfn-chatops-discard.json",
        include_str!("../../custom-actions/cfn-chatops-discard.json"),
    ),
];

/// Where custom-notification variables come from.
pub const CONTEXT_PATH: &str = "event.metadata.additionalContext.";

pub const COMMAND_TEXT_MAX: usize = 100;
pub const BUTTON_TEXT_MAX: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CustomAction {
    pub action_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_name: Option<String>,
    pub definition: Definition,
    pub attachments: Vec<Attachment>,
    /// Accepted by CreateCustomAction; passed through as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Definition {
    pub command_text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Attachment {
    pub notification_type: String,
    pub button_text: String,
    pub criteria: Vec<Criterion>,
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Criterion {
    pub operator: String,
    pub variable_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A file of `custom-actions/` that is not a CreateCustomAction definition.
#[derive(Debug, thiserror::Error)]
#[error("custom-actions/{file}: {source}")]
pub struct ActionFileError {
    file: &'static str,
    source: serde_json::Error,
}

/// Every custom action of `custom-actions/`.
pub fn all() -> Result<Vec<CustomAction>, ActionFileError> {
    FILES
        .iter()
        .map(|(file, text)| {
            serde_json::from_str(text).map_err(|source| ActionFileError { file, source })
        })
        .collect()
}

fn matches_name(value: &str, max: usize, extra: &[u8]) -> bool {
    (1..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// The `$Name`s a command uses.
pub fn command_variables(command: &str) -> Vec<&str> {
    command
        .split('$')
        .skip(1)
        .map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

impl CustomAction {
    /// The API model's rules (CreateCustomAction), one message per broken rule.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let command = &self.definition.command_text;
        if !matches_name(&self.action_name, 64, b"_-") {
            problems.push("ActionName must match ^[a-zA-Z0-9_-]{1,64}$".into());
        }
        if let Some(alias) = &self.alias_name
            && !matches_name(alias, 30, b"_-")
        {
            problems.push("AliasName must match ^[A-Za-z0-9-_]{1,30}$".into());
        }
        if command.is_empty() || command.chars().count() > COMMAND_TEXT_MAX {
            problems.push(format!(
                "CommandText must be 1–{COMMAND_TEXT_MAX} characters"
            ));
        }
        if command.starts_with("aws ") {
            problems.push("CommandText is AWS CLI syntax without the leading `aws`".into());
        }
        if self.attachments.is_empty() {
            problems.push("no Attachments: the action would never show as a button".into());
        }
        for (index, attachment) in self.attachments.iter().enumerate() {
            let at = |rule: &str| format!("Attachments[{index}]: {rule}");
            // Any other type (even "custom") never shows on a custom notification.
            if attachment.notification_type != "Custom" {
                problems.push(at(
                    "NotificationType must be \"Custom\" for custom notifications",
                ));
            }
            if !(1..=BUTTON_TEXT_MAX).contains(&attachment.button_text.chars().count()) {
                problems.push(at(&format!(
                    "ButtonText must be 1–{BUTTON_TEXT_MAX} characters"
                )));
            }
            if !(1..=5).contains(&attachment.criteria.len()) {
                problems.push(at("1 to 5 Criteria"));
            }
            if !(1..=5).contains(&attachment.variables.len()) {
                problems.push(at("1 to 5 Variables"));
            }
            for (name, path) in &attachment.variables {
                if !matches_name(name, 100, b"_-") {
                    problems.push(at(&format!(
                        "variable name {name:?} must match ^[A-Za-z0-9-_]+$"
                    )));
                }
                if !is_context_value(path) || !path.starts_with(CONTEXT_PATH) {
                    problems.push(at(&format!(
                        "variable {name}: path must be {CONTEXT_PATH}<Key>, printable ASCII without spaces"
                    )));
                }
            }
            for criterion in &attachment.criteria {
                if !matches!(criterion.operator.as_str(), "HAS_VALUE" | "EQUALS") {
                    problems.push(at(&format!(
                        "operator {:?} is not HAS_VALUE or EQUALS",
                        criterion.operator
                    )));
                }
                if !attachment.variables.contains_key(&criterion.variable_name) {
                    problems.push(at(&format!(
                        "criterion on undefined variable {}",
                        criterion.variable_name
                    )));
                }
                if criterion.operator == "EQUALS" && criterion.value.is_none() {
                    problems.push(at("EQUALS needs a Value"));
                }
                if criterion.value.as_ref().is_some_and(|v| v.len() > 1024) {
                    problems.push(at("criterion Value over 1,024 characters"));
                }
            }
            for variable in command_variables(command) {
                if !attachment.variables.contains_key(variable) {
                    problems.push(at(&format!(
                        "${variable} in CommandText is not in Variables"
                    )));
                }
            }
        }
        problems
    }

    /// The `AWS::Chatbot::CustomAction` resource for a CloudFormation template.
    pub fn to_cloudformation(&self) -> Value {
        json!({
            "Type": "AWS::Chatbot::CustomAction",
            "Properties": self,
        })
    }

    /// CloudFormation logical id: `cfn-chatops-execute` → `CfnChatopsExecute`.
    pub fn logical_id(&self) -> String {
        self.action_name
            .split(['-', '_'])
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// A button as Slack would show it on a notification, with the command it would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub text: String,
    pub command: String,
}

/// The buttons `actions` put on `notification`: criteria evaluated on the variables the
/// notification supplies, variables substituted into the command.
pub fn buttons(actions: &[CustomAction], notification: &Notification) -> Vec<Button> {
    if !notification.metadata.enable_custom_actions {
        return vec![];
    }
    let resolve = |path: &str| {
        path.strip_prefix(CONTEXT_PATH)
            .and_then(|key| notification.metadata.additional_context.get(key))
            .cloned()
    };
    let mut shown = Vec::new();
    for action in actions {
        for attachment in &action.attachments {
            let values: BTreeMap<&str, Option<String>> = attachment
                .variables
                .iter()
                .map(|(name, path)| (name.as_str(), resolve(path)))
                .collect();
            let holds = attachment.criteria.iter().all(|criterion| {
                let value = values
                    .get(criterion.variable_name.as_str())
                    .cloned()
                    .flatten();
                match criterion.operator.as_str() {
                    "HAS_VALUE" => value.is_some_and(|v| !v.is_empty()),
                    "EQUALS" => value.is_some() && value == criterion.value,
                    _ => false,
                }
            });
            if holds {
                let mut command = action.definition.command_text.clone();
                // Longest names first, so `$Cs` never eats part of `$CsArn`.
                let mut names: Vec<_> = values.iter().collect();
                names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
                for (name, value) in names {
                    if let Some(value) = value {
                        command = command.replace(&format!("${name}"), value);
                    }
                }
                shown.push(Button {
                    text: attachment.button_text.clone(),
                    command,
                });
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_folder_is_embedded_and_follows_the_api_rules() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/custom-actions");
        let mut on_disk: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(name, _)| name.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "custom-actions/ and FILES disagree");
        let actions = all().unwrap();
        for action in &actions {
            assert_eq!(
                action.problems(),
                Vec::<String>::new(),
                "{}",
                action.action_name
            );
        }
    }

    #[test]
    fn broken_definitions_are_caught() {
        let mut action = all().unwrap().remove(0);
        action.definition.command_text = format!("aws {}", "x".repeat(120));
        action.attachments[0].button_text = "b".repeat(51);
        action.attachments[0].variables.remove("Region");
        action.attachments[1].criteria.clear();
        action.attachments[1].notification_type = "custom".into();
        let problems = action.problems().join("\n");
        for expected in [
            "CommandText must be 1–100 characters",
            "without the leading `aws`",
            "ButtonText must be 1–50 characters",
            "1 to 5 Criteria",
            "criterion on undefined variable Region",
            "NotificationType must be \"Custom\"",
        ] {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
        let mut undefined = all().unwrap().remove(0);
        undefined.definition.command_text =
            "cloudformation describe-stacks --stack-name $Stack".into();
        assert!(
            undefined
                .problems()
                .join("\n")
                .contains("$Stack in CommandText is not in Variables")
        );
    }

    #[test]
    fn logical_ids_and_command_variables() {
        let actions = all().unwrap();
        assert_eq!(actions[0].logical_id(), "CfnChatopsExecute");
        assert_eq!(
            command_variables("x --a $Cs --region $Region --flag"),
            ["Cs", "Region"]
        );
    }
}
