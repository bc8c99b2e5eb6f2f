//! Git commit ids, as webhooks, change-set names and the command line carry them.

/// A full commit id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories).
pub fn is_full_commit_id(value: &str) -> bool {
    matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit())
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
    }
}
