//! Names CloudFormation accepts, derived deterministically from the commit.

use crate::model::commit::is_full_commit_id;

/// Stack and change-set names: a letter, then letters, digits and `-`; 1 to 128 characters.
pub fn valid_stack_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Every change set the bot creates starts with this, so it can find its own.
pub const CHANGE_SET_PREFIX: &str = "cfn-chatops-";

/// The change set for a commit: the same commit always gets the same name, whichever webhook
/// or retry planned it (`cfn-chatops-<full sha>`, 52 or 76 characters).
pub fn change_set_name(commit: &str) -> String {
    format!("{CHANGE_SET_PREFIX}{commit}")
}

/// The commit a change set of ours was planned for, from its name.
pub fn commit_of(change_set_name: &str) -> Option<&str> {
    change_set_name
        .strip_prefix(CHANGE_SET_PREFIX)
        .filter(|commit| is_full_commit_id(commit))
}

/// CreateChangeSet's ClientToken (1–128 characters): one per stack and commit.
pub fn client_token(stack: &str, commit: &str) -> String {
    let token = format!("{stack}-{commit}");
    token
        .chars()
        .rev()
        .take(128)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    #[test]
    fn change_set_names_follow_the_name_rule_and_round_trip() {
        let name = change_set_name(SHA);
        assert!(valid_stack_name(&name));
        assert_eq!(commit_of(&name), Some(SHA));
        assert!(valid_stack_name(&change_set_name(&"a".repeat(64))));
        assert_eq!(commit_of("cfn-chatops-notasha"), None);
        assert_eq!(commit_of("someone-elses-change-set"), None);
    }

    #[test]
    fn stack_names() {
        assert!(valid_stack_name("app-prod"));
        for bad in ["", "1app", "app_prod", "app.prod", &"a".repeat(129)] {
            assert!(!valid_stack_name(bad), "{bad}");
        }
    }

    #[test]
    fn client_tokens_keep_the_commit_and_fit_128() {
        let token = client_token(&"s".repeat(128), SHA);
        assert_eq!(token.len(), 128);
        assert!(token.ends_with(SHA));
        assert_eq!(client_token("app", SHA), format!("app-{SHA}"));
    }
}
