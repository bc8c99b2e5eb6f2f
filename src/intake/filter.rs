//! Which pushes are planned. Every refusal is a 200 with its reason, so Backlog does not retry.

use super::trigger::{Ignored, Push, Trigger};

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
    })
}

/// Git's all-zeros id: the "after" of a deleted ref and the "before" of a new one.
fn is_zero_commit(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::trigger::Revision;

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
}
