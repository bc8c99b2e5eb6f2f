//! A text picture of the Slack cards, buttons included: what reviewers will see.

use std::fmt::Write;

use crate::core::custom_actions::{CustomAction, buttons};
use crate::model::notification::Notification;

pub fn preview(cards: &[Notification], actions: &[CustomAction]) -> String {
    let mut text = String::new();
    for (index, card) in cards.iter().enumerate() {
        let content = &card.content;
        let indent = if index == 0 { "" } else { "    " };
        let _ = writeln!(text, "{indent}┌─ {}", content.title);
        for line in content.description.lines() {
            let _ = writeln!(text, "{indent}│ {line}");
        }
        for step in &content.next_steps {
            let _ = writeln!(text, "{indent}│ • {step}");
        }
        if !content.keywords.is_empty() {
            let _ = writeln!(text, "{indent}│ [{}]", content.keywords.join("] ["));
        }
        let shown = buttons(actions, card);
        if shown.is_empty() {
            let _ = writeln!(text, "{indent}└─ (no buttons)");
        } else {
            let labels: Vec<String> = shown.iter().map(|b| format!("[ {} ]", b.text)).collect();
            let _ = writeln!(text, "{indent}└─ {}", labels.join("  "));
            for button in &shown {
                let _ = writeln!(
                    text,
                    "{indent}     {} runs: {}",
                    button.text, button.command
                );
            }
        }
        if index == 0 && cards.len() > 1 {
            let _ = writeln!(text, "    (thread {})", card.metadata.thread_id);
        }
    }
    text
}
