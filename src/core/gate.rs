//! What a stack's state and the change sets already on it mean for planning a commit. Pure:
//! the planner reads the stack and lists its change sets, these functions decide.

use crate::core::names::preview_pr_of;

/// The state of the stack decides what can be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Create,
    Update,
    Busy(String),
    Blocked(String),
}

/// Pure: from DescribeStacks' status (`None`: no such stack) to what to do.
pub fn gate(status: Option<&str>) -> Gate {
    match status {
        None | Some("REVIEW_IN_PROGRESS") | Some("DELETE_COMPLETE") => Gate::Create,
        Some(status) if status.ends_with("_IN_PROGRESS") => Gate::Busy(format!(
            "stack is {status}: nothing planned; push again (or re-run the plan) when it settles"
        )),
        Some("ROLLBACK_COMPLETE") => Gate::Blocked(
            "stack is ROLLBACK_COMPLETE (its creation failed): delete the stack, then plan again"
                .into(),
        ),
        Some("UPDATE_ROLLBACK_FAILED") => Gate::Blocked(
            "stack is UPDATE_ROLLBACK_FAILED: run continue-update-rollback, then plan again".into(),
        ),
        Some(
            status @ ("ROLLBACK_FAILED"
            | "DELETE_FAILED"
            | "CREATE_FAILED"
            | "UPDATE_FAILED"
            | "IMPORT_ROLLBACK_FAILED"),
        ) => Gate::Blocked(format!(
            "stack is {status} and cannot be updated: repair it in the console, then plan again"
        )),
        Some(_) => Gate::Update,
    }
}

/// How another commit relates to the one being planned (from git).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// An ancestor: its change set is superseded by this plan.
    Older,
    /// A descendant: this plan is the stale one.
    Newer,
    /// Neither, or unknown to this clone: left alone.
    Unrelated,
}

/// A change set of ours found on the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub name: String,
    pub arn: Option<String>,
    pub execution_status: Option<String>,
    /// When it was created, in seconds since the epoch.
    pub created_at: Option<i64>,
}

impl Existing {
    /// Could still be executed by a button.
    pub fn is_pending(&self) -> bool {
        !matches!(
            self.execution_status.as_deref(),
            Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE" | "EXECUTE_FAILED" | "OBSOLETE")
        )
    }

    pub fn is_executed(&self) -> bool {
        matches!(
            self.execution_status.as_deref(),
            Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE")
        )
    }

    /// How DeleteChangeSet names it.
    pub fn handle(&self) -> &str {
        self.arn.as_deref().unwrap_or(&self.name)
    }
}

/// The preview change sets a new preview named `name` deletes first: one of the same name (a
/// crashed run of this very head: no other run previews it, deliveries are de-duplicated), and
/// any other preview's older than `in_use_for` seconds (longer than a preview can hold one) —
/// a younger one may still be read by a concurrent run (another head of the pull request, or
/// another pull request).
pub fn preview_leftovers<'a>(
    existing: &'a [Existing],
    name: &str,
    now: i64,
    in_use_for: i64,
) -> Vec<&'a Existing> {
    existing
        .iter()
        .filter(|found| preview_pr_of(&found.name).is_some())
        .filter(|found| {
            found.name == name
                || found
                    .created_at
                    .is_some_and(|created| now - created > in_use_for)
        })
        .collect()
}

/// What the change sets already on a stack mean for planning `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackSurvey {
    /// A newer commit has a change set here (pending or executed): planning this one would put
    /// old code behind a button (a late, replayed or slower webhook).
    Stale { newer: String },
    /// This commit's change set was already executed: nothing left to plan.
    Executed { name: String },
    /// Plan; `reuse` is this commit's change set if it exists, `older` are the pending change
    /// sets of ancestors, superseded once this one exists.
    Proceed {
        reuse: Option<Existing>,
        older: Vec<Existing>,
    },
}

