//! Small text helpers shared by everything that writes for people (Slack, Backlog, errors).

use std::fmt;

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

/// Raw text cut in the middle to at most `max` characters, keeping both ends: ids that differ
/// only in a hash at the end stay told apart (`InspectorFilter…9F3A2B`).
pub fn clip_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(1);
    let tail = keep / 2;
    let head = keep - tail;
    let mut cut: String = text.chars().take(head).collect();
    cut.push('…');
    cut.extend(text.chars().skip(count - tail));
    cut
}

/// Every run of whitespace (newlines included) as one space.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A JSON document that does not have the expected shape, e.g.
/// `content.revisions[0].rev: invalid type: integer `5`, expected a string`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The failing field's path with the caller's prefix (empty: the document itself).
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Deserializes with the failing field's path in the error.
pub fn deserialize_at<'de, T: Deserialize<'de>>(
    value: &'de Value,
    prefix: &str,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let path = if path != "." {
            format!("{prefix}{path}")
        } else {
            prefix.trim_end_matches('.').to_owned()
        };
        FieldError { path, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_clips_keep_both_ends_within_the_limit() {
        let id = format!("InspectorFiltersSuppressCVE{}A1B2C3", "x".repeat(120));
        let cut = clip_middle(&id, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.starts_with("InspectorFiltersSupp"), "{cut}");
        assert!(cut.ends_with("A1B2C3"), "{cut}");
        assert!(cut.contains('…'));
        assert_eq!(clip_middle("short", 40), "short");
        assert_eq!(clip_middle("ab", 1), "…");
    }

    #[test]
    fn field_errors_name_the_path_under_the_prefix() {
        let value = serde_json::json!({"a": {"b": 5}});
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            b: String,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            a: Inner,
        }
        let err = deserialize_at::<Outer>(&value, "detail.").unwrap_err();
        assert_eq!(err.path, "detail.a.b");
        assert!(err.to_string().starts_with("detail.a.b: invalid type"));
        let err = deserialize_at::<Vec<u8>>(&value, "").unwrap_err();
        assert_eq!(err.path, "");
        let err = deserialize_at::<Vec<u8>>(&value, "detail.").unwrap_err();
        assert!(err.to_string().starts_with("detail: invalid type"));
    }
}
