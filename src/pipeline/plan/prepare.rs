//! Everything before the first AWS call: the commits, the changed files, the config, and what
//! CloudFormation gets for each stack, read at the planned commit with the real git CLI.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use super::{PlanInputs, progress};
use crate::adapter::cloudformation::StackRequest;
use crate::adapter::git::{GitError, Repo};
use crate::core::config::{
    self, CONFIG_FILE, ConfigError, RepoConfig, RuleFiles, StackSpec, parse_parameters_file,
};
use crate::core::names::derived_stack_name;
use crate::core::parameters;
use crate::core::select::{
    self, Claim, Configured, Discovery, Problem, Selection, Target, TargetError,
};
use crate::core::template::{self, TemplateError};
use crate::core::verdict::guard_rules::{self, GuardError};
use crate::core::verdict::{self, StackRules};
use crate::model::commit::short;
use crate::model::report::{Classification, LeftInPlace, PlanReport, StackPlan};

/// What stops a whole plan before any stack is planned.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{path}: not UTF-8 text")]
    NotText { path: String },
    #[error("{0}; nothing planned")]
    Config(ConfigError),
}

/// Everything before the first AWS call: the commits, the changes, the config, the templates.
pub async fn prepare(
    inputs: &PlanInputs,
    repo: &Repo,
    report: &mut PlanReport,
) -> Result<Vec<StackRequest>, PrepareError> {
    repo.ensure_history().await?;
    repo.ensure_commit(&inputs.after).await?;
    let (subject, author) = repo.subject_and_author(&inputs.after).await?;
    report.commit_message = Some(subject);
    report.author = Some(author).filter(|author| !author.is_empty());
    // Files are read at `at`: the pushed head, or for a preview the merge it would make.
    let (base, at, note) = match &inputs.preview {
        Some(preview) => preview_range(repo, &preview.into, &inputs.after).await?,
        None => {
            let (base, note) = base_commit(inputs, repo).await?;
            (base, inputs.after.clone(), note)
        }
    };
    report.notes.extend(note);
    report.base = base.clone();
    let changes = repo.changed_files(base.as_deref(), &at).await?;
    let config_text = read_text(repo, &at, CONFIG_FILE).await?;
    let repo_config = match &config_text {
        Some(text) => Some(config::parse(text).map_err(PrepareError::Config)?),
        None => None,
    };
    let before = match &base {
        Some(base) => read_text(repo, base, CONFIG_FILE)
            .await?
            .and_then(|text| config::parse(&text).ok()),
        None => None,
    };
    // Who hears of a preview is the target branch's decision, not the pull request's: a pull
    // request cannot silence Slack about itself.
    if let Some(preview) = &mut report.preview {
        preview.slack = before
            .as_ref()
            .map(|config| config.preview.slack)
            .unwrap_or_default();
    }
    let discovery = Discovery::new(
        &inputs.templates_path,
        &inputs.default_region,
        repo_config.as_ref(),
    );
    let files = repo.files(&at).await?;
    // Every file discovery could plan at the commit: what waivers may name, and what a
    // discovered stack's name must not clash with.
    let discoverable: Vec<String> = files
        .iter()
        .filter(|path| discovery.covers(path))
        .filter(|path| repo_config.as_ref().is_none_or(|config| !config.owns(path)))
        .cloned()
        .collect();
    // A deleted config still has entries to account for: as if it had none.
    let no_entries = RepoConfig::default();
    let configured = match (&repo_config, &config_text) {
        (None, None) => before.as_ref().map(|before| Configured {
            config: &no_entries,
            text: "",
            before: Some(before),
        }),
        (Some(config), Some(text)) => {
            // The discovered stacks waivers name (read to be sure they are templates).
            let mut discovered = Vec::new();
            for path in &discoverable {
                if let Some(name) = derived_stack_name(path)
                    && config.waivers.iter().any(|waiver| waiver.stack == name)
                    && is_template_at(repo, &at, path).await?
                {
                    discovered.push(name);
                }
            }
            config
                .validate_top_level(text, &discovered)
                .map_err(PrepareError::Config)?;
            Some(Configured {
                config,
                text,
                before: before.as_ref(),
            })
        }
        _ => None,
    };
    let Selection {
        targets,
        problems,
        left_in_place,
        maybe_left_in_place,
        unused,
    } = select::select(&changes, &files, &discovery, configured);
    report.left_in_place = left_in_place;
    let mut maybe_left_in_place = maybe_left_in_place;
    if let (Some(configured), Some(base)) = (configured, &base)
        && changes.iter().any(|change| change.path == CONFIG_FILE)
    {
        let base_files = repo.files(base).await?;
        let planned: Vec<&str> = targets.iter().map(|target| target.stack.as_str()).collect();
        maybe_left_in_place.extend(select::no_longer_discovered(
            &base_files,
            &planned,
            &discovery,
            configured,
        ));
    }
    for path in unused {
        if is_template_at(repo, &at, &path).await? {
            report.notes.push(format!(
                "{path} changed, but no stack in {CONFIG_FILE} uses it as its template (discovery is off)"
            ));
        }
    }
    for candidate in maybe_left_in_place {
        let Some(base) = &base else { continue };
        if is_template_at(repo, base, &candidate.template).await? {
            report.left_in_place.push(LeftInPlace {
                stack: candidate.stack,
                template: candidate.template,
                reason: candidate.reason,
            });
        }
    }
    let mut problems = problems;
    let mut requests = Vec::new();
    let review = Review::new(repo, &at, &files, repo_config.as_ref()).await?;
    let text = config_text.as_deref().unwrap_or_default();
    for target in targets {
        let request = match request_for(inputs, &at, repo, &target, text).await {
            Ok(Some(mut request)) => review
                .rules_for(repo, base.as_deref(), &target, &request)
                .await
                .map(|rules| {
                    request.rules = rules;
                    Some(request)
                }),
            other => other,
        };
        match request {
            Ok(Some(request)) => requests.push((target, request)),
            Ok(None) => {}
            Err(error) => problems.push(Problem {
                region: target.spec.as_ref().and_then(|spec| spec.region.clone()),
                stack: target.stack,
                template: target.template,
                error,
            }),
        }
    }
    let (requests, clashes) = refuse_clashes(
        inputs,
        &at,
        repo,
        repo_config.as_ref(),
        &discoverable,
        requests,
    )
    .await?;
    problems.extend(clashes);
    for problem in problems {
        let plan = problem_plan(problem, &inputs.default_region);
        progress(&plan, Instant::now());
        report.stacks.push(plan);
    }
    Ok(requests)
}

