//! Which pull request a pushed commit came from, decided from what Backlog lists. A type-12 or
//! Git webhook push names no PR, so the merge commit is matched against merged pull requests.

use crate::model::backlog::PullRequest;

/// `Merge pull request #57 from …`: the convention the seed pipeline relied on. Only a hint:
/// the pull request it names is read and must carry one of the pushed commits as its merge.
pub fn number_in_merge_message(message: &str) -> Option<u64> {
    let rest = message.trim_start().strip_prefix("Merge pull request #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = rest[digits.len()..].chars().next();
    if after.is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    digits.parse().ok().filter(|number| *number > 0)
}

/// The merged pull request into `branch` whose merge commit is among `pushed` (newest first);
/// when several match, the one merged by the newest commit.
pub fn matching<'a>(
    candidates: impl IntoIterator<Item = &'a PullRequest>,
    branch: &str,
    pushed: &[String],
) -> Option<&'a PullRequest> {
    candidates
        .into_iter()
        .filter(|pr| pr.is_merged() && pr.base == branch)
        .filter_map(|pr| {
            let merge = pr.merge_commit.as_deref()?;
            let rank = pushed
                .iter()
                .position(|commit| commit.eq_ignore_ascii_case(merge))?;
            Some((rank, pr))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, pr)| pr)
}

/// The open pull requests from `branch` into `target`: those a push to `branch` previews.
pub fn open_from<'a>(
    candidates: impl IntoIterator<Item = &'a PullRequest>,
    branch: &str,
    target: &str,
) -> Vec<&'a PullRequest> {
    candidates
        .into_iter()
        .filter(|pr| pr.is_open() && pr.branch == branch && pr.base == target)
        .collect()
}

/// Whether a page of pull requests lists them oldest first (numbers rising).
pub fn runs_oldest_first(page: &[PullRequest]) -> bool {
    matches!((page.first(), page.last()), (Some(first), Some(last)) if first.number < last.number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::backlog::IdRef;

    fn pr(number: u64, base: &str, status: u64, merge: Option<&str>) -> PullRequest {
        PullRequest {
            number,
            summary: String::new(),
            base: base.into(),
            branch: String::new(),
            status: IdRef { id: status },
            merge_commit: merge.map(str::to_owned),
            branch_commit: None,
        }
    }

    #[test]
    fn merge_messages_name_a_pull_request_only_in_the_seed_form() {
        assert_eq!(
            number_in_merge_message("Merge pull request #57 from feature/x"),
            Some(57)
        );
        assert_eq!(number_in_merge_message("Merge pull request #8"), Some(8));
        for other in [
            "Merge branch 'feature'",
            "Merge pull request #57abc",
            "Merge pull request #0 from x",
            "Merge pull request # 5",
            "Fix #57",
            "Merge pull request #99999999999999999999999 from x",
        ] {
            assert_eq!(number_in_merge_message(other), None, "{other}");
        }
    }

    #[test]
    fn the_pull_request_merged_by_the_newest_pushed_commit_into_the_branch_wins() {
        let pushed = vec!["cccc".to_string(), "bbbb".to_string(), "aaaa".to_string()];
        let prs = [
            pr(1, "main", 3, Some("AAAA")),
            pr(2, "develop", 3, Some("cccc")),
            pr(3, "main", 2, Some("cccc")),
            pr(4, "main", 3, Some("bbbb")),
            pr(5, "main", 3, None),
        ];
        assert_eq!(matching(&prs, "main", &pushed).map(|pr| pr.number), Some(4));
        assert_eq!(
            matching(&prs[..1], "main", &pushed).map(|pr| pr.number),
            Some(1)
        );
        assert!(matching(&prs, "main", &["dddd".to_string()]).is_none());
    }

    #[test]
    fn a_push_previews_the_open_pull_requests_from_its_branch_into_the_target() {
        let from = |number, branch: &str, base: &str, status| PullRequest {
            branch: branch.into(),
            ..pr(number, base, status, None)
        };
        let prs = [
            from(1, "feature/a", "main", 1),
            from(2, "feature/a", "develop", 1),
            from(3, "feature/a", "main", 2),
            from(4, "feature/b", "main", 1),
            from(5, "feature/a", "main", 1),
        ];
        let numbers: Vec<u64> = open_from(&prs, "feature/a", "main")
            .iter()
            .map(|pr| pr.number)
            .collect();
        assert_eq!(numbers, [1, 5]);
        assert!(open_from(&prs, "feature/c", "main").is_empty());
    }
}
