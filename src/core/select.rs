//! Which stacks a push touches. Pure: the changed paths and the config in, the stacks out.
//!
//! - Discovery (on unless `.cfn-chatops.yml` says `discovery: {enabled: false}`): each changed
//!   template under the templates path, not excluded and not claimed by a `stacks` entry, is a
//!   stack named after its path ([`derived_stack_name`]).
//! - `stacks` entries: each whose template, parameters file or `when_modified` globs the push
//!   touched, or whose entry in the config changed. An entry owns its template: discovery
//!   leaves it alone, so an entry overrides a discovered stack's name, parameters and the rest.

use std::collections::BTreeMap;

use super::changes::{ChangeKind, FileChange};
use super::config::{CONFIG_FILE, ConfigError, GLOB_OPTIONS, RepoConfig, StackSpec};
use super::names::{derived_stack_name, valid_stack_name};
use super::template::{TemplateError, has_template_extension};
use super::verdict::guard_rules::GuardError;
use crate::model::report::LeftInPlace;

/// A stack to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub stack: String,
    pub template: String,
    pub renamed_from: Option<String>,
    /// The config entry; `None` for a discovered template.
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
    /// A discovered template whose path gives no stack name, or the name of another's.
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
    /// Changed files that no stack uses, when discovery is off: noted if they are templates.
    pub unused: Vec<String>,
}

const DELETED: &str = "template deleted: delete the stack deliberately";

/// Where discovery looks: under the templates path, not excluded by the config, not the
/// config itself.
#[derive(Debug, Clone)]
pub struct Discovery {
    prefix: String,
    /// Where discovered stacks live: the default region.
    region: String,
    exclude: Vec<glob::Pattern>,
    enabled: bool,
}

impl Discovery {
    /// `templates_path` is "" for the whole repository.
    pub fn new(templates_path: &str, region: &str, config: Option<&RepoConfig>) -> Self {
        let settings = config.map(|config| &config.discovery);
        Self {
            prefix: templates_path.trim_matches('/').to_owned(),
            region: region.to_owned(),
            exclude: settings
                .into_iter()
                .flat_map(|settings| &settings.exclude)
                .filter_map(|glob| glob::Pattern::new(glob).ok())
                .collect(),
            enabled: settings.is_none_or(|settings| settings.enabled),
        }
    }

    /// The same templates path, with another config's settings (the base commit's).
    pub fn with_config(&self, config: Option<&RepoConfig>) -> Self {
        Self::new(&self.prefix, &self.region, config)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A path discovery would plan if it is a template.
    pub fn covers(&self, path: &str) -> bool {
        self.enabled
            && may_be_template(path)
            && (self.prefix.is_empty() || path.starts_with(&format!("{}/", self.prefix)))
            && !self
                .exclude
                .iter()
                .any(|pattern| pattern.matches_with(path, GLOB_OPTIONS))
    }
}

/// A file named like a template that is not the config: what is read to see if it is one.
fn may_be_template(path: &str) -> bool {
    has_template_extension(path) && path != CONFIG_FILE
}

/// The repository's config, at the planned commit and (when it had a valid one) the base.
#[derive(Debug, Clone, Copy)]
pub struct Configured<'a> {
    pub config: &'a RepoConfig,
    pub text: &'a str,
    pub before: Option<&'a RepoConfig>,
}

