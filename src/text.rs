//! Small text helpers shared by everything that writes for people (Slack, Backlog, errors).

use serde::Deserialize;
use serde_json::Value;

/// Raw text cut to at most `max` characters, ending with "…" when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Every run of whitespace (newlines included) as one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deserializes with the failing field's path in the message, e.g.
/// `content.revisions[0].rev: invalid type: integer `5`, expected a string`.
pub fn deserialize_at<'de, T: Deserialize<'de>>(
    value: &'de Value,
    prefix: &str,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path != "." {
            format!("{prefix}{path}: {inner}")
        } else if prefix.is_empty() {
            inner.to_string()
        } else {
            format!("{}: {inner}", prefix.trim_end_matches('.'))
        }
    })
}