/// Pure: `relations[i]` places `existing[i]`'s commit relative to the planned one.
pub fn survey(name: &str, existing: &[Existing], relations: &[Relation]) -> StackSurvey {
    let pairs = || existing.iter().zip(relations);
    if let Some((newer, _)) =
        pairs().find(|(other, relation)| other.name != name && **relation == Relation::Newer)
    {
        return StackSurvey::Stale {
            newer: newer.name.clone(),
        };
    }
    let reuse = existing.iter().find(|other| other.name == name).cloned();
    if let Some(executed) = reuse.as_ref().filter(|found| found.is_executed()) {
        return StackSurvey::Executed {
            name: executed.name.clone(),
        };
    }
    StackSurvey::Proceed {
        reuse,
        older: pairs()
            .filter(|(other, relation)| **relation == Relation::Older && other.is_pending())
            .map(|(other, _)| other.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::names::change_set_name;

    fn existing(commit: &str, execution_status: &str) -> Existing {
        Existing {
            name: change_set_name(commit),
            arn: Some(format!(
                "arn:aws:cloudformation:us-east-1:123456789012:changeSet/{commit}/x"
            )),
            execution_status: Some(execution_status.into()),
            created_at: None,
        }
    }

    const PLANNED: &str = "cccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn a_preview_deletes_its_own_leftover_and_old_ones_never_one_in_use() {
        let preview = |pr, commit: &str, created_at| Existing {
            name: crate::core::names::preview_change_set_name(pr, commit),
            arn: None,
            execution_status: Some("AVAILABLE".into()),
            created_at,
        };
        let now = 1_000_000;
        let name = crate::core::names::preview_change_set_name(57, PLANNED);
        let older_head = "dddddddddddddddddddddddddddddddddddddddd";
        let existing = [
            preview(57, PLANNED, Some(now - 5)),
            preview(57, older_head, Some(now - 5)),
            preview(58, PLANNED, Some(now - 5)),
            preview(59, PLANNED, Some(now - 1_501)),
            preview(60, PLANNED, None),
            Existing {
                created_at: Some(0),
                ..existing(PLANNED, "AVAILABLE")
            },
        ];
        let deleted: Vec<&str> = preview_leftovers(&existing, &name, now, 1_500)
            .iter()
            .map(|found| found.name.as_str())
            .collect();
        assert_eq!(
            deleted,
            [name.as_str(), existing[3].name.as_str()],
            "its own name, and an old one of another; never a young one, a merge plan's or one of unknown age"
        );
    }

    #[test]
    fn older_pending_change_sets_are_superseded_and_this_commits_is_reused() {
        let on_stack = [
            existing("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "AVAILABLE"),
            existing(
                "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "EXECUTE_COMPLETE",
            ),
            existing(PLANNED, "AVAILABLE"),
            existing("dddddddddddddddddddddddddddddddddddddddd", "AVAILABLE"),
        ];
        let relations = [
            Relation::Older,
            Relation::Older,
            Relation::Unrelated,
            Relation::Unrelated,
        ];
        let StackSurvey::Proceed { reuse, older } =
            survey(&change_set_name(PLANNED), &on_stack, &relations)
        else {
            panic!("proceeds")
        };
        assert_eq!(reuse, Some(on_stack[2].clone()));
        assert_eq!(
            older,
            [on_stack[0].clone()],
            "executed and unrelated ones are left alone"
        );
    }

    #[test]
    fn a_newer_change_set_makes_this_plan_stale_whatever_its_state() {
        for status in ["AVAILABLE", "EXECUTE_COMPLETE"] {
            let on_stack = [existing("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", status)];
            assert_eq!(
                survey(&change_set_name(PLANNED), &on_stack, &[Relation::Newer]),
                StackSurvey::Stale {
                    newer: on_stack[0].name.clone()
                }
            );
        }
    }

    #[test]
    fn an_executed_change_set_of_this_commit_ends_the_plan() {
        let on_stack = [existing(PLANNED, "EXECUTE_COMPLETE")];
        assert_eq!(
            survey(&change_set_name(PLANNED), &on_stack, &[Relation::Unrelated]),
            StackSurvey::Executed {
                name: change_set_name(PLANNED)
            }
        );
    }

    #[test]
    fn the_stack_state_gates_what_is_planned() {
        assert_eq!(gate(None), Gate::Create);
        assert_eq!(gate(Some("REVIEW_IN_PROGRESS")), Gate::Create);
        for status in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "IMPORT_COMPLETE",
        ] {
            assert_eq!(gate(Some(status)), Gate::Update, "{status}");
        }
        for status in [
            "UPDATE_IN_PROGRESS",
            "CREATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "DELETE_IN_PROGRESS",
        ] {
            assert!(matches!(gate(Some(status)), Gate::Busy(_)), "{status}");
        }
        for status in [
            "ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_FAILED",
            "ROLLBACK_FAILED",
            "DELETE_FAILED",
        ] {
            assert!(matches!(gate(Some(status)), Gate::Blocked(_)), "{status}");
        }
        let Gate::Blocked(reason) = gate(Some("UPDATE_ROLLBACK_FAILED")) else {
            unreachable!()
        };
        assert!(reason.contains("continue-update-rollback"));
    }
}
