//! Which pushes are planned. Every refusal is a 200 with its reason, so Backlog does not retry.

use super::webhook::PullRequestEvent;
use crate::model::backlog::PullRequest;
use crate::model::commit::{is_zero_commit, parse_full};
use crate::model::trigger::{Ignored, Push, Revision, Trigger};

/// Decides whether a push is planned. Pure: the order of the checks is the order of the reasons
/// a user would want to read (a deleted branch has no revisions, but "deleted" is the answer).
pub fn admit(push: Push, target_branch: &str) -> Result<Trigger, Ignored> {
    if push.git_ref.starts_with("refs/tags/") {
        return Err(Ignored::TagRef(push.git_ref));
    }
    let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
        return Err(Ignored::NotABranch(push.git_ref));
    };
    let branch = branch.to_owned();
    if push.deleted || push.after.as_deref().is_some_and(is_zero_commit) {
        return Err(Ignored::BranchDeleted(branch));
    }
    if branch != target_branch {
        return Err(Ignored::OtherBranch {
            branch,
            target: target_branch.to_owned(),
        });
    }
    let after = match push.after {
        Some(after) if !push.revisions.is_empty() => after,
        _ => return Err(Ignored::NoRevisions),
    };
    Ok(Trigger {
        project_key: push.project_key,
        repository: push.repository,
        branch,
        before: push.before.filter(|before| !is_zero_commit(before)),
        after,
        revisions: push.revisions,
        pr_number: push.pr_number,
        actor: push.actor,
        preview_into: None,
    })
}

/// Decides whether a merge webhook is planned, from the pull request as the REST API has it.
/// The trigger's one revision is the merge commit: the plan diffs it against its first parent
/// (the base branch before the merge), and its delivery key is the one the push of that merge
/// commit has, so the two webhooks of one merge dispatch once.
pub fn admit_merge(
    merge: PullRequestEvent,
    pr: &PullRequest,
    target_branch: &str,
) -> Result<Trigger, Ignored> {
    let not_found = |why: &str| Ignored::MergeNotFound {
        number: merge.number,
        why: why.to_owned(),
    };
    if !pr.is_merged() {
        return Err(not_found("the pull request is not merged"));
    }
    let Some(merge_commit) = pr.merge_commit.as_deref().and_then(parse_full) else {
        return Err(not_found("the pull request has no merge commit"));
    };
    if pr.base != target_branch {
        return Err(Ignored::OtherBranch {
            branch: pr.base.clone(),
            target: target_branch.to_owned(),
        });
    }
    Ok(Trigger {
        project_key: merge.project_key,
        repository: merge.repository,
        branch: pr.base.clone(),
        before: None,
        after: merge_commit.clone(),
        revisions: vec![Revision {
            id: merge_commit,
            message: pr.summary.clone(),
            author: merge.actor.clone(),
        }],
        pr_number: Some(merge.number),
        actor: merge.actor,
        preview_into: None,
    })
}

