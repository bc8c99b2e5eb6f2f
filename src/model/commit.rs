//! Git commit ids, as webhooks, change-set names and the command line carry them.

/// A full commit id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories).
pub fn is_full_commit_id(value: &str) -> bool {
    matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A full commit id in git's lower-case form, or `None` when `value` is not one.
pub fn parse_full(value: &str) -> Option<String> {
    is_full_commit_id(value).then(|| value.to_ascii_lowercase())
}

/// Git's all-zeros id: the "after" of a deleted ref and the "before" of a new one.
pub fn is_zero_commit(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

/// A commit's short form, as people read it.
pub fn short(commit: &str) -> String {
    commit.chars().take(7).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ids_only() {
        assert!(is_full_commit_id(
            "d3adb33fc0ffee00112233445566778899aabbcc"
        ));
        assert!(is_full_commit_id(&"A".repeat(64)));
        for bad in ["", "d3adb33", "HEAD", &"g".repeat(40), &"a".repeat(41)] {
            assert!(!is_full_commit_id(bad), "{bad}");
        }
        assert_eq!(parse_full(&"A".repeat(40)), Some("a".repeat(40)));
        assert_eq!(parse_full("HEAD"), None);
    }

    #[test]
    fn zero_ids_and_short_forms() {
        assert!(is_zero_commit(&"0".repeat(40)));
        assert!(!is_zero_commit(""));
        assert!(!is_zero_commit("000a"));
        assert_eq!(short("d3adb33fc0ffee"), "d3adb33");
        assert_eq!(short("abc"), "abc");
    }
}