/// Refuses, before anything is sent, every stack another file or entry makes too: an entry's
/// against the templates discovery plans now or would later, a discovered one's against the
/// entries and other templates. The requests left, and the refusals.
async fn refuse_clashes(
    inputs: &PlanInputs,
    at: &str,
    repo: &Repo,
    config: Option<&RepoConfig>,
    discoverable: &[String],
    requests: Vec<(Target, StackRequest)>,
) -> Result<(Vec<StackRequest>, Vec<Problem>), PrepareError> {
    let (configured, discovered): (Vec<_>, Vec<_>) = requests
        .into_iter()
        .partition(|(target, _)| target.spec.is_some());
    // In the default region, an entry's stack and a discovered one may be the same stack.
    let (local, elsewhere): (Vec<_>, Vec<_>) = configured.into_iter().partition(|(target, _)| {
        target
            .spec
            .as_ref()
            .is_some_and(|spec| spec.region_or(&inputs.default_region) == inputs.default_region)
    });
    let names: Vec<&Target> = local
        .iter()
        .chain(&discovered)
        .map(|(target, _)| target)
        .collect();
    let templates = discoverable_claims(at, repo, discoverable, &names).await?;
    let entries = entry_claims(inputs, config);
    // An entry's stack is taken by another template discovery plans now or would later.
    let others: Vec<Claim> = discovered
        .iter()
        .map(|(target, _)| Claim {
            stack: target.stack.clone(),
            by: target.template.clone(),
        })
        .chain(templates.iter().cloned())
        .collect();
    let (local, taken) = select::refuse_unnamable(local, |(target, _)| target, &others);
    let mut problems = taken;
    let claims: Vec<Claim> = entries.into_iter().chain(templates).collect();
    let (named, unnamable) = select::refuse_unnamable(discovered, |(target, _)| target, &claims);
    problems.extend(unnamable);
    let requests = local
        .into_iter()
        .chain(elsewhere)
        .chain(named)
        .map(|(_, request)| request)
        .collect();
    Ok((requests, problems))
}

