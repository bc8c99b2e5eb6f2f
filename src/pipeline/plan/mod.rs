//! The plan pipeline: from a pushed commit to classified, drift-aware change sets, recorded in
//! the ledger, published as Slack cards and commented on the pull request.

mod prepare;
mod stack;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use prepare::PrepareError;
pub use stack::{CommitOrder, StackPlanner};

use crate::adapter::backlog::api::BacklogError;
use crate::adapter::backlog::commenter::Commenter;
use crate::adapter::backlog::pull_requests::find_merged;
use crate::adapter::git::Repo;
use crate::adapter::ledger::Ledger;
use crate::adapter::sns::Publisher;
use crate::core::gate::{Existing, Relation};
use crate::core::preview::wants_slack;
use crate::model::commit::{parse_full, short};
use crate::model::delivery::{CommentDelivery, CommentStatus};
use crate::model::record::ChangeSetRecord;
use crate::model::report::{
    Classification, PlanReport, Preview, PreviewSlack, Previewed, REPORT_VERSION, StackPlan,
};
use crate::model::status::ChangeSetStatus;
use crate::model::verdict::{Finding, Level};
use crate::render::backlog::plan::plan_comment;
use crate::render::backlog::{plan_marker, preview_marker, previewed_head};
use crate::render::links::Links;
use crate::render::slack::cards;
use stack::Planned;

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
    /// Where discovery looks for templates ("" for the whole repository).
    pub templates_path: String,
    /// Region of stacks that name none.
    pub default_region: String,
    /// CloudFormation service role for stacks whose config entry names none: the change set
    /// executes with it, so whoever presses Execute needs no resource permissions.
    pub deploy_role_arn: Option<String>,
    /// A preview of a pull request before its merge: changes since the merge base, nothing
    /// left to execute, nothing recorded.
    pub preview: Option<PreviewOf>,
}

/// Which pull request a preview is of (head `after`, from `branch`), and where it merges.
#[derive(Debug, Clone)]
pub struct PreviewOf {
    pub pr: u64,
    pub into: String,
}

/// The AWS side of planning.
pub struct Planner {
    pub stacks: StackPlanner,
    pub ledger: Ledger,
    pub concurrency: usize,
}

/// The Backlog side of a plan, as the settings left it.
pub enum BacklogAccess {
    /// Not configured: no pull request lookup, no comment.
    Off,
    /// Configured, but the credential could not be read: the plan goes on, and its comment is
    /// reported as not delivered, with this reason.
    Unusable(String),
    Ready(Box<Commenter>),
}

/// The whole plan: plan the stacks, publish the cards, comment on the pull request.
pub struct PlanPipeline {
    pub planner: Arc<Planner>,
    /// `None`: no SNS topic, no Slack cards.
    pub publisher: Option<Publisher>,
    pub backlog: BacklogAccess,
    pub links: Links,
}

impl PlanPipeline {
    /// Never fails as a function: what went wrong is in the report.
    pub async fn run(&self, mut inputs: PlanInputs) -> PlanReport {
        if let Some(of) = &inputs.preview {
            return self.preview(&inputs, of).await;
        }
        // The pull request first: the ledger records and the Slack thread carry its number.
        let mut lookup_failure = None;
        if let (None, BacklogAccess::Ready(commenter), Some(project), Some(repository)) = (
            inputs.pr,
            &self.backlog,
            &inputs.project,
            &inputs.repository,
        ) {
            match find_pull_request(commenter, &inputs, project, repository).await {
                Ok(pr) => inputs.pr = pr,
                Err(err) => {
                    lookup_failure = Some(format!("could not look up the pull request: {err}"))
                }
            }
        }
        let mut report = plan_stacks(&inputs, Arc::clone(&self.planner)).await;
        if let Some(publisher) = &self.publisher {
            report.cards = publisher
                .publish(&cards::plan_cards(&report, &self.links))
                .await;
        }
        report.comment = match (&self.backlog, lookup_failure) {
            (BacklogAccess::Off, _) => None,
            (BacklogAccess::Unusable(reason), _) => {
                Some(CommentDelivery::failed(report.pr, reason.clone()))
            }
            (BacklogAccess::Ready(_), Some(failure)) => {
                Some(CommentDelivery::failed(None, failure))
            }
            (BacklogAccess::Ready(commenter), None) => {
                report.previewed = last_preview(commenter, &inputs, &report).await;
                Some(comment_plan(commenter, &report).await)
            }
        };
        report
    }

