//! A stand-in for Amazon Q Developer in chat applications, following its documented interface
//! (reference `amazon-q-chat.md` §6): for a received custom notification, each custom action in
//! `custom-actions/` shows a button when all of an attachment's criteria hold on the variables
//! resolved from the notification; clicking substitutes the variables into the command and runs
//! it with the real AWS CLI (no shell), as the service does.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInButton {
    pub text: String,
    pub command: String,
}

fn actions() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/custom-actions");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .collect()
}

/// `event.metadata.additionalContext.Key` → the value at that path of the notification.
fn resolve<'a>(notification: &'a Value, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    if segments.next() != Some("event") {
        return None;
    }
    segments.try_fold(notification, |value, segment| value.get(segment))
}

/// The buttons the channel would show under `notification`.
pub fn buttons(notification: &Value) -> Vec<StandInButton> {
    if notification["metadata"]["enableCustomActions"] == Value::Bool(false) {
        return vec![];
    }
    let mut shown = Vec::new();
    for action in actions() {
        let command = action["Definition"]["CommandText"].as_str().unwrap();
        for attachment in action["Attachments"].as_array().unwrap() {
            if attachment["NotificationType"] != "Custom" {
                continue;
            }
            let variables: BTreeMap<&str, Option<&str>> = attachment["Variables"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, path)| {
                    (
                        name.as_str(),
                        resolve(notification, path.as_str().unwrap()).and_then(Value::as_str),
                    )
                })
                .collect();
            let holds = attachment["Criteria"]
                .as_array()
                .unwrap()
                .iter()
                .all(|criterion| {
                    let value = variables
                        .get(criterion["VariableName"].as_str().unwrap())
                        .copied()
                        .flatten();
                    match criterion["Operator"].as_str().unwrap() {
                        "HAS_VALUE" => value.is_some_and(|v| !v.is_empty()),
                        "EQUALS" => value.is_some() && value == criterion["Value"].as_str(),
                        other => panic!("unknown operator {other}"),
                    }
                });
            if holds {
                let mut filled = command.to_owned();
                let mut names: Vec<_> = variables.iter().collect();
                names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
                for (name, value) in names {
                    let value = value.expect("a shown button has every variable");
                    filled = filled.replace(&format!("${name}"), value);
                }
                shown.push(StandInButton {
                    text: attachment["ButtonText"].as_str().unwrap().to_owned(),
                    command: filled,
                });
            }
        }
    }
    shown
}

/// Runs the button's command with the real AWS CLI against moto (split on spaces, no shell);
/// returns its output.
pub fn click(button: &StandInButton) -> String {
    let words: Vec<&str> = button.command.split_whitespace().collect();
    super::aws::cli(&words)
}
