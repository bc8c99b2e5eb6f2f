//! Names CloudFormation accepts, derived deterministically from the commit.

use crate::model::commit::is_full_commit_id;

/// Stack and change-set names: a letter, then letters, digits and `-`; 1 to 128 characters.
pub fn valid_stack_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// File names that say nothing about the stack (SAM's `template.yaml`): such a template is
/// named after its folder.
pub const GENERIC_FILE_NAMES: [&str; 5] = ["template", "main", "stack", "cfn", "cloudformation"];

/// The stack a discovered template is planned as, derived from its path alone, so that adding
/// or moving another file never renames it:
/// - the file name without its extension, and without a `.cfn`, `.cf` or `.template` before
///   it (`VPCFlowLogsCloudWatch.cfn.yaml` → `VPCFlowLogsCloudWatch`);
/// - a generic name ([`GENERIC_FILE_NAMES`]) takes its folder's name instead
///   (`apps/orders/template.yaml` → `orders`), except at the repository's root;
/// - every run of characters other than ASCII letters, digits and `-` becomes one `-`, and
///   `-` is trimmed from both ends (`DynamoDB_Table` → `DynamoDB-Table`);
/// - a name that does not start with a letter gets `stack-` before it (`01-vpc` →
///   `stack-01-vpc`); at most 128 characters.
///
/// `None` when nothing usable is left (`___.yaml`).
pub fn derived_stack_name(path: &str) -> Option<String> {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or(path);
    let mut stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    for suffix in [".cfn", ".cf", ".template"] {
        if stem.len() > suffix.len() && stem.to_ascii_lowercase().ends_with(suffix) {
            stem = &stem[..stem.len() - suffix.len()];
            break;
        }
    }
    if GENERIC_FILE_NAMES.contains(&stem.to_ascii_lowercase().as_str())
        && let Some(folder) = parts.next()
    {
        stem = folder;
    }
    let mut name = String::with_capacity(stem.len());
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_matches('-');
    if name.is_empty() {
        return None;
    }
    let mut name = if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.to_owned()
    } else {
        format!("stack-{name}")
    };
    name.truncate(128);
    Some(name.trim_end_matches('-').to_owned()).filter(|name| valid_stack_name(name))
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

/// Preview change sets start with this: never executable, never a merge plan's.
pub const PREVIEW_PREFIX: &str = "cfn-chatops-preview-pr";

/// The change set previewing a pull request's head (`cfn-chatops-preview-pr57-<full sha>`):
/// deleted as soon as it is described. Not a name [`commit_of`] reads, so merge plans never
/// supersede it nor are superseded by it.
pub fn preview_change_set_name(pr: u64, commit: &str) -> String {
    format!("{PREVIEW_PREFIX}{pr}-{commit}")
}

/// The pull request a preview change set of ours was made for, from its name.
pub fn preview_pr_of(change_set_name: &str) -> Option<u64> {
    let rest = change_set_name.strip_prefix(PREVIEW_PREFIX)?;
    let (pr, commit) = rest.split_once('-')?;
    is_full_commit_id(commit).then(|| pr.parse().ok()).flatten()
}

/// Whether a change set, by name or ARN (`…:changeSet/<name>/<id>`), is a preview's.
pub fn is_preview_change_set(name_or_arn: &str) -> bool {
    let name = match name_or_arn.split_once(":changeSet/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or_default(),
        None => name_or_arn,
    };
    preview_pr_of(name).is_some()
}

/// CreateChangeSet's ClientToken (1–128 characters, the end kept): one per stack and `what`
/// (a merge plan's commit; a preview's change set name and run).
pub fn client_token(stack: &str, what: &str) -> String {
    let token = format!("{stack}-{what}");
    let tail: String = token
        .chars()
        .rev()
        .take(128)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // It must start with a letter or digit, and the cut may land on a `-`.
    tail.trim_start_matches('-').to_owned()
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
        let preview = preview_change_set_name(57, SHA);
        assert!(valid_stack_name(&preview));
        assert_eq!(commit_of(&preview), None);
        assert_eq!(preview_pr_of(&preview), Some(57));
        assert_eq!(preview_pr_of(&name), None);
        assert_eq!(preview_pr_of("cfn-chatops-preview-prX-abc"), None);
        assert!(is_preview_change_set(&preview));
        assert!(is_preview_change_set(&format!(
            "arn:aws:cloudformation:us-east-1:123456789012:changeSet/{preview}/9a8b"
        )));
        assert!(!is_preview_change_set(&format!(
            "arn:aws:cloudformation:us-east-1:123456789012:changeSet/{name}/9a8b"
        )));
        assert_ne!(
            client_token("app", SHA),
            client_token("app", &preview),
            "a preview and a merge plan of one commit must not share a ClientToken"
        );
        let long = client_token(&"s".repeat(128), &format!("{preview}-1764660000000"));
        assert_eq!(long.len(), 128);
        assert!(long.ends_with("-1764660000000"), "the distinct end is kept");
        // A cut landing on a `-` is trimmed: ClientToken starts with a letter or digit.
        let dashed = "app-".repeat(20);
        let cut_on_dash = (49..80).filter(|len| {
            let stack = &dashed[..*len];
            let untrimmed = format!("{stack}-{preview}-1764660000000");
            untrimmed.as_bytes()[untrimmed.len() - 128] == b'-'
        });
        let mut checked = 0;
        for len in cut_on_dash {
            let token = client_token(&dashed[..len], &format!("{preview}-1764660000000"));
            assert!(!token.starts_with('-') && token.len() == 127, "{token}");
            checked += 1;
        }
        assert!(checked > 0, "some cut lands on a `-`");
    }

    #[test]
    fn stack_names() {
        assert!(valid_stack_name("app-prod"));
        for bad in ["", "1app", "app_prod", "app.prod", &"a".repeat(129)] {
            assert!(!valid_stack_name(bad), "{bad}");
        }
    }

    #[test]
    fn discovered_templates_get_a_valid_name_from_their_path() {
        for (path, name) in [
            ("infra/DynamoDB_Table.yaml", "DynamoDB-Table"),
            ("VPCFlowLogsCloudWatch.cfn.yaml", "VPCFlowLogsCloudWatch"),
            (
                "apigateway_lambda_integration.yaml",
                "apigateway-lambda-integration",
            ),
            ("stacks/app.template.json", "app"),
            ("stacks/app.template", "app"),
            ("apps/orders/template.yaml", "orders"),
            ("apps/user_admin/Template.yml", "user-admin"),
            ("template.yaml", "template"),
            ("net/01-vpc.yaml", "stack-01-vpc"),
            ("a/b/my app (v2).yaml", "my-app-v2"),
            ("stacks/queue-v2.template", "queue-v2"),
            ("stacks/naïve.yaml", "na-ve"),
        ] {
            assert_eq!(derived_stack_name(path).as_deref(), Some(name), "{path}");
        }
        let long = format!("{}.yaml", "a_".repeat(100));
        let name = derived_stack_name(&long).unwrap();
        assert!(valid_stack_name(&name) && name.len() <= 128, "{name}");
        assert_eq!(derived_stack_name("___.yaml"), None);
        assert_eq!(derived_stack_name(".cfn.yaml"), Some("cfn".into()));
    }

    #[test]
    fn client_tokens_keep_the_commit_and_fit_128() {
        let token = client_token(&"s".repeat(128), SHA);
        assert_eq!(token.len(), 128);
        assert!(token.ends_with(SHA));
        assert_eq!(client_token("app", SHA), format!("app-{SHA}"));
    }
}