    /// A pull request's preview: the same review, published only while its head is still the
    /// pull request's (a late run of an older head never overwrites a newer preview).
    async fn preview(&self, inputs: &PlanInputs, of: &PreviewOf) -> PlanReport {
        let mut report = plan_stacks(inputs, Arc::clone(&self.planner)).await;
        let commenter = match &self.backlog {
            BacklogAccess::Off => None,
            BacklogAccess::Unusable(reason) => {
                report.comment = Some(CommentDelivery::failed(
                    report.pr,
                    format!("{reason}; nothing was published"),
                ));
                return report;
            }
            BacklogAccess::Ready(commenter) => Some(commenter),
        };
        if let Some(commenter) = commenter {
            match withheld_because(commenter, inputs, of, &report).await {
                Ok(None) => {}
                Ok(Some(why)) => {
                    tracing::info!("preview not published: {why}");
                    if let Some(preview) = &mut report.preview {
                        preview.withheld = Some(why);
                    }
                    return report;
                }
                Err(err) => {
                    report.comment = Some(CommentDelivery::failed(
                        report.pr,
                        format!(
                            "could not check the pull request's head, so nothing was published: {err}"
                        ),
                    ));
                    return report;
                }
            }
        }
        if let Some(publisher) = &self.publisher {
            if wants_slack(&report) {
                report.cards = publisher
                    .publish(&cards::plan_cards(&report, &self.links))
                    .await;
            } else if let Some(preview) = &mut report.preview {
                preview.slack_quiet = true;
            }
        }
        if let Some(commenter) = commenter {
            report.comment = Some(comment_plan(commenter, &report).await);
        }
        report
    }
}

/// Why a preview must not be published: its pull request is no longer open, or its branch
/// has another head now. The head is read from git (the branch's tip at `origin`), which is
/// never behind the push; Backlog's `branchCommit` only when git cannot tell. `None`: publish.
async fn withheld_because(
    commenter: &Commenter,
    inputs: &PlanInputs,
    of: &PreviewOf,
    report: &PlanReport,
) -> Result<Option<String>, LookupError> {
    let (Some(project), Some(repository)) = (&report.project, &report.repository) else {
        return Ok(None);
    };
    let pr = of.pr;
    let current = commenter
        .client
        .pull_request(project, repository, pr)
        .await?;
    if !current.is_open() {
        return Ok(Some(format!("pull request #{pr} is no longer open")));
    }
    if current.base != of.into {
        return Ok(Some(format!(
            "pull request #{pr} merges into {} now",
            current.base
        )));
    }
    // Git failing is the run failing (retried): Backlog's head may lag, so it cannot decide.
    let tip = match Repo::new(&inputs.repo).branch_tip(&inputs.branch).await? {
        Some(tip) => Some(tip),
        None => current.branch_commit.as_deref().and_then(parse_full),
    };
    Ok(tip.filter(|tip| *tip != report.after).map(|tip| {
        format!(
            "pull request #{pr} has a newer head {}: its preview is published, not this one of {}",
            short(&tip),
            short(&report.after)
        )
    }))
}

/// A merged pull request's last preview, from the bot's preview comment on it; whether its head
/// is what was merged (a parent of the merge commit). `None` when there was none, or it cannot
/// be read (the plan goes on).
async fn last_preview(
    commenter: &Commenter,
    inputs: &PlanInputs,
    report: &PlanReport,
) -> Option<Previewed> {
    let (pr, project, repository) = (
        report.pr?,
        report.project.as_ref()?,
        report.repository.as_ref()?,
    );
    let comment = match commenter
        .find(project, repository, pr, &preview_marker(pr))
        .await
    {
        Ok(found) => found?,
        Err(err) => {
            tracing::warn!(pr, error = %err, "the pull request's preview comment could not be read");
            return None;
        }
    };
    let head = previewed_head(comment.content.as_deref()?, pr)?;
    // Only a merge commit's parents say which head was merged.
    let merged = match Repo::new(&inputs.repo).parents(&report.after).await {
        Ok(parents) if parents.len() > 1 => Some(parents.contains(&head)),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(error = %err, "the merge commit's parents could not be read");
            None
        }
    };
    Some(Previewed { head, merged })
}

/// Comments the plan on its pull request: added, or updated when this commit's plan was
/// commented before. Never fails: what went wrong is in the delivery.
async fn comment_plan(commenter: &Commenter, report: &PlanReport) -> CommentDelivery {
    let (Some(pr), Some(project), Some(repository)) =
        (report.pr, &report.project, &report.repository)
    else {
        return CommentDelivery {
            pr: None,
            status: CommentStatus::Skipped,
            comment_id: None,
            detail: Some("no pull request: a direct push, Slack only".into()),
        };
    };
    let format = match commenter.text_format(project).await {
        Ok(format) => format,
        Err(err) => return CommentDelivery::failed(Some(pr), err.to_string()),
    };
    // The space as the client normalised it, which is where the comment goes.
    let links = Links {
        backlog_url: Some(commenter.client.space_url().to_owned()),
    };
    let content = plan_comment(report, format, &links);
    let result = match &report.preview {
        None => {
            commenter
                .upsert(project, repository, pr, &plan_marker(report), &content)
                .await
        }
        // A pull request that touches no stack gets no preview comment; one that stopped
        // touching any has its comment say so.
        Some(_)
            if report.stacks.is_empty()
                && report.errors.is_empty()
                && report.left_in_place.is_empty() =>
        {
            commenter
                .update_if_present(project, repository, pr, &preview_marker(pr), &content)
                .await
                .map(|updated| {
                    updated.unwrap_or(CommentDelivery {
                        pr: Some(pr),
                        status: CommentStatus::Skipped,
                        comment_id: None,
                        detail: Some(
                            "the pull request touches no stack: no preview comment".into(),
                        ),
                    })
                })
        }
        Some(_) => {
            commenter
                .upsert(project, repository, pr, &preview_marker(pr), &content)
                .await
        }
    };
    result.unwrap_or_else(|err| CommentDelivery::failed(Some(pr), err.to_string()))
}