/// The `stacks` entries' names in the default region: a discovered stack must not take one.
fn entry_claims(inputs: &PlanInputs, config: Option<&RepoConfig>) -> Vec<Claim> {
    config
        .into_iter()
        .flat_map(|config| &config.stacks)
        .filter(|spec| spec.region_or(&inputs.default_region) == inputs.default_region)
        .filter_map(|spec| {
            Some(Claim {
                stack: spec.stack_name()?,
                by: format!("the {CONFIG_FILE} entry for {}", spec.template),
            })
        })
        .collect()
}

/// Other templates discovery names like one of `targets` (read to be sure they are
/// templates): the same stack, from another file.
async fn discoverable_claims(
    at: &str,
    repo: &Repo,
    discoverable: &[String],
    targets: &[&Target],
) -> Result<Vec<Claim>, PrepareError> {
    let mut claims = Vec::new();
    for path in discoverable {
        let Some(name) = derived_stack_name(path) else {
            continue;
        };
        let planned = targets.iter().any(|target| target.template == *path);
        let clashes = targets.iter().any(|target| target.stack == name);
        if clashes && !planned && is_template_at(repo, at, path).await? {
            claims.push(Claim {
                stack: name,
                by: path.clone(),
            });
        }
    }
    Ok(claims)
}

/// Whether `path` is a CloudFormation template at `commit`.
async fn is_template_at(repo: &Repo, commit: &str, path: &str) -> Result<bool, PrepareError> {
    Ok(repo
        .read(commit, path)
        .await?
        .is_some_and(|content| matches!(template::inspect(path, &content), Ok(Some(_)))))
}

/// The commit to diff against: `before`; else the first parent of the oldest pushed revision;
/// else the first parent of `after`. `None` for a root commit (diff against the empty tree).
/// The commit changes are taken from, and a note when it had to be inferred.
async fn base_commit(
    inputs: &PlanInputs,
    repo: &Repo,
) -> Result<(Option<String>, Option<String>), PrepareError> {
    if let Some(before) = &inputs.before {
        repo.ensure_commit(before).await?;
        return Ok((Some(before.clone()), None));
    }
    let oldest = inputs.first_revision.as_deref().unwrap_or(&inputs.after);
    repo.ensure_commit(oldest).await?;
    let parent = repo.first_parent(oldest).await?;
    let note = match (&parent, &inputs.first_revision) {
        (Some(parent), Some(_)) => format!(
            "commit before the push unknown: changes since {}, the parent of the oldest pushed revision",
            short(parent)
        ),
        (Some(parent), None) => format!(
            "commit before the push unknown: changes since {}, the parent of the pushed head",
            short(parent)
        ),
        (None, _) => {
            "the oldest pushed revision is a root commit: every file counts as added".into()
        }
    };
    Ok((parent, Some(note)))
}

/// What a preview of a pull request into `into` compares, and reads its files at: from the
/// target branch as it is now to the merge the pull request would make (when the target moved
/// on since the branch left it, its later changes are in the merge, not shown as undone); from
/// where the branch left it to the head when the two conflict (with a note); from the merge
/// base to the head when the target has not moved.
async fn preview_range(
    repo: &Repo,
    into: &str,
    head: &str,
) -> Result<(Option<String>, String, Option<String>), PrepareError> {
    let tip = repo.fetch_branch(into).await?;
    let Some(merge_base) = repo.merge_base(&tip, head).await? else {
        return Ok((
            None,
            head.to_owned(),
            Some(format!(
                "the head shares no history with {into}: every file counts as added"
            )),
        ));
    };
    if merge_base == tip {
        return Ok((Some(merge_base), head.to_owned(), None));
    }
    Ok(match repo.merged(&tip, head).await? {
        Some(merge) => (
            Some(tip.clone()),
            merge,
            Some(format!(
                "{into} moved on since the branch left it at {}: previewed as merged into {into} at {}, as the merge would make it",
                short(&merge_base),
                short(&tip)
            )),
        ),
        None => (
            Some(merge_base.clone()),
            head.to_owned(),
            Some(format!(
                "the pull request conflicts with {into} at {}: previewed from where it left {into} ({}), without {into}'s later changes; resolve the conflicts before merging",
                short(&tip),
                short(&merge_base)
            )),
        ),
    })
}