/// The stacks a push touches. `files` are the planned commit's.
pub fn select(
    changes: &[FileChange],
    files: &[String],
    discovery: &Discovery,
    configured: Option<Configured<'_>>,
) -> Selection {
    let mut selection = Selection::default();
    let specs: &[StackSpec] = configured.map_or(&[], |c| &c.config.stacks);
    if let Some(configured) = configured {
        by_config(changes, files, discovery, configured, &mut selection);
    }
    // An entry's template and parameters file are its own: never discovered as well.
    let owned = |path: &str| configured.is_some_and(|c| c.config.owns(path));
    let discovered = |path: &str| discovery.covers(path) && !owned(path);
    for change in changes {
        match &change.kind {
            ChangeKind::Deleted if discovered(&change.path) => {
                if let Some(stack) = derived_stack_name(&change.path) {
                    selection.maybe_left_in_place.push(MaybeLeftInPlace {
                        stack,
                        template: change.path.clone(),
                        reason: DELETED.into(),
                    });
                }
            }
            // A template renamed away from an entry stays the entry's: the entry fails until
            // it names the new path, rather than the file becoming a new stack.
            ChangeKind::Renamed { from } if discovered(&change.path) && owned(from) => {}
            ChangeKind::Added | ChangeKind::Modified | ChangeKind::Renamed { .. }
                if discovered(&change.path) =>
            {
                let renamed_from = match &change.kind {
                    ChangeKind::Renamed { from } => Some(from.clone()),
                    _ => None,
                };
                let stack = derived_stack_name(&change.path).unwrap_or_default();
                if let Some(from) = &renamed_from
                    && discovered(from)
                    && let Some(old) = derived_stack_name(from)
                    && old != stack
                {
                    selection.maybe_left_in_place.push(MaybeLeftInPlace {
                        stack: old,
                        template: from.clone(),
                        reason: format!(
                            "template renamed to {}: the old stack is not deleted",
                            change.path
                        ),
                    });
                }
                selection.targets.push(Target {
                    stack,
                    template: change.path.clone(),
                    renamed_from,
                    spec: None,
                });
            }
            ChangeKind::Added | ChangeKind::Modified | ChangeKind::Renamed { .. }
                if configured.is_some()
                    && !discovery.enabled()
                    && may_be_template(&change.path)
                    && !specs.iter().any(|spec| spec.is_touched_by(&change.path)) =>
            {
                selection.unused.push(change.path.clone());
            }
            _ => {}
        }
    }
    selection
}