/// Why the pull request of a push, or the head of a previewed one, could not be looked up.
#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Git(#[from] crate::adapter::git::GitError),
    #[error(transparent)]
    Backlog(#[from] BacklogError),
}

/// The merged pull request the pushed commits came from; `None` for a direct push.
async fn find_pull_request(
    commenter: &Commenter,
    inputs: &PlanInputs,
    project: &str,
    repository: &str,
) -> Result<Option<u64>, LookupError> {
    let (subject, pushed) = prepare::pushed_commits(inputs).await?;
    let found = find_merged(
        &commenter.client,
        project,
        repository,
        &inputs.branch,
        Some(&subject),
        &pushed,
    )
    .await?;
    if let Some(pr) = &found {
        tracing::info!(
            pr = pr.number,
            "pushed commits belong to a merged pull request"
        );
    }
    Ok(found.map(|pr| pr.number))
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

/// Plans every stack the push touched, at most `concurrency` at a time, recording each in the
/// ledger as it settles. Never fails as a function: what went wrong is in the report.
pub async fn plan_stacks(inputs: &PlanInputs, planner: Arc<Planner>) -> PlanReport {
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
        cards: vec![],
        comment: None,
        preview: inputs.preview.as_ref().map(|of| Preview {
            into: of.into.clone(),
            slack: PreviewSlack::default(),
            withheld: None,
            slack_quiet: false,
        }),
        previewed: None,
    };
    let repo = Arc::new(Repo::new(&inputs.repo));
    let provenance = Provenance {
        project: inputs.project.clone(),
        repository: inputs.repository.clone(),
        branch: inputs.branch.clone(),
        pr: inputs.pr,
        commit: inputs.after.clone(),
    };
    let requests = match prepare::prepare(inputs, &repo, &mut report).await {
        Ok(requests) => requests,
        Err(error) => {
            report.errors.push(error.to_string());
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
    let preview_of = inputs.preview.as_ref().map(|of| of.pr);
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
            // A preview records nothing: nothing of it can be executed.
            if let Some(pr) = preview_of {
                let plan = planner.stacks.preview(&request, pr).await;
                progress(&plan, started);
                // Left executable with unmerged code in it: the run fails, whatever else.
                let errors = plan
                    .change_set
                    .as_ref()
                    .filter(|change_set| !change_set.deleted)
                    .map(|change_set| {
                        format!(
                            "{} ({}): preview change set {} could not be deleted: delete it, never execute it",
                            plan.stack, plan.region, change_set.name
                        )
                    })
                    .into_iter()
                    .collect();
                return (plan, errors);
            }
            let Planned {
                mut plan,
                superseding,
            } = planner.stacks.plan(&request, &order).await;
            // Recorded as each stack settles, so an interrupted run loses no record.
            let (marked, errors) = record(&planner.ledger, &plan, &superseding, &provenance).await;
            planner.stacks.supersede(&mut plan, &marked).await;
            progress(&plan, started);
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
    let verdict = plan.verdict.as_ref();
    let status = match plan.classification {
        Classification::Changes | Classification::Drift => ChangeSetStatus::Pending,
        Classification::NoChanges => ChangeSetStatus::NoChanges,
        Classification::Superseded => ChangeSetStatus::Superseded,
        // Blocked, but the delete failed: it still exists and can be executed outside Slack,
        // so it stays tracked as pending.
        Classification::Blocked
            if verdict.is_some_and(|v| v.level == Level::Blocked) && change_set.executable =>
        {
            ChangeSetStatus::Pending
        }
        Classification::Blocked if verdict.is_some_and(|v| v.level == Level::Blocked) => {
            ChangeSetStatus::Blocked
        }
        _ => ChangeSetStatus::Failed,
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
        classification: Some(plan.classification),
        status,
        verdict_reasons: verdict
            .into_iter()
            .flat_map(|verdict| verdict.reasons().map(Finding::summary))
            .collect(),
        waivers: verdict
            .into_iter()
            .flat_map(|verdict| verdict.waived().map(Finding::waiver_line))
            .collect(),
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
fn progress(plan: &StackPlan, started: Instant) {
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
    tracing::info!(
        "plan: {} ({}): {} {detail} [{:.1} s]",
        plan.stack,
        plan.region,
        plan.classification.as_str(),
        started.elapsed().as_secs_f64()
    );
}