/// How many pushed commits are searched for a pull request's merge commit.
const PUSHED_COMMITS_SEARCHED: usize = 100;

/// The pushed head's subject line and the commits the push brought, newest first: where the
/// merge commit of the push's pull request is looked for.
pub async fn pushed_commits(inputs: &PlanInputs) -> Result<(String, Vec<String>), PrepareError> {
    let repo = Repo::new(&inputs.repo);
    repo.ensure_history().await?;
    repo.ensure_commit(&inputs.after).await?;
    let (subject, _) = repo.subject_and_author(&inputs.after).await?;
    let (base, _) = base_commit(inputs, &repo).await?;
    let commits = repo
        .commits(base.as_deref(), &inputs.after, PUSHED_COMMITS_SEARCHED)
        .await?;
    Ok((subject, commits))
}

/// What CloudFormation gets for a target, read at the planned commit. `Ok(None)`: a
/// discovered file that is not a template.
async fn request_for(
    inputs: &PlanInputs,
    at: &str,
    repo: &Repo,
    target: &Target,
    config_text: &str,
) -> Result<Option<StackRequest>, TargetError> {
    let error = |path: &str, message: String| TemplateError {
        path: path.to_owned(),
        line: None,
        message,
    };
    let config_error = |path: &str, message: String| ConfigError::ParametersFile {
        path: path.to_owned(),
        line: None,
        message,
    };
    let content = repo
        .read(at, &target.template)
        .await
        .map_err(|err| error(&target.template, err.to_string()))?
        .ok_or_else(|| {
            error(
                &target.template,
                format!(
                    "does not exist at {}: fix the stack's `template` in {CONFIG_FILE}",
                    short(at)
                ),
            )
        })?;
    let template = match template::inspect(&target.template, &content)? {
        Some(template) => template,
        None if target.spec.is_none() => return Ok(None),
        None => {
            return Err(error(
                &target.template,
                "is not a CloudFormation template (no Resources, no AWSTemplateFormatVersion)"
                    .into(),
            )
            .into());
        }
    };
    let local = template.local_artifacts();
    if !local.is_empty() {
        let named: Vec<String> = local
            .iter()
            .map(|artifact| {
                format!(
                    "{}'s {} ({})",
                    artifact.resource, artifact.property, artifact.path
                )
            })
            .collect();
        return Err(error(
            &target.template,
            format!(
                "{} {} a local path, which CloudFormation cannot read: package the template in CI (`sam package` or `aws cloudformation package`) and plan the packaged template, or point {} at S3",
                named.join(", "),
                if local.len() == 1 { "is" } else { "are" },
                if local.len() == 1 { "it" } else { "them" },
            ),
        )
        .into());
    }
    let spec = target.spec.as_ref();
    let mut parameters = BTreeMap::new();
    let mut keep = Vec::new();
    let mut tags = BTreeMap::new();
    let mut notes = Vec::new();
    if let Some(path) = spec.and_then(|spec| spec.parameters_file.as_deref()) {
        let text = read_text(repo, at, path)
            .await
            .map_err(|err| config_error(path, err.to_string()))?
            .ok_or_else(|| {
                config_error(
                    path,
                    format!("parameters file does not exist at {}", short(at)),
                )
            })?;
        let file = parse_parameters_file(path, &text)?;
        parameters.extend(file.parameters);
        keep = file.kept;
        tags.extend(file.tags);
        if file.stack_policy {
            notes.push(format!(
                "{path}: its StackPolicy is not applied (a change set cannot carry one): set it once with `aws cloudformation set-stack-policy`"
            ));
        }
    }
    // A file may serve several stacks, so what the template does not declare is left out;
    // the entry's own values are this stack's, so one the template lacks is a typo.
    let from_file: Vec<(String, String)> = parameters.into_iter().collect();
    let mut undeclared = parameters::undeclared(&template, &from_file);
    undeclared.extend(keep.iter().filter(|key| !template.declares(key)).cloned());
    if !undeclared.is_empty() {
        notes.push(format!(
            "not sent, as the template does not declare them: {}",
            undeclared.join(", ")
        ));
    }
    let mut parameters: BTreeMap<String, String> = from_file
        .into_iter()
        .filter(|(key, _)| !undeclared.contains(key))
        .collect();
    keep.retain(|key| template.declares(key));
    if let Some(spec) = spec {
        if let Some(key) = spec.parameters.keys().find(|key| !template.declares(key)) {
            let declared: Vec<&str> = template
                .parameters
                .iter()
                .map(|parameter| parameter.name.as_str())
                .collect();
            return Err(ConfigError::Config {
                line: spec.parameter_line(config_text, key),
                message: format!(
                    "stack {}: {key} is not a parameter of {} ({})",
                    target.stack,
                    target.template,
                    if declared.is_empty() {
                        "it declares none".to_owned()
                    } else {
                        format!("it declares {}", declared.join(", "))
                    }
                ),
            }
            .into());
        }
        parameters.extend(
            spec.parameters
                .iter()
                .map(|(key, value)| (key.clone(), value.render())),
        );
        tags.extend(spec.tags.clone());
    }
    let parameters: Vec<(String, String)> = parameters.into_iter().collect();
    // The config adds to what the template shows it needs (a nested stack's IAM resources,
    // say); it never takes away what CloudFormation would refuse the change set without.
    let mut capabilities = template.capabilities.clone();
    capabilities.extend(spec.and_then(StackSpec::capabilities).unwrap_or_default());
    let capabilities = template::normalized(capabilities);
    Ok(Some(StackRequest {
        stack: target.stack.clone(),
        region: spec
            .map_or(inputs.default_region.as_str(), |spec| {
                spec.region_or(&inputs.default_region)
            })
            .to_owned(),
        template_path: target.template.clone(),
        renamed_from: target.renamed_from.clone(),
        template,
        parameters,
        keep,
        tags: tags.into_iter().collect(),
        capabilities,
        role_arn: spec
            .and_then(|spec| spec.role_arn.clone())
            .or_else(|| inputs.deploy_role_arn.clone()),
        commit: inputs.after.clone(),
        description: description(inputs),
        rules: StackRules::default(),
        notes,
    }))
}

