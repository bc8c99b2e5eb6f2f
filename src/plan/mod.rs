//! `cfn-chatops plan`: from a pushed commit to classified, drift-aware change sets.

pub mod changes;
pub mod classify;
pub mod cloudformation;
pub mod config;
pub mod git;
pub mod names;
pub mod report;
pub mod select;
pub mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use cloudformation::{CloudFormation, CommitOrder, Existing, Planned, Relation, StackRequest};
use config::{CONFIG_FILE, StackSpec, parse_parameters_file};
use git::Repo;
use report::{Classification, LeftInPlace, PlanReport, REPORT_VERSION, StackPlan, short};
use select::{Problem, Selection, Target};
use template::TemplateError;

use crate::ledger::{ChangeSetRecord, Ledger};

/// What to plan: the values the runners pass.
#[derive(Debug, Clone)]
pub struct PlanInputs {
    pub repo: PathBuf,
    pub after: String,
    pub before: Option<String>,
    /// The oldest pushed revision, when `before` is unknown (type-12 pushes).
    pub first_revision: Option<String>,
    pub project: Option<String>,
    pub repository: Option<String>,
    pub branch: String,
    pub pr: Option<u64>,
    /// Where the convention looks for templates ("" for the whole repository).
    pub templates_path: String,
    /// Region of stacks that name none.
    pub default_region: String,
    /// CloudFormation service role for stacks whose config entry names none: the change set
    /// executes with it, so whoever presses Execute needs no resource permissions.
    pub deploy_role_arn: Option<String>,
}

/// The AWS side of planning.
pub struct Planner {
    pub cloudformation: CloudFormation,
    pub ledger: Ledger,
    pub concurrency: usize,
}

/// Where a plan came from, for the ledger records.
#[derive(Debug, Clone)]
struct Provenance {
    project: Option<String>,
    repository: Option<String>,
    branch: String,
    pr: Option<u64>,
    commit: String,
}

