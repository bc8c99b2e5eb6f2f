//! Which stacks a push touches. Pure: the changed paths and the config in, the stacks out.
//!
//! - No `.cfn-chatops.yml`: each changed template under the templates path is a stack named
//!   after its file stem (the seed pipeline's convention).
//! - With it: each configured stack whose template, parameters file or `when_modified` globs
//!   the push touched, or whose entry in the config changed.

use std::collections::BTreeMap;

use super::changes::{ChangeKind, FileChange};
use super::config::{CONFIG_FILE, ConfigError, RepoConfig, StackSpec};
use super::names::valid_stack_name;
use super::template::{TemplateError, has_template_extension};
use super::verdict::guard_rules::GuardError;
use crate::model::report::LeftInPlace;

/// A stack to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub stack: String,
    pub template: String,
    pub renamed_from: Option<String>,
    /// The config entry; `None` in convention mode.
    pub spec: Option<StackSpec>,
}

/// Why a stack cannot be planned: its config entry, its template, or its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A Guard rule file the stack uses does not parse or cannot be evaluated.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Convention mode: the file name cannot be the stack's name.
    #[error("{path}: {message}")]
    Unnamable { path: String, message: String },
}

/// A stack that cannot be planned as configured: reported as failed, nothing created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub stack: String,
    pub template: String,
    pub region: Option<String>,
    pub error: TargetError,
}

/// A deleted file that backed a stack if it was a template: the planner checks its content at
/// the base commit before reporting the stack as left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaybeLeftInPlace {
    pub stack: String,
    pub template: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub targets: Vec<Target>,
    pub problems: Vec<Problem>,
    pub left_in_place: Vec<LeftInPlace>,
    pub maybe_left_in_place: Vec<MaybeLeftInPlace>,
    pub notes: Vec<String>,
}

const DELETED: &str = "template deleted: delete the stack deliberately";

/// Convention mode: templates under `templates_path` ("" for the whole repository).
pub fn by_convention(changes: &[FileChange], templates_path: &str) -> Selection {
    let prefix = templates_path.trim_matches('/');
    let in_scope = |path: &str| {
        has_template_extension(path)
            && path != CONFIG_FILE
            && (prefix.is_empty() || path.starts_with(&format!("{prefix}/")))
    };
    let mut selection = Selection::default();
    for change in changes {
        match &change.kind {
            ChangeKind::Deleted if in_scope(&change.path) => {
                selection.maybe_left_in_place.push(MaybeLeftInPlace {
                    stack: stem(&change.path).to_owned(),
                    template: change.path.clone(),
                    reason: DELETED.into(),
                });
            }
            ChangeKind::Added | ChangeKind::Modified | ChangeKind::Renamed { .. }
                if in_scope(&change.path) =>
            {
                let renamed_from = match &change.kind {
                    ChangeKind::Renamed { from } => Some(from.clone()),
                    _ => None,
                };
                if let Some(from) = &renamed_from
                    && stem(from) != stem(&change.path)
                    && in_scope(from)
                {
                    selection.maybe_left_in_place.push(MaybeLeftInPlace {
                        stack: stem(from).to_owned(),
                        template: from.clone(),
                        reason: format!(
                            "template renamed to {}: the old stack is not deleted",
                            change.path
                        ),
                    });
                }
                selection.targets.push(Target {
                    stack: stem(&change.path).to_owned(),
                    template: change.path.clone(),
                    renamed_from,
                    spec: None,
                });
            }
            _ => {}
        }
    }
    selection
}

/// Convention mode, once the candidates proved to be templates: a file name that cannot be a
/// stack name, or two templates claiming one stack, plans nothing for them. (Checked after the
/// content, so a changed `tsconfig.build.json` is simply not a template.)
pub fn refuse_unnamable<T>(
    candidates: Vec<T>,
    target: impl Fn(&T) -> &Target,
) -> (Vec<T>, Vec<Problem>) {
    let mut claims: BTreeMap<String, usize> = BTreeMap::new();
    for candidate in &candidates {
        *claims.entry(target(candidate).stack.clone()).or_default() += 1;
    }
    let (accepted, refused): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|candidate| {
        let stack = &target(candidate).stack;
        valid_stack_name(stack) && claims[stack] == 1
    });
    let problems = refused
        .iter()
        .map(|candidate| {
            let target = target(candidate);
            let message = if valid_stack_name(&target.stack) {
                format!(
                    "more than one changed template maps to stack {}; name them in {CONFIG_FILE}",
                    target.stack
                )
            } else {
                format!(
                    "file name does not make a valid stack name (a letter, then letters, digits and -); name the stack in {CONFIG_FILE}"
                )
            };
            Problem {
                error: TargetError::Unnamable {
                    path: target.template.clone(),
                    message,
                },
                stack: target.stack.clone(),
                template: target.template.clone(),
                region: None,
            }
        })
        .collect();
    (accepted, problems)
}