/// The `stacks` entries a push touches or whose template is missing (they fail until fixed),
/// and the ones it removed.
fn by_config(
    changes: &[FileChange],
    files: &[String],
    discovery: &Discovery,
    Configured {
        config,
        text,
        before,
    }: Configured<'_>,
    selection: &mut Selection,
) {
    let touched = |spec: &StackSpec| {
        changes.iter().any(|change| {
            spec.is_touched_by(&change.path)
                || matches!(&change.kind, ChangeKind::Renamed { from } if spec.is_touched_by(from))
        })
    };
    // A stack is its name in its region: the same name may be configured in two regions.
    let same_stack =
        |a: &StackSpec, b: &StackSpec| a.stack_name() == b.stack_name() && a.region == b.region;
    let previous =
        |spec: &StackSpec| before.and_then(|b| b.stacks.iter().find(|old| same_stack(old, spec)));
    let mut seen: Vec<(String, Option<&str>)> = Vec::new();
    for spec in &config.stacks {
        let name = spec.stack_name().unwrap_or_default();
        let key = (name.clone(), spec.region.as_deref());
        let duplicate = seen.contains(&key);
        seen.push(key);
        let missing = !files.contains(&spec.template);
        if !(touched(spec) || previous(spec) != Some(spec) || missing) {
            continue;
        }
        let validation = if duplicate {
            Err(ConfigError::Config {
                line: None,
                message: format!("stack {name} is configured twice for one region"),
            })
        } else {
            spec.validate(text)
        };
        match validation {
            Ok(()) => selection.targets.push(Target {
                stack: name,
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
                stack: name,
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
        let Some(name) = gone.stack_name() else {
            continue;
        };
        // Its template, still there and unclaimed, is now discovered under the same name:
        // the stack is planned without the entry's settings rather than left behind.
        let rediscovered = gone.region_or(&discovery.region) == discovery.region
            && files.contains(&gone.template)
            && discovery.covers(&gone.template)
            && !config.owns(&gone.template)
            && derived_stack_name(&gone.template).as_deref() == Some(name.as_str());
        if rediscovered {
            if !changes.iter().any(|change| change.path == gone.template) {
                selection.targets.push(Target {
                    stack: name,
                    template: gone.template.clone(),
                    renamed_from: None,
                    spec: None,
                });
            }
            continue;
        }
        selection.left_in_place.push(LeftInPlace {
            stack: name,
            template: gone.template.clone(),
            reason: format!("removed from {CONFIG_FILE}: delete the stack deliberately"),
        });
    }
}

/// Templates discovery planned at the base commit under a name it no longer plans them as,
/// because the config changed: a new entry names the stack otherwise, or discovery now
/// excludes the file or is off. Their old stacks are left in place, and said (if the files
/// were templates: the planner reads them at the base commit).
/// `planned` are the stacks this push plans (never said to be left).
pub fn no_longer_discovered(
    base_files: &[String],
    planned: &[&str],
    discovery: &Discovery,
    configured: Configured<'_>,
) -> Vec<MaybeLeftInPlace> {
    let before = discovery.with_config(configured.before);
    let discovered_before: Vec<(&String, String)> = base_files
        .iter()
        .filter(|path| before.covers(path))
        .filter(|path| configured.before.is_none_or(|config| !config.owns(path)))
        .filter_map(|path| Some((path, derived_stack_name(path)?)))
        .collect();
    let mut left = Vec::new();
    for (path, old) in &discovered_before {
        // A name two files made was refused, never planned; one planned now is not left.
        let shared = discovered_before
            .iter()
            .filter(|(_, name)| name == old)
            .count()
            > 1;
        if shared || planned.contains(&old.as_str()) {
            continue;
        }
        let old = old.clone();
        let now: Vec<&StackSpec> = configured
            .config
            .stacks
            .iter()
            .filter(|spec| spec.template == **path)
            .collect();
        let reason = if !now.is_empty() {
            let names: Vec<String> = now
                .iter()
                .filter(|spec| spec.region_or(&discovery.region) == discovery.region)
                .filter_map(|spec| spec.stack_name())
                .collect();
            if names.contains(&old) {
                continue;
            }
            format!(
                "now planned as {} by its {CONFIG_FILE} entry: delete stack {old} deliberately if it exists",
                if names.is_empty() {
                    "another region's stack".to_owned()
                } else {
                    names.join(", ")
                }
            )
        } else if !discovery.enabled() {
            format!("discovery is off in {CONFIG_FILE}: delete the stack deliberately if it exists")
        } else if !discovery.covers(path) {
            format!(
                "excluded from discovery in {CONFIG_FILE}: delete the stack deliberately if it exists"
            )
        } else {
            continue;
        };
        left.push(MaybeLeftInPlace {
            stack: old,
            template: (*path).clone(),
            reason,
        });
    }
    left
}

/// A stack name already taken, and by what: a `stacks` entry, or another template that
/// discovery names alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub stack: String,
    pub by: String,
}

/// Discovered templates, once the candidates proved to be templates: a path that gives no
/// stack name, or a name another template or a `stacks` entry has, plans nothing for it (an
/// error naming both, never a guess: a name must not change when another file appears).
/// Checked after the content, so a changed `tsconfig.build.json` is simply not a template.
pub fn refuse_unnamable<T>(
    candidates: Vec<T>,
    target: impl Fn(&T) -> &Target,
    claims: &[Claim],
) -> (Vec<T>, Vec<Problem>) {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for candidate in &candidates {
        let target = target(candidate);
        by_name
            .entry(target.stack.clone())
            .or_default()
            .push(target.template.clone());
    }
    let mut accepted = Vec::new();
    let mut problems = Vec::new();
    for candidate in candidates {
        let found = target(&candidate);
        let others: Vec<String> = by_name[&found.stack]
            .iter()
            .filter(|path| **path != found.template)
            .cloned()
            .chain(
                claims
                    .iter()
                    .filter(|claim| claim.stack == found.stack && claim.by != found.template)
                    .map(|claim| claim.by.clone()),
            )
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let message = if !valid_stack_name(&found.stack) {
            format!(
                "the file name gives no stack name (a letter, then letters, digits and -); name it in {CONFIG_FILE}: `stacks: [{{template: {}, name: <stack>}}]`",
                found.template
            )
        } else if !others.is_empty() {
            format!(
                "{} also {} stack {}; name one in {CONFIG_FILE} (`stacks: [{{template: {}, name: <stack>}}]`) or exclude one (`discovery: {{exclude: [<glob>]}}`)",
                others.join(" and "),
                if others.len() == 1 { "makes" } else { "make" },
                found.stack,
                found.template
            )
        } else {
            accepted.push(candidate);
            continue;
        };
        problems.push(Problem {
            error: TargetError::Unnamable {
                path: found.template.clone(),
                message,
            },
            stack: found.stack.clone(),
            template: found.template.clone(),
            region: None,
        });
    }
    (accepted, problems)
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

    fn discovered(changes: &[FileChange], templates_path: &str) -> Selection {
        select(
            changes,
            &[],
            &Discovery::new(templates_path, "us-east-1", None),
            None,
        )
    }

    fn by_config(
        changes: &[FileChange],
        config: &RepoConfig,
        text: &str,
        before: Option<&RepoConfig>,
    ) -> Selection {
        let configured = Configured {
            config,
            text,
            before,
        };
        // Every entry's template, before and after, is there.
        let files: Vec<String> = config
            .stacks
            .iter()
            .chain(before.iter().flat_map(|before| &before.stacks))
            .map(|s| s.template.clone())
            .collect();
        select(
            changes,
            &files,
            &Discovery::new("", "us-east-1", Some(config)),
            Some(configured),
        )
    }

    #[test]
    fn discovery_maps_changed_templates_to_stacks_named_after_their_path() {
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
            change("infra/DynamoDB_Table.yaml", ChangeKind::Added),
            change("apps/orders/template.yaml", ChangeKind::Added),
        ];
        let selection = discovered(&changes, "");
        assert_eq!(
            stacks(&selection),
            ["app", "alarms", "queue-v2", "DynamoDB-Table", "orders"]
        );
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
        assert!(selection.unused.is_empty());
    }

    #[test]
    fn the_templates_path_limits_discovery() {
        let changes = [
            change("stacks/app.yaml", ChangeKind::Modified),
            change("ci/buildspec.yml", ChangeKind::Modified),
            change("stacksx/other.yaml", ChangeKind::Modified),
        ];
        assert_eq!(stacks(&discovered(&changes, "stacks")), ["app"]);
        assert_eq!(stacks(&discovered(&changes, "stacks/")), ["app"]);
    }

    #[test]
    fn unnamable_and_clashing_names_are_problems_naming_both_files() {
        let changes = [
            change("stacks/___.yaml", ChangeKind::Modified),
            change("a/dup.yaml", ChangeKind::Modified),
            change("b/dup/template.yaml", ChangeKind::Added),
            change("ok.yaml", ChangeKind::Added),
            change("apps/taken.yaml", ChangeKind::Added),
            change("apps/clash.yml", ChangeKind::Added),
        ];
        let selection = discovered(&changes, "");
        let claims = [
            Claim {
                stack: "taken".into(),
                by: "the .cfn-chatops.yml entry for stacks/taken.yaml".into(),
            },
            Claim {
                stack: "clash".into(),
                by: "other/clash.json".into(),
            },
        ];
        let (accepted, problems) = refuse_unnamable(selection.targets, |target| target, &claims);
        let accepted: Vec<_> = accepted.iter().map(|t| t.stack.as_str()).collect();
        assert_eq!(accepted, ["ok"]);
        let problems: Vec<_> = problems.iter().map(|p| p.error.to_string()).collect();
        assert_eq!(
            problems[0],
            "stacks/___.yaml: the file name gives no stack name (a letter, then letters, digits and -); name it in .cfn-chatops.yml: `stacks: [{template: stacks/___.yaml, name: <stack>}]`"
        );
        assert_eq!(
            problems[1],
            "a/dup.yaml: b/dup/template.yaml also makes stack dup; name one in .cfn-chatops.yml (`stacks: [{template: a/dup.yaml, name: <stack>}]`) or exclude one (`discovery: {exclude: [<glob>]}`)"
        );
        assert!(problems[2].starts_with("b/dup/template.yaml: a/dup.yaml also makes stack dup"));
        assert!(problems[3].starts_with(
            "apps/taken.yaml: the .cfn-chatops.yml entry for stacks/taken.yaml also makes stack taken"
        ));
        assert!(problems[4].starts_with("apps/clash.yml: other/clash.json also makes stack clash"));
        assert_eq!(problems.len(), 5);

        // A claim naming a candidate is said once; several others are all named.
        let trio = [
            change("x/app.yaml", ChangeKind::Modified),
            change("y/app.yaml", ChangeKind::Modified),
        ];
        let claims = [
            Claim {
                stack: "app".into(),
                by: "y/app.yaml".into(),
            },
            Claim {
                stack: "app".into(),
                by: "z/app/template.yaml".into(),
            },
        ];
        let (_, problems) = refuse_unnamable(discovered(&trio, "").targets, |t| t, &claims);
        assert!(
            problems[0]
                .error
                .to_string()
                .starts_with("x/app.yaml: y/app.yaml and z/app/template.yaml also make stack app;"),
            "{}",
            problems[0].error
        );
    }

    const CONFIG: &str = "stacks:\n  - name: app-staging\n    template: stacks/app.yaml\n    parameters_file: params/staging.json\n  - name: app-prod\n    template: stacks/app.yaml\n    parameters_file: params/prod.json\n    when_modified: [\"lambda/**\"]\n";

    #[test]
    fn entries_plan_what_their_changes_touch_and_discovery_plans_the_rest() {
        let config = parse(CONFIG).unwrap();
        let plan = |changes: &[FileChange]| by_config(changes, &config, CONFIG, Some(&config));
        let template = [change("stacks/app.yaml", ChangeKind::Modified)];
        assert_eq!(
            stacks(&plan(&template)),
            ["app-staging", "app-prod"],
            "the entries own their template: discovery does not plan `app` too"
        );
        let staging = [change("params/staging.json", ChangeKind::Modified)];
        assert_eq!(stacks(&plan(&staging)), ["app-staging"]);
        let code = [change("lambda/worker/main.py", ChangeKind::Added)];
        assert_eq!(stacks(&plan(&code)), ["app-prod"]);
        let unrelated = [change("docs/x.md", ChangeKind::Modified)];
        assert!(plan(&unrelated).targets.is_empty());
        let other = [change("stacks/other.yaml", ChangeKind::Added)];
        let selection = plan(&other);
        assert_eq!(
            stacks(&selection),
            ["other"],
            "discovered beside the entries"
        );
        assert!(selection.targets[0].spec.is_none());
        assert!(selection.unused.is_empty());
    }

    #[test]
    fn with_discovery_off_only_entries_plan_and_other_changed_files_may_be_noted() {
        let text = format!("discovery: {{enabled: false}}\n{CONFIG}");
        let config = parse(&text).unwrap();
        let changes = [
            change("stacks/other.yaml", ChangeKind::Added),
            change("buildspec.yml", ChangeKind::Modified),
            change("params/prod.json", ChangeKind::Modified),
            change("README.md", ChangeKind::Modified),
        ];
        let selection = by_config(&changes, &config, &text, Some(&config));
        assert_eq!(stacks(&selection), ["app-prod"]);
        // Their content decides whether they are noted: the planner reads them.
        assert_eq!(selection.unused, ["stacks/other.yaml", "buildspec.yml"]);
    }

    #[test]
    fn a_template_renamed_away_from_its_entry_is_not_discovered_as_a_new_stack() {
        let config = parse(CONFIG).unwrap();
        let changes = [change(
            "stacks/app-v2.yaml",
            ChangeKind::Renamed {
                from: "stacks/app.yaml".into(),
            },
        )];
        let selection = by_config(&changes, &config, CONFIG, Some(&config));
        assert_eq!(
            stacks(&selection),
            ["app-staging", "app-prod"],
            "the entries, which fail until they name the new path"
        );
    }

    #[test]
    fn an_entry_whose_template_is_missing_is_planned_on_every_push_to_fail() {
        let config = parse(CONFIG).unwrap();
        let unrelated = [change("docs/x.md", ChangeKind::Modified)];
        let selection = select(
            &unrelated,
            &["params/staging.json".to_owned()],
            &Discovery::new("", "us-east-1", Some(&config)),
            Some(Configured {
                config: &config,
                text: CONFIG,
                before: Some(&config),
            }),
        );
        assert_eq!(stacks(&selection), ["app-staging", "app-prod"]);
    }

    #[test]
    fn excluded_paths_are_not_discovered() {
        let text = "discovery:\n  exclude: [\"examples/**\", \"**/buildspec.yml\"]\n";
        let config = parse(text).unwrap();
        let changes = [
            change("examples/deep/x.yaml", ChangeKind::Added),
            change("ci/buildspec.yml", ChangeKind::Modified),
            change("stacks/app.yaml", ChangeKind::Modified),
            change("examples/gone.yaml", ChangeKind::Deleted),
        ];
        let selection = by_config(&changes, &config, text, None);
        assert_eq!(stacks(&selection), ["app"]);
        assert!(selection.maybe_left_in_place.is_empty());
        assert!(selection.unused.is_empty());
    }

    #[test]
    fn an_entry_without_a_name_overrides_the_discovered_stack_under_its_derived_name() {
        let text = "stacks:\n  - template: infra/DynamoDB_Table.yaml\n    parameters: {HashKeyElementName: id}\n";
        let config = parse(text).unwrap();
        let changes = [change("infra/DynamoDB_Table.yaml", ChangeKind::Modified)];
        let selection = by_config(&changes, &config, text, Some(&config));
        assert_eq!(stacks(&selection), ["DynamoDB-Table"]);
        assert!(
            selection.targets[0].spec.is_some(),
            "planned with its entry"
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
    fn a_removed_entry_whose_template_discovery_names_alike_is_planned_not_left() {
        let before = parse("stacks:\n  - name: app\n    template: stacks/app.yaml\n    parameters: {Env: prod}\n  - name: legacy\n    template: stacks/old-name.yaml\n").unwrap();
        let text = "risks: {data_loss: review}\n";
        let after = parse(text).unwrap();
        let changes = [change(CONFIG_FILE, ChangeKind::Modified)];
        let selection = by_config(&changes, &after, text, Some(&before));
        assert_eq!(stacks(&selection), ["app"]);
        assert!(selection.targets[0].spec.is_none());
        let left: Vec<_> = selection
            .left_in_place
            .iter()
            .map(|l| l.stack.as_str())
            .collect();
        assert_eq!(left, ["legacy"], "its template makes another name");
        // An entry that named the default region explicitly was the same stack.
        let regional =
            parse("stacks:\n  - name: app\n    template: stacks/app.yaml\n    region: us-east-1\n")
                .unwrap();
        let selection = by_config(&changes, &after, text, Some(&regional));
        assert_eq!(stacks(&selection), ["app"]);
        assert!(selection.left_in_place.is_empty());
    }

    #[test]
    fn stacks_discovery_no_longer_plans_under_their_old_name_are_said() {
        let before = parse("stacks:\n  - name: kept\n    template: stacks/kept.yaml\n").unwrap();
        let text = "discovery:\n  exclude: [\"old/**\"]\nstacks:\n  - name: kept\n    template: stacks/kept.yaml\n  - name: orders-prod\n    template: apps/orders/template.yaml\n  - template: infra/DynamoDB_Table.yaml\n    parameters: {HashKeyElementName: id}\n";
        let after = parse(text).unwrap();
        let files: Vec<String> = [
            "stacks/kept.yaml",
            "apps/orders/template.yaml",
            "infra/DynamoDB_Table.yaml",
            "old/queue.yaml",
            "stacks/app.yaml",
        ]
        .map(str::to_owned)
        .to_vec();
        let configured = Configured {
            config: &after,
            text,
            before: Some(&before),
        };
        let discovery = Discovery::new("", "us-east-1", Some(&after));
        let left: Vec<(String, String)> = no_longer_discovered(&files, &[], &discovery, configured)
            .into_iter()
            .map(|l| (l.stack, l.reason))
            .collect();
        assert_eq!(
            left,
            [
                (
                    "orders".to_owned(),
                    "now planned as orders-prod by its .cfn-chatops.yml entry: delete stack orders deliberately if it exists".to_owned()
                ),
                (
                    "queue".to_owned(),
                    "excluded from discovery in .cfn-chatops.yml: delete the stack deliberately if it exists".to_owned()
                ),
            ],
            "an entry that keeps the derived name, an owned template and a file still discovered say nothing"
        );
        let off = parse("discovery: {enabled: false}\nstacks:\n  - name: kept\n    template: stacks/kept.yaml\n").unwrap();
        let configured = Configured {
            config: &off,
            text: "",
            before: Some(&before),
        };
        let discovery = Discovery::new("", "us-east-1", Some(&off));
        let left = no_longer_discovered(&files, &[], &discovery, configured);
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(
            left.iter()
                .all(|l| l.reason.starts_with("discovery is off"))
        );
        // Not a stack that is planned now, nor a name two files made (never planned), nor an
        // entry in the default region that keeps the name.
        let mut more = files.clone();
        more.push("legacy/orders.yaml".into());
        let left: Vec<String> = no_longer_discovered(&more, &["app"], &discovery, configured)
            .into_iter()
            .map(|l| l.stack)
            .collect();
        assert_eq!(left, ["DynamoDB-Table", "queue"]);
        let regional =
            parse("stacks:\n  - template: stacks/app.yaml\n    region: us-east-1\n").unwrap();
        let configured = Configured {
            config: &regional,
            text: "",
            before: Some(&before),
        };
        let discovery = Discovery::new("", "us-east-1", Some(&regional));
        let left = no_longer_discovered(&files, &[], &discovery, configured);
        assert!(left.iter().all(|l| l.stack != "app"), "{left:?}");
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