/// The repository's review settings, and its Guard rule files at the planned commit, read
/// once per plan.
struct Review<'a> {
    config: Option<&'a RepoConfig>,
    commit: String,
    /// The commit's files, where rule files are selected.
    files: &'a [String],
    /// Each selected rule file's text, or why it cannot be used (checked once, however many
    /// stacks use it).
    rule_files: HashMap<String, Result<Arc<str>, GuardError>>,
}

impl<'a> Review<'a> {
    async fn new(
        repo: &Repo,
        commit: &str,
        files: &'a [String],
        config: Option<&'a RepoConfig>,
    ) -> Result<Self, PrepareError> {
        let mut review = Self {
            config,
            commit: commit.to_owned(),
            files,
            rule_files: HashMap::new(),
        };
        let Some(policies) = config.and_then(|config| config.policies.as_ref()) else {
            return Ok(review);
        };
        for (path, _) in policies.select(files, None) {
            let rules = match read_text(repo, commit, &path).await {
                Ok(text) => {
                    let text: Arc<str> = text.unwrap_or_default().into();
                    guard_rules::check_syntax(&path, &text).map(|()| text)
                }
                Err(err) => Err(GuardError::Evaluate {
                    path: path.clone(),
                    message: err.to_string(),
                }),
            };
            review.rule_files.insert(path, rules);
        }
        Ok(review)
    }