/// Config mode. `before` is the config at the base commit, when there was a valid one.
pub fn by_config(
    changes: &[FileChange],
    config: &RepoConfig,
    config_text: &str,
    before: Option<&RepoConfig>,
) -> Selection {
    let touched = |spec: &StackSpec| {
        changes.iter().any(|change| {
            spec.is_touched_by(&change.path)
                || matches!(&change.kind, ChangeKind::Renamed { from } if spec.is_touched_by(from))
        })
    };
    // A stack is its name in its region: the same name may be configured in two regions.
    let same_stack = |a: &StackSpec, b: &StackSpec| a.name == b.name && a.region == b.region;
    let previous =
        |spec: &StackSpec| before.and_then(|b| b.stacks.iter().find(|old| same_stack(old, spec)));
    let mut selection = Selection::default();
    let mut seen: Vec<(&str, Option<&str>)> = Vec::new();
    for spec in &config.stacks {
        let key = (spec.name.as_str(), spec.region.as_deref());
        let duplicate = seen.contains(&key);
        seen.push(key);
        if !(touched(spec) || previous(spec) != Some(spec)) {
            continue;
        }
        let validation = if duplicate {
            Err(ConfigError::Config {
                line: None,
                message: format!("stack {} is configured twice for one region", spec.name),
            })
        } else {
            spec.validate(config_text)
        };
        match validation {
            Ok(()) => selection.targets.push(Target {
                stack: spec.name.clone(),
                template: spec.template.clone(),
                renamed_from: changes.iter().find_map(|change| match &change.kind {
                    ChangeKind::Renamed { from } if change.path == spec.template => {
                        Some(from.clone())
                    }
                    _ => None,
                }),
                spec: Some(spec.clone()),
            }),
            Err(error) => selection.problems.push(Problem {
                stack: spec.name.clone(),
                template: spec.template.clone(),
                region: spec.region.clone(),
                error: error.into(),
            }),
        }
    }
    for gone in before
        .into_iter()
        .flat_map(|before| &before.stacks)
        .filter(|old| !config.stacks.iter().any(|new| same_stack(new, old)))
    {
        selection.left_in_place.push(LeftInPlace {
            stack: gone.name.clone(),
            template: gone.template.clone(),
            reason: format!("removed from {CONFIG_FILE}: delete the stack deliberately"),
        });
    }
    for change in changes {
        let unused = has_template_extension(&change.path)
            && change.path != CONFIG_FILE
            && change.kind != ChangeKind::Deleted
            && !config
                .stacks
                .iter()
                .any(|spec| spec.is_touched_by(&change.path));
        if unused {
            selection.notes.push(format!(
                "{} changed, but no stack in {CONFIG_FILE} uses it as its template",
                change.path
            ));
        }
    }
    selection
}

