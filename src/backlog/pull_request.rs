//! Which pull request a pushed commit came from. A type-12 or Git webhook push names no PR, so
//! the merge commit is matched against Backlog's merged pull requests.

use super::api::{BacklogClient, BacklogError, PullRequest, STATUS_MERGED};

/// Pages of merged pull requests read before giving up: the merge is recent, so it is among
/// the newest (Backlog's order is undocumented: both ends are handled).
const PAGES: u64 = 3;
const PAGE_SIZE: u8 = 100;

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

/// Finds the pull request of a push: the one its head commit's message names, when that PR
/// really was merged by a pushed commit; else by listing merged pull requests. `None`: a
/// direct push.
pub async fn find_merged(
    client: &BacklogClient,
    project: &str,
    repository: &str,
    branch: &str,
    head_message: Option<&str>,
    pushed: &[String],
) -> Result<Option<PullRequest>, BacklogError> {
    if let Some(number) = head_message.and_then(number_in_merge_message) {
        match client.pull_request(project, repository, number).await {
            Ok(pr) => {
                if matching([&pr], branch, pushed).is_some() {
                    return Ok(Some(pr));
                }
            }
            Err(err) if err.status() == Some(404) => {}
            Err(err) => return Err(err),
        }
    }
    let page =
        |offset: u64| client.pull_requests(project, repository, STATUS_MERGED, offset, PAGE_SIZE);
    let first = page(0).await?;
    if let Some(pr) = matching(&first, branch, pushed) {
        return Ok(Some(pr.clone()));
    }
    if first.len() < usize::from(PAGE_SIZE) {
        return Ok(None);
    }
    let size = u64::from(PAGE_SIZE);
    let offsets: Vec<u64> = if runs_oldest_first(&first) {
        // The newest merges are at the end: count, and read backwards from there.
        let total = client
            .pull_request_count(project, repository, STATUS_MERGED)
            .await?;
        // Pages ending at the newest, stepping back; offset 0 was read already.
        (1..=PAGES)
            .map(|back| total.saturating_sub(size * back))
            .filter(|offset| *offset > 0)
            .collect()
    } else {
        (1..PAGES).map(|page| page * size).collect()
    };
    for offset in offsets {
        let prs = page(offset).await?;
        if let Some(pr) = matching(&prs, branch, pushed) {
            return Ok(Some(pr.clone()));
        }
        if prs.is_empty() {
            break;
        }
    }
    Ok(None)
}

/// Whether a page of pull requests lists them oldest first (numbers rising).
fn runs_oldest_first(page: &[PullRequest]) -> bool {
    matches!((page.first(), page.last()), (Some(first), Some(last)) if first.number < last.number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::api::IdRef;

    fn pr(number: u64, base: &str, status: u64, merge: Option<&str>) -> PullRequest {
        PullRequest {
            number,
            summary: String::new(),
            base: base.into(),
            status: IdRef { id: status },
            merge_commit: merge.map(str::to_owned),
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
}