/// Runs the whole plan. Never fails as a function: what went wrong is in the report.
pub async fn run(inputs: &PlanInputs, planner: Arc<Planner>) -> PlanReport {
    let mut report = PlanReport {
        version: REPORT_VERSION,
        project: inputs.project.clone(),
        repository: inputs.repository.clone(),
        branch: inputs.branch.clone(),
        after: inputs.after.clone(),
        commit_message: None,
        author: None,
        before: inputs.before.clone(),
        base: None,
        pr: inputs.pr,
        stacks: vec![],
        left_in_place: vec![],
        errors: vec![],
        notes: vec![],
        notifications: vec![],
        comment: None,
    };
    let repo = Arc::new(Repo::new(&inputs.repo));
    let provenance = Provenance {
        project: inputs.project.clone(),
        repository: inputs.repository.clone(),
        branch: inputs.branch.clone(),
        pr: inputs.pr,
        commit: inputs.after.clone(),
    };
    let requests = match prepare(inputs, &repo, &mut report).await {
        Ok(requests) => requests,
        Err(error) => {
            report.errors.push(error);
            return report;
        }
    };
    let order: CommitOrder = {
        let (repo, after) = (Arc::clone(&repo), inputs.after.clone());
        Arc::new(move |commit: String| {
            let (repo, after) = (Arc::clone(&repo), after.clone());
            Box::pin(async move { relation(&repo, &commit, &after).await })
        })
    };
    let semaphore = Arc::new(Semaphore::new(planner.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for request in requests {
        let (planner, order, semaphore) = (
            Arc::clone(&planner),
            Arc::clone(&order),
            Arc::clone(&semaphore),
        );
        let provenance = provenance.clone();
        tasks.spawn(async move {
            let _turn = semaphore.acquire_owned().await;
            let started = Instant::now();
            let Planned {
                mut plan,
                superseding,
            } = planner.cloudformation.plan(&request, &order).await;
            // Recorded as each stack settles, so an interrupted run loses no record.
            let (marked, errors) = record(&planner.ledger, &plan, &superseding, &provenance).await;
            planner.cloudformation.supersede(&mut plan, &marked).await;
            eprintln!("{}", progress_line(&plan, started));
            (plan, errors)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((plan, errors)) => {
                report.stacks.push(plan);
                report.errors.extend(errors);
            }
            Err(err) => report.errors.push(format!("a stack's plan stopped: {err}")),
        }
    }
    report
        .stacks
        .sort_by(|a, b| (&a.stack, &a.region).cmp(&(&b.stack, &b.region)));
    report
}

/// Everything before the first AWS call: the commits, the changes, the config, the templates.
async fn prepare(
    inputs: &PlanInputs,
    repo: &Repo,
    report: &mut PlanReport,
) -> Result<Vec<StackRequest>, String> {
    repo.ensure_history().await.map_err(|err| err.to_string())?;
    repo.ensure_commit(&inputs.after)
        .await
        .map_err(|err| err.to_string())?;
    let (subject, author) = repo
        .subject_and_author(&inputs.after)
        .await
        .map_err(|err| err.to_string())?;
    report.commit_message = Some(subject);
    report.author = Some(author).filter(|author| !author.is_empty());
    let (base, note) = base_commit(inputs, repo).await?;
    report.notes.extend(note);
    report.base = base.clone();
    let changes = repo
        .changed_files(base.as_deref(), &inputs.after)
        .await
        .map_err(|err| err.to_string())?;
    let config_text = read_text(repo, &inputs.after, CONFIG_FILE).await?;
    let selection = match &config_text {
        Some(text) => {
            let config = config::parse(text).map_err(|err| format!("{err}; nothing planned"))?;
            let before = match &base {
                Some(base) => read_text(repo, base, CONFIG_FILE)
                    .await?
                    .and_then(|text| config::parse(&text).ok()),
                None => None,
            };
            select::by_config(&changes, &config, text, before.as_ref())
        }
        None => select::by_convention(&changes, &inputs.templates_path),
    };
    let Selection {
        targets,
        problems,
        left_in_place,
        maybe_left_in_place,
        notes,
    } = selection;
    report.left_in_place = left_in_place;
    report.notes.extend(notes);
    for candidate in maybe_left_in_place {
        let Some(base) = &base else { continue };
        let content = repo
            .read(base, &candidate.template)
            .await
            .map_err(|err| err.to_string())?;
        if content.is_some_and(|content| {
            matches!(
                template::inspect(&candidate.template, &content),
                Ok(Some(_))
            )
        }) {
            report.left_in_place.push(LeftInPlace {
                stack: candidate.stack,
                template: candidate.template,
                reason: candidate.reason,
            });
        }
    }
    let mut problems = problems;
    let mut requests = Vec::new();
    for target in targets {
        match request_for(inputs, repo, &target).await {
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
    if config_text.is_none() {
        let (named, unnamable) = select::refuse_unnamable(requests, |(target, _)| target);
        requests = named;
        problems.extend(unnamable);
    }
    for problem in problems {
        let plan = problem_plan(problem, &inputs.default_region);
        eprintln!("{}", progress_line(&plan, Instant::now()));
        report.stacks.push(plan);
    }
    Ok(requests.into_iter().map(|(_, request)| request).collect())
}

/// The commit to diff against: `before`; else the first parent of the oldest pushed revision;
/// else the first parent of `after`. `None` for a root commit (diff against the empty tree).
/// The commit changes are taken from, and a note when it had to be inferred.
async fn base_commit(
    inputs: &PlanInputs,
    repo: &Repo,
) -> Result<(Option<String>, Option<String>), String> {
    if let Some(before) = &inputs.before {
        repo.ensure_commit(before)
            .await
            .map_err(|err| err.to_string())?;
        return Ok((Some(before.clone()), None));
    }
    let oldest = inputs.first_revision.as_deref().unwrap_or(&inputs.after);
    repo.ensure_commit(oldest)
        .await
        .map_err(|err| err.to_string())?;
    let parent = repo
        .first_parent(oldest)
        .await
        .map_err(|err| err.to_string())?;
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

/// How many pushed commits are searched for a pull request's merge commit.
const PUSHED_COMMITS_SEARCHED: usize = 100;

/// The pushed head's subject line and the commits the push brought, newest first: where the
/// merge commit of the push's pull request is looked for.
pub async fn pushed_commits(inputs: &PlanInputs) -> Result<(String, Vec<String>), String> {
    let repo = Repo::new(&inputs.repo);
    repo.ensure_history().await.map_err(|err| err.to_string())?;
    repo.ensure_commit(&inputs.after)
        .await
        .map_err(|err| err.to_string())?;
    let (subject, _) = repo
        .subject_and_author(&inputs.after)
        .await
        .map_err(|err| err.to_string())?;
    let (base, _) = base_commit(inputs, &repo).await?;
    let commits = repo
        .commits(base.as_deref(), &inputs.after, PUSHED_COMMITS_SEARCHED)
        .await
        .map_err(|err| err.to_string())?;
    Ok((subject, commits))
}

/// What CloudFormation gets for a target, read at the planned commit. `Ok(None)`: in
/// convention mode, a changed file that is not a template.
async fn request_for(
    inputs: &PlanInputs,
    repo: &Repo,
    target: &Target,
) -> Result<Option<StackRequest>, TemplateError> {
    let error = |path: &str, message: String| TemplateError {
        path: path.to_owned(),
        line: None,
        message,
    };
    let content = repo
        .read(&inputs.after, &target.template)
        .await
        .map_err(|err| error(&target.template, err.to_string()))?
        .ok_or_else(|| {
            error(
                &target.template,
                format!(
                    "does not exist at {}: fix the stack's `template` in {CONFIG_FILE}",
                    short(&inputs.after)
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
            ));
        }
    };
    let spec = target.spec.as_ref();
    let mut parameters = BTreeMap::new();
    if let Some(path) = spec.and_then(|spec| spec.parameters_file.as_deref()) {
        let text = read_text(repo, &inputs.after, path)
            .await
            .map_err(|message| error(path, message))?
            .ok_or_else(|| {
                error(
                    path,
                    format!("parameters file does not exist at {}", short(&inputs.after)),
                )
            })?;
        parameters.extend(parse_parameters_file(path, &text)?);
    }
    if let Some(spec) = spec {
        parameters.extend(
            spec.parameters
                .iter()
                .map(|(key, value)| (key.clone(), value.render())),
        );
    }
    let capabilities = spec
        .and_then(StackSpec::capabilities)
        .unwrap_or_else(|| template.capabilities.clone());
    Ok(Some(StackRequest {
        stack: target.stack.clone(),
        region: spec
            .and_then(|spec| spec.region.clone())
            .unwrap_or_else(|| inputs.default_region.clone()),
        template_path: target.template.clone(),
        renamed_from: target.renamed_from.clone(),
        template,
        parameters: parameters.into_iter().collect(),
        tags: spec
            .map(|spec| spec.tags.clone().into_iter().collect())
            .unwrap_or_default(),
        capabilities,
        role_arn: spec
            .and_then(|spec| spec.role_arn.clone())
            .or_else(|| inputs.deploy_role_arn.clone()),
        commit: inputs.after.clone(),
        description: description(inputs),
    }))
}

async fn read_text(repo: &Repo, commit: &str, path: &str) -> Result<Option<String>, String> {
    match repo
        .read(commit, path)
        .await
        .map_err(|err| err.to_string())?
    {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("{path}: not UTF-8 text")),
    }
}

/// The change set's Description (1–1024 characters): where it came from.
fn description(inputs: &PlanInputs) -> String {
    let mut text = String::from("cfn-chatops:");
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

async fn relation(repo: &Repo, commit: &str, after: &str) -> Relation {
    if repo.is_ancestor(commit, after).await.unwrap_or(false) {
        Relation::Older
    } else if repo.is_ancestor(after, commit).await.unwrap_or(false) {
        Relation::Newer
    } else {
        Relation::Unrelated
    }
}

/// Records a stack's change set, then marks the change sets it supersedes: only those marked
/// are returned for deletion, so the ledger never says "pending" for a deleted change set. A
/// ledger failure fails the run (the outcome handler would not find the change set) but loses
/// no stack's result.
async fn record(
    ledger: &Ledger,
    plan: &StackPlan,
    superseding: &[Existing],
    provenance: &Provenance,
) -> (Vec<Existing>, Vec<String>) {
    let mut errors = Vec::new();
    let Some(change_set) = &plan.change_set else {
        return (vec![], errors);
    };
    let status = match plan.classification {
        Classification::Changes | Classification::Drift => "pending",
        Classification::NoChanges => "no_changes",
        Classification::Superseded => "superseded",
        _ => "failed",
    };
    let record = ChangeSetRecord {
        stack: plan.stack.clone(),
        region: plan.region.clone(),
        name: change_set.name.clone(),
        arn: change_set
            .arn
            .clone()
            .unwrap_or_else(|| change_set.name.clone()),
        project: provenance.project.clone(),
        repository: provenance.repository.clone(),
        branch: provenance.branch.clone(),
        pr: provenance.pr,
        commit: provenance.commit.clone(),
        classification: plan.classification.as_str().to_owned(),
        status: status.to_owned(),
    };
    if let Err(err) = ledger.record_change_set(&record).await {
        errors.push(format!("ledger: {} ({}): {err}", plan.stack, plan.region));
    }
    let mut marked = Vec::new();
    for older in superseding {
        match ledger
            .mark_superseded(&plan.region, &plan.stack, &older.name, &provenance.commit)
            .await
        {
            Ok(()) => marked.push(older.clone()),
            Err(err) => errors.push(format!(
                "ledger: {} ({}): {} not marked superseded, so not deleted: {err}",
                plan.stack, plan.region, older.name
            )),
        }
    }
    (marked, errors)
}

/// One line per stack as it settles, for the build log.
fn progress_line(plan: &StackPlan, started: Instant) -> String {
    let detail = match plan.classification {
        Classification::Changes | Classification::Drift => format!(
            "{}{}",
            plan.counts.summary(),
            if plan.drift.is_empty() {
                ""
            } else {
                " with drift"
            }
        ),
        _ => plan.reason.clone().unwrap_or_default(),
    };
    format!(
        "plan: {} ({}): {} {detail} [{:.1} s]",
        plan.stack,
        plan.region,
        plan.classification.as_str(),
        started.elapsed().as_secs_f64()
    )
}