/// `stacks/app.yaml` → `app`.
fn stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').map_or(file, |(stem, _)| stem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::parse;

    fn change(path: &str, kind: ChangeKind) -> FileChange {
        FileChange {
            path: path.into(),
            kind,
        }
    }

    fn stacks(selection: &Selection) -> Vec<&str> {
        selection.targets.iter().map(|t| t.stack.as_str()).collect()
    }

    #[test]
    fn convention_maps_changed_templates_to_stacks_named_after_the_file() {
        let changes = [
            change("stacks/app.yaml", ChangeKind::Modified),
            change("stacks/alarms.yml", ChangeKind::Added),
            change("README.md", ChangeKind::Modified),
            change("stacks/old.json", ChangeKind::Deleted),
            change(
                "stacks/queue-v2.template",
                ChangeKind::Renamed {
                    from: "stacks/queue.template".into(),
                },
            ),
        ];
        let selection = by_convention(&changes, "");
        assert_eq!(stacks(&selection), ["app", "alarms", "queue-v2"]);
        assert_eq!(
            selection.targets[2].renamed_from.as_deref(),
            Some("stacks/queue.template")
        );
        let left: Vec<_> = selection
            .maybe_left_in_place
            .iter()
            .map(|l| (l.stack.as_str(), l.reason.as_str()))
            .collect();
        assert_eq!(
            left,
            [
                ("old", DELETED),
                (
                    "queue",
                    "template renamed to stacks/queue-v2.template: the old stack is not deleted"
                )
            ]
        );
    }

    #[test]
    fn the_templates_path_limits_the_convention() {
        let changes = [
            change("stacks/app.yaml", ChangeKind::Modified),
            change("ci/buildspec.yml", ChangeKind::Modified),
            change("stacksx/other.yaml", ChangeKind::Modified),
        ];
        assert_eq!(stacks(&by_convention(&changes, "stacks")), ["app"]);
        assert_eq!(stacks(&by_convention(&changes, "stacks/")), ["app"]);
    }

    #[test]
    fn invalid_and_clashing_names_are_problems_not_plans() {
        let changes = [
            change("stacks/my_app.yaml", ChangeKind::Modified),
            change("a/dup.yaml", ChangeKind::Modified),
            change("b/dup.yaml", ChangeKind::Added),
            change("ok.yaml", ChangeKind::Added),
        ];
        let selection = by_convention(&changes, "");
        let (accepted, problems) = refuse_unnamable(selection.targets, |target| target);
        let accepted: Vec<_> = accepted.iter().map(|t| t.stack.as_str()).collect();
        assert_eq!(accepted, ["ok"]);
        let problems: Vec<_> = problems.iter().map(|p| p.error.to_string()).collect();
        assert!(
            problems[0]
                .starts_with("stacks/my_app.yaml: file name does not make a valid stack name")
        );
        assert!(
            problems[1].starts_with("a/dup.yaml: more than one changed template maps to stack dup")
        );
        assert_eq!(problems.len(), 3);
    }

    const CONFIG: &str = "stacks:\n  - name: app-staging\n    template: stacks/app.yaml\n    parameters_file: params/staging.json\n  - name: app-prod\n    template: stacks/app.yaml\n    parameters_file: params/prod.json\n    when_modified: [\"lambda/**\"]\n";

    #[test]
    fn config_plans_each_stack_its_changes_touch() {
        let config = parse(CONFIG).unwrap();
        let plan = |changes: &[FileChange]| by_config(changes, &config, CONFIG, Some(&config));
        let template = [change("stacks/app.yaml", ChangeKind::Modified)];
        assert_eq!(stacks(&plan(&template)), ["app-staging", "app-prod"]);
        let staging = [change("params/staging.json", ChangeKind::Modified)];
        assert_eq!(stacks(&plan(&staging)), ["app-staging"]);
        let code = [change("lambda/worker/main.py", ChangeKind::Added)];
        assert_eq!(stacks(&plan(&code)), ["app-prod"]);
        let unrelated = [change("docs/x.md", ChangeKind::Modified)];
        assert!(plan(&unrelated).targets.is_empty());
        let stray = [change("stacks/other.yaml", ChangeKind::Added)];
        assert_eq!(
            plan(&stray).notes,
            ["stacks/other.yaml changed, but no stack in .cfn-chatops.yml uses it as its template"]
        );
    }

    #[test]
    fn config_changes_plan_changed_entries_and_report_removed_ones() {
        let before = parse(CONFIG).unwrap();
        let text = CONFIG.replace("params/prod.json", "params/prod-v2.json");
        let text = text.replace("  - name: app-staging\n    template: stacks/app.yaml\n    parameters_file: params/staging.json\n", "");
        let after = parse(&text).unwrap();
        let changes = [change(CONFIG_FILE, ChangeKind::Modified)];
        let selection = by_config(&changes, &after, &text, Some(&before));
        assert_eq!(stacks(&selection), ["app-prod"]);
        assert_eq!(selection.left_in_place.len(), 1);
        assert_eq!(selection.left_in_place[0].stack, "app-staging");
        // The same name in two regions is two stacks.
        let regions = "stacks:\n  - name: app\n    template: a.yaml\n  - name: app\n    template: a.yaml\n    region: eu-west-1\n";
        let config = parse(regions).unwrap();
        let unrelated = [change("docs/x.md", ChangeKind::Modified)];
        assert!(
            by_config(&unrelated, &config, regions, Some(&config))
                .targets
                .is_empty()
        );
        let moved = parse(&regions.replace("eu-west-1", "eu-central-1")).unwrap();
        let selection = by_config(&unrelated, &moved, regions, Some(&config));
        assert_eq!(stacks(&selection), ["app"]);
        assert_eq!(selection.left_in_place.len(), 1, "left in its old region");
        // A first config plans every stack it names.
        assert_eq!(
            stacks(&by_config(&changes, &before, CONFIG, None)),
            ["app-staging", "app-prod"]
        );
    }

    #[test]
    fn an_invalid_entry_is_a_problem_for_that_stack_only() {
        let text = format!("{CONFIG}  - name: bad_name\n    template: stacks/app.yaml\n");
        let config = parse(&text).unwrap();
        let changes = [change("stacks/app.yaml", ChangeKind::Modified)];
        let selection = by_config(&changes, &config, &text, None);
        assert_eq!(stacks(&selection), ["app-staging", "app-prod"]);
        assert_eq!(selection.problems.len(), 1);
        assert!(matches!(
            &selection.problems[0].error,
            TargetError::Config(ConfigError::Config { line: Some(9), .. })
        ));
    }
}