    /// What the stack's verdict weighs besides its change set: the template before the push
    /// (under its old name when renamed), the repository's levels and waivers, and what the
    /// team's Guard rules find in the template at the planned commit. A rule file that does
    /// not parse or cannot be evaluated fails the stack: never a silent pass.
    async fn rules_for(
        &self,
        repo: &Repo,
        base: Option<&str>,
        target: &Target,
        request: &StackRequest,
    ) -> Result<StackRules, TargetError> {
        let before = match base {
            Some(base) => {
                let path = target.renamed_from.as_deref().unwrap_or(&target.template);
                repo.read(base, path)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|content| template::inspect(path, &content).ok().flatten())
                    .map(|template| template.document)
            }
            None => None,
        };
        let mut rules = StackRules {
            before,
            risks: self
                .config
                .map(|config| config.risks.levels())
                .unwrap_or_default(),
            waivers: self.config.map(RepoConfig::waivers).unwrap_or_default(),
            ..StackRules::default()
        };
        let Some(policies) = self.config.and_then(|config| config.policies.as_ref()) else {
            return Ok(rules);
        };
        let stack_enforcement = target
            .spec
            .as_ref()
            .and_then(|spec| spec.policies)
            .and_then(|policies| policies.enforcement);
        let selected = policies.select(self.files, stack_enforcement);
        if selected.is_empty() {
            let globs: Vec<&str> = policies.rules.iter().map(RuleFiles::glob).collect();
            rules.unchecked.push(format!(
                "Guard rules: {} match no file at {}",
                globs.join(", "),
                short(&self.commit)
            ));
            return Ok(rules);
        }
        let mut files = Vec::with_capacity(selected.len());
        for (path, enforcement) in selected {
            let text = match self.rule_files.get(&path) {
                Some(Ok(text)) => Arc::clone(text),
                Some(Err(err)) => return Err(err.clone().into()),
                None => continue,
            };
            files.push((path, text, enforcement.level()));
        }
        // NoEcho values stay masked: a rule's message may quote what it found.
        let document = verdict::with_parameters(
            &request.template.document,
            &request.template.masked_for_rules(&request.parameters),
        );
        // Guard's evaluator is CPU-bound and not Send: it runs on a blocking thread.
        let (findings, checked) = tokio::task::spawn_blocking(move || {
            let mut findings = Vec::new();
            let mut checked = 0;
            for (path, text, level) in files {
                let outcome = guard_rules::evaluate(&path, &text, &document)?;
                checked += outcome.rules_checked;
                findings.extend(verdict::guard_findings(outcome.failures, level));
            }
            Ok::<_, GuardError>((findings, checked))
        })
        .await
        .map_err(|err| GuardError::Evaluate {
            path: "Guard rules".into(),
            message: err.to_string(),
        })??;
        rules.guard = findings;
        rules.guard_rules = checked;
        Ok(rules)
    }
}

async fn read_text(repo: &Repo, commit: &str, path: &str) -> Result<Option<String>, PrepareError> {
    match repo.read(commit, path).await? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| PrepareError::NotText { path: path.into() }),
    }
}

/// The change set's Description (1–1024 characters): where it came from.
fn description(inputs: &PlanInputs) -> String {
    let mut text = String::from(match inputs.preview {
        Some(_) => "cfn-chatops preview:",
        None => "cfn-chatops:",
    });
    if let (Some(project), Some(repository)) = (&inputs.project, &inputs.repository) {
        text.push_str(&format!(" {project}/{repository}"));
    }
    if let Some(pr) = inputs.pr {
        text.push_str(&format!(" PR #{pr}"));
    }
    text.push_str(&format!(
        " commit {} on {}",
        short(&inputs.after),
        inputs.branch
    ));
    text.chars().take(1024).collect()
}

fn problem_plan(problem: Problem, default_region: &str) -> StackPlan {
    StackPlan {
        reason: Some(problem.error.to_string()),
        notes: vec!["nothing was created for this stack".into()],
        ..StackPlan::new(
            problem.stack,
            problem.region.unwrap_or_else(|| default_region.to_owned()),
            problem.template,
            Classification::Failed,
        )
    }
}
