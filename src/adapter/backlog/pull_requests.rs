//! Finding the pull request of a push over Backlog's REST API.

use super::api::{BacklogClient, BacklogError};
use crate::core::pull_request::{matching, number_in_merge_message, runs_oldest_first};
use crate::model::backlog::{PullRequest, STATUS_MERGED, STATUS_OPEN};

/// Pages of merged pull requests read before giving up: the merge is recent, so it is among
/// the newest (Backlog's order is undocumented: both ends are handled).
const PAGES: u64 = 3;
const PAGE_SIZE: u8 = 100;

/// Open pull requests read at most, for a push to a branch: the previews of one repository
/// never need more.
const OPEN_PAGES: u64 = 5;

/// The repository's open pull requests (Backlog has no branch filter: the caller picks).
pub async fn open_pull_requests(
    client: &BacklogClient,
    project: &str,
    repository: &str,
) -> Result<Vec<PullRequest>, BacklogError> {
    let mut open = Vec::new();
    for page in 0..OPEN_PAGES {
        let prs = client
            .pull_requests(
                project,
                repository,
                STATUS_OPEN,
                page * u64::from(PAGE_SIZE),
                PAGE_SIZE,
            )
            .await?;
        let last = prs.len() < usize::from(PAGE_SIZE);
        open.extend(prs);
        if last {
            break;
        }
    }
    Ok(open)
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
