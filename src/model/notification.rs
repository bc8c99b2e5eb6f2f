//! The Amazon Q custom notification
//! (<https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>). A
//! body that does not match is dropped silently by the service, so every one is validated
//! before it is published.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const TITLE_MAX: usize = 250;
pub const DESCRIPTION_MAX: usize = 8_000;
pub const NEXT_STEP_MAX: usize = 350;
pub const KEYWORD_MAX: usize = 75;
pub const CONTEXT_VALUE_MAX: usize = 1_024;

/// `additionalContext["ActionGroup"]`: which custom actions a card shows.
pub const ACTION_GROUP: &str = "ActionGroup";
pub const GROUP_CHANGE_SET: &str = "cfn-changeset";
pub const GROUP_CHANGE_SET_DRIFT: &str = "cfn-changeset-drift";
/// Cards without buttons still say what they are.
pub const GROUP_INFO: &str = "cfn-info";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub version: String,
    pub source: String,
    pub id: String,
    pub content: Content,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub text_type: String,
    pub title: String,
    pub description: String,
    pub next_steps: Vec<String>,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub thread_id: String,
    pub summary: String,
    pub event_type: String,
    pub related_resources: Vec<String>,
    pub additional_context: BTreeMap<String, String>,
    pub enable_custom_actions: bool,
}

impl Notification {
    /// Every rule the service is known to apply, one message per broken rule.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let chars = |text: &str| text.chars().count();
        if self.version != "1.0" {
            problems.push(format!("version is {:?}, not \"1.0\"", self.version));
        }
        if self.source != "custom" {
            problems.push(format!("source is {:?}, not \"custom\"", self.source));
        }
        if self.content.text_type != "client-markdown" {
            problems.push("textType is not client-markdown".into());
        }
        if chars(&self.content.title) > TITLE_MAX {
            problems.push(format!("title over {TITLE_MAX} characters"));
        }
        if self.content.description.is_empty() || chars(&self.content.description) > DESCRIPTION_MAX
        {
            problems.push(format!(
                "description empty or over {DESCRIPTION_MAX} characters"
            ));
        }
        if self
            .content
            .next_steps
            .iter()
            .any(|step| chars(step) > NEXT_STEP_MAX)
        {
            problems.push(format!("a next step over {NEXT_STEP_MAX} characters"));
        }
        if self
            .content
            .keywords
            .iter()
            .any(|keyword| chars(keyword) > KEYWORD_MAX)
        {
            problems.push(format!("a keyword over {KEYWORD_MAX} characters"));
        }
        for (key, value) in &self.metadata.additional_context {
            if !is_context_value(value) {
                problems.push(format!(
                    "additionalContext {key}: not 1–{CONTEXT_VALUE_MAX} printable ASCII characters without spaces"
                ));
            }
        }
        problems
    }
}

/// What custom-action variables may hold: printable ASCII, no spaces, at most 1,024.
pub fn is_context_value(value: &str) -> bool {
    (1..=CONTEXT_VALUE_MAX).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}