/// Decides whether an open pull request is previewed, from the pull request as the REST API
/// has it. The head previewed is `pushed`, the commit a push just put on its branch (Backlog's
/// `branchCommit` may not have caught up yet); else the head Backlog names. Whether it is
/// still the head when the preview is published, the preview checks with git.
pub fn admit_preview(
    event: PullRequestEvent,
    pr: &PullRequest,
    target_branch: &str,
    pushed: Option<&str>,
) -> Result<Trigger, Ignored> {
    if !pr.is_open() {
        return Err(Ignored::PullRequestNotOpen(event.number));
    }
    if pr.base != target_branch {
        return Err(Ignored::PullRequestBase {
            number: event.number,
            base: pr.base.clone(),
            target: target_branch.to_owned(),
        });
    }
    let Some(head) = pushed.or(pr.branch_commit.as_deref()).and_then(parse_full) else {
        return Err(Ignored::HeadUnknown(event.number));
    };
    Ok(Trigger {
        project_key: event.project_key,
        repository: event.repository,
        branch: pr.branch.clone(),
        before: None,
        after: head,
        // A preview diffs from the merge base, not from pushed revisions.
        revisions: vec![],
        pr_number: Some(event.number),
        actor: event.actor,
        preview_into: Some(target_branch.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";
    const ZEROS: &str = "0000000000000000000000000000000000000000";

    fn push(git_ref: &str) -> Push {
        Push {
            project_key: "INFRA".into(),
            repository: "cfn-templates".into(),
            git_ref: git_ref.into(),
            before: Some(ZEROS.into()),
            after: Some(SHA.into()),
            deleted: false,
            revisions: vec![Revision {
                id: SHA.into(),
                message: "Add alarms stack".into(),
                author: None,
            }],
            pr_number: None,
            actor: None,
        }
    }

    #[test]
    fn a_push_to_the_target_branch_is_admitted_and_a_zero_before_means_unknown() {
        let trigger = admit(push("refs/heads/main"), "main").unwrap();
        assert_eq!(trigger.branch, "main");
        assert_eq!(trigger.after, SHA);
        assert_eq!(trigger.before, None);
        assert_eq!(
            trigger.delivery_key().as_str(),
            format!("INFRA/cfn-templates@{SHA}")
        );
    }

    #[test]
    fn each_filter_answers_with_its_reason() {
        let other = admit(push("refs/heads/feature/x"), "main").unwrap_err();
        assert_eq!(
            other.to_string(),
            "branch feature/x is not the target branch main"
        );

        let tag = admit(push("refs/tags/v1.0"), "main").unwrap_err();
        assert_eq!(tag, Ignored::TagRef("refs/tags/v1.0".into()));

        let pull = admit(push("refs/pull/3/head"), "main").unwrap_err();
        assert_eq!(pull, Ignored::NotABranch("refs/pull/3/head".into()));

        let mut deleted = push("refs/heads/main");
        deleted.after = Some(ZEROS.into());
        deleted.revisions.clear();
        assert_eq!(
            admit(deleted, "main").unwrap_err(),
            Ignored::BranchDeleted("main".into())
        );

        let mut deleted_by_flag = push("refs/heads/main");
        deleted_by_flag.deleted = true;
        assert_eq!(
            admit(deleted_by_flag, "main").unwrap_err(),
            Ignored::BranchDeleted("main".into())
        );

        let mut empty = push("refs/heads/main");
        empty.revisions.clear();
        assert_eq!(admit(empty, "main").unwrap_err(), Ignored::NoRevisions);
    }

    #[test]
    fn the_target_branch_is_a_setting() {
        assert!(admit(push("refs/heads/release"), "release").is_ok());
        assert!(admit(push("refs/heads/main"), "release").is_err());
    }

    fn merged(base: &str, status: u64, merge: Option<&str>) -> PullRequest {
        PullRequest {
            number: 57,
            summary: "Raise worker timeout".into(),
            base: base.into(),
            branch: "feature/timeout".into(),
            status: crate::model::backlog::IdRef { id: status },
            merge_commit: merge.map(str::to_owned),
            branch_commit: None,
        }
    }

    fn merge() -> PullRequestEvent {
        PullRequestEvent {
            project_key: "INFRA".into(),
            repository: "cfn-templates".into(),
            number: 57,
            actor: Some("Ken".into()),
        }
    }

    #[test]
    fn a_merge_into_the_target_branch_plans_its_merge_commit_under_the_push_key() {
        let upper = SHA.to_ascii_uppercase();
        let trigger = admit_merge(merge(), &merged("main", 3, Some(&upper)), "main").unwrap();
        assert_eq!(trigger.after, SHA);
        assert_eq!(trigger.pr_number, Some(57));
        assert_eq!(trigger.revisions.len(), 1);
        assert_eq!(trigger.revisions[0].id, SHA);
        // The same key as the push of that commit.
        let pushed = admit(push("refs/heads/main"), "main").unwrap();
        assert_eq!(trigger.delivery_key(), pushed.delivery_key());

        assert_eq!(
            admit_merge(merge(), &merged("develop", 3, Some(SHA)), "main"),
            Err(Ignored::OtherBranch {
                branch: "develop".into(),
                target: "main".into()
            })
        );
        for pr in [
            merged("main", 1, Some(SHA)),
            merged("main", 3, None),
            merged("main", 3, Some("abc")),
        ] {
            assert!(matches!(
                admit_merge(merge(), &pr, "main"),
                Err(Ignored::MergeNotFound { number: 57, .. })
            ));
        }
    }

    #[test]
    fn an_open_pull_request_into_the_target_is_previewed_at_its_head_under_its_own_key() {
        const HEAD: &str = "7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b";
        let open = |base: &str, head: Option<&str>| PullRequest {
            branch_commit: head.map(str::to_owned),
            ..merged(base, 1, None)
        };
        let trigger = admit_preview(merge(), &open("main", Some(HEAD)), "main", None).unwrap();
        assert_eq!(trigger.after, HEAD);
        assert_eq!(trigger.branch, "feature/timeout");
        assert_eq!(trigger.preview_into.as_deref(), Some("main"));
        assert_eq!(
            trigger.delivery_key().as_str(),
            format!("INFRA/cfn-templates#pr-57@{HEAD}")
        );
        // A push names its commit: Backlog's head may lag behind it.
        for named in [None, Some(HEAD)] {
            let pushed = admit_preview(merge(), &open("main", named), "main", Some(SHA)).unwrap();
            assert_eq!(pushed.after, SHA);
        }
        assert_eq!(
            admit_preview(merge(), &open("main", None), "main", None),
            Err(Ignored::HeadUnknown(57))
        );
        assert_eq!(
            admit_preview(merge(), &open("develop", Some(HEAD)), "main", None)
                .unwrap_err()
                .to_string(),
            "pull request #57 merges into develop, not the target branch main"
        );
        for status in [2, 3] {
            assert_eq!(
                admit_preview(merge(), &merged("main", status, Some(SHA)), "main", None),
                Err(Ignored::PullRequestNotOpen(57))
            );
        }
    }
}
