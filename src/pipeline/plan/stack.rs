//! One stack's plan against CloudFormation: gate on the stack's state, create (or find) the
//! change set for the commit, wait for it, classify it, clean up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::adapter::cloudformation::{
    Checked, CloudFormation, CloudFormationError, NewChangeSet, Polling, StackRequest,
    TemplateBucket,
};
use crate::core::classify::{
    Assessment, ChangeSetDescription, classify, declared_additions, nested_change_sets, with_nested,
};
use crate::core::gate::{Existing, Gate, Relation, StackSurvey, gate, preview_leftovers, survey};
use crate::core::names::{change_set_name, client_token, commit_of, preview_change_set_name};
use crate::core::parameters::{PUBLIC_SSM_PREFIX, kept_parameters, with_resolved};
use crate::core::template::{self, MASKED, unacknowledged};
use crate::core::verdict::{Subject, checks, unused_waivers, verdict};
use crate::model::report::{ChangeSetRef, Classification, ParameterValue, StackPlan};
use crate::model::verdict::{BLOCKED_BY_VERDICT, Finding, Level};

/// How the template CloudFormation has for a stack is named in messages.
const DEPLOYED_TEMPLATE: &str = "the deployed template";

/// Levels of nested stacks followed below a root.
const MAX_NESTING: usize = 5;

/// Places another commit relative to the planned one (answered by git).
pub type CommitOrder =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Relation> + Send>> + Send + Sync>;

/// The CloudFormation side of planning one stack.
pub struct StackPlanner {
    pub cloudformation: CloudFormation,
    pub bucket: Option<TemplateBucket>,
    pub polling: Polling,
}

/// One stack's plan, and the older change sets it supersedes: the caller marks them in the
/// ledger first, then deletes them ([`StackPlanner::supersede`]), so an interruption never
/// leaves a record saying "pending" for a change set that is gone.
pub struct Planned {
    pub plan: StackPlan,
    pub superseding: Vec<Existing>,
}

/// What CreateChangeSet gave.
struct Created {
    arn: String,
    drift_aware: bool,
    note: Option<String>,
}

/// What the stack's state allows.
struct Start {
    /// The stack exists (perhaps only as an empty `REVIEW_IN_PROGRESS` one).
    exists: bool,
    /// An UPDATE change set; else CREATE.
    update: bool,
    /// Parameters kept at their current value (`UsePreviousValue`).
    kept: Vec<String>,
    /// Those, with the values they have now (NoEcho ones masked).
    kept_values: Vec<(String, String)>,
}

/// A stack's plan with nothing found yet: what the request says of it.
fn new_plan(request: &StackRequest) -> StackPlan {
    let mut plan = StackPlan {
        renamed_from: request.renamed_from.clone(),
        capabilities: request
            .capabilities
            .iter()
            .map(|capability| capability.as_str().to_owned())
            .collect(),
        parameters: request
            .template
            .masked(&request.parameters)
            .into_iter()
            .map(|(key, value)| ParameterValue { key, value })
            .collect(),
        ..StackPlan::new(
            &request.stack,
            &request.region,
            &request.template_path,
            Classification::Failed,
        )
    };
    plan.notes.extend(request.notes.iter().cloned());
    plan
}

/// What to do when CloudFormation wants capabilities the stack's plan did not acknowledge.
fn capabilities_advice(request: &StackRequest) -> String {
    format!(
        "add `capabilities` to the stack's entry in .cfn-chatops.yml (`stacks: [{{template: {}, capabilities: [...]}}]`)",
        request.template_path
    )
}

/// Why a preview ended early, and what to do about it before merging.
fn before_merging(end: Ended) -> String {
    let advice = match end.classification {
        Classification::Busy => {
            " Before merging: wait until the stack settles; the next push to the pull request previews it again. A merge while it is busy gets a busy plan, to be re-run once it settles."
        }
        Classification::Blocked => {
            " Before merging: fix the stack as said, or the plan after the merge is blocked too."
        }
        _ => "",
    };
    format!("{}{advice}", end.reason)
}

/// A change set of ours, not yet described.
fn change_set_ref(name: &str, update: bool) -> ChangeSetRef {
    ChangeSetRef {
        name: name.to_owned(),
        arn: None,
        stack_id: None,
        change_set_type: if update { "UPDATE" } else { "CREATE" }.to_owned(),
        drift_aware: false,
        executable: false,
        template_url: None,
        deleted: false,
    }
}

/// A stack's plan ended early, with its class and reason.
struct Ended {
    classification: Classification,
    reason: String,
}

impl Ended {
    fn new(classification: Classification, reason: impl ToString) -> Self {
        Self {
            classification,
            reason: reason.to_string(),
        }
    }

    fn failed(reason: impl ToString) -> Self {
        Self::new(Classification::Failed, reason)
    }
}

impl StackPlanner {
    /// Plans one stack. Never returns an error: every failure is a `failed` stack plan.
    /// `order` places another commit relative to the planned one.
    pub async fn plan(&self, request: &StackRequest, order: &CommitOrder) -> Planned {
        let mut plan = new_plan(request);
        let ended = |plan: StackPlan, end: Ended| Planned {
            plan: plan.ended(end.classification, end.reason),
            superseding: vec![],
        };
        let start = match self.start(request, &mut plan).await {
            Ok(start) => start,
            Err(end) => return ended(plan, end),
        };
        let name = change_set_name(&request.commit);
        let reuse = if start.exists {
            match self.survey(request, &name, order).await {
                Ok(StackSurvey::Stale { newer }) => {
                    let end = Ended::new(
                        Classification::Superseded,
                        format!("a newer commit already has change set {newer}: nothing planned"),
                    );
                    return ended(plan, end);
                }
                Ok(StackSurvey::Executed { name }) => {
                    let end = Ended::new(
                        Classification::NoChanges,
                        format!("change set {name} for this commit was already executed"),
                    );
                    return ended(plan, end);
                }
                Ok(StackSurvey::Proceed { reuse, .. }) => reuse,
                Err(err) => return ended(plan, Ended::failed(err)),
            }
        } else {
            None
        };
        let change_set = match reuse {
            Some(found) => {
                plan.notes
                    .push(format!("change set {name} already existed: reused"));
                // Known once described: a reused change set is drift-aware only if it says so.
                ChangeSetRef {
                    arn: Some(found.handle().to_owned()),
                    drift_aware: false,
                    ..change_set_ref(&name, start.update)
                }
            }
            None => match self
                .create_for(
                    request,
                    &mut plan,
                    &name,
                    &client_token(&request.stack, &request.commit),
                    &start,
                )
                .await
            {
                Ok(change_set) => change_set,
                Err(end) => return ended(plan, end),
            },
        };
        if let Err(end) = self
            .assess(request, &mut plan, change_set, &start.kept_values, false)
            .await
        {
            return ended(plan, end);
        }
        if matches!(
            plan.classification,
            Classification::NoChanges | Classification::Failed | Classification::Blocked
        ) {
            // Blocked ones must not be executed; FAILED ones count toward the stack's limit and
            // never can be.
            self.discard(&mut plan).await;
            if plan.classification == Classification::Blocked
                && plan.change_set.as_ref().is_some_and(|c| c.executable)
            {
                plan.reason = Some(format!(
                    "{BLOCKED_BY_VERDICT}, but the change set could not be deleted: delete it, do not execute it"
                ));
            }
        }
        // Listed again now that this change set exists: a run for another commit may have
        // created one meanwhile (concurrent webhooks), and either side must see the other.
        let superseding = match self.survey(request, &name, order).await {
            Ok(StackSurvey::Stale { newer }) => {
                if plan.change_set.as_ref().is_some_and(|c| c.executable) {
                    self.discard(&mut plan).await;
                }
                let end = Ended::new(
                    Classification::Superseded,
                    format!(
                        "a newer commit got change set {newer} while this one was planned: this one was deleted"
                    ),
                );
                return ended(plan, end);
            }
            Ok(StackSurvey::Proceed { older, .. }) => older,
            Ok(StackSurvey::Executed { .. }) => vec![],
            Err(err) => {
                plan.notes
                    .push(format!("older change sets not checked: {err}"));
                vec![]
            }
        };
        Planned { plan, superseding }
    }

    /// Previews one stack for pull request `pr`, before its merge: the same review as a merge
    /// plan, but nothing is left to execute. An existing stack gets a drift-aware change set
    /// that is deleted as soon as it is described; a new stack only has its template validated
    /// (a CREATE change set would leave a `REVIEW_IN_PROGRESS` stack behind). Never returns an
    /// error: every failure is a `failed` stack plan.
    pub async fn preview(&self, request: &StackRequest, pr: u64) -> StackPlan {
        let mut plan = new_plan(request);
        let start = match self.start(request, &mut plan).await {
            Ok(start) => start,
            Err(end) => return plan.ended(end.classification, before_merging(end)),
        };
        if !start.update {
            return self.preview_new(request, plan, &start).await;
        }
        let name = preview_change_set_name(pr, &request.commit);
        self.delete_preview_leftovers(request, &name, &mut plan)
            .await;
        // Its own token per run: a token CloudFormation saw for a change set since deleted
        // must not stand for the new one.
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let token = client_token(&request.stack, &format!("{name}-{started}"));
        let change_set = match self
            .create_for(request, &mut plan, &name, &token, &start)
            .await
        {
            Ok(change_set) => change_set,
            Err(end) => {
                // The request may have reached CloudFormation before it failed: make sure
                // nothing of it is left.
                match self
                    .cloudformation
                    .delete_change_set(&request.region, &request.stack, &name)
                    .await
                {
                    Ok(()) => plan.notes.push(format!(
                        "deleted preview change set {name}, made although its creation was reported failed"
                    )),
                    Err(err) if err.is_not_found() => {}
                    Err(err) => plan.notes.push(format!(
                        "could not make sure no preview change set {name} was left: {err}"
                    )),
                }
                return plan.ended(end.classification, before_merging(end));
            }
        };
        let assessed = self
            .assess(request, &mut plan, change_set, &start.kept_values, true)
            .await;
        // Deleted at once, whatever it showed: a preview is never executable.
        self.discard(&mut plan).await;
        if let Err(end) = assessed {
            plan = plan.ended(end.classification, end.reason);
        }
        if plan.change_set.as_ref().is_some_and(|c| !c.deleted) {
            let why = plan
                .reason
                .take()
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default();
            plan.reason = Some(format!(
                "the preview change set {name} could not be deleted: delete it, never execute it{why}"
            ));
        }
        plan
    }

    /// A new stack's preview: CloudFormation validates the template, and the resources it
    /// declares are reviewed as `Add`. Nothing is created.
    async fn preview_new(
        &self,
        request: &StackRequest,
        mut plan: StackPlan,
        start: &Start,
    ) -> StackPlan {
        let template_url = match self.template_url(request).await {
            Ok(url) => url,
            Err(end) => return plan.ended(end.classification, end.reason),
        };
        let validated = match self
            .cloudformation
            .validate_template(
                &request.region,
                &request.template.body,
                template_url.as_deref(),
            )
            .await
        {
            Ok(validated) => validated,
            Err(err) => {
                plan.notes.push("new stack: nothing was created".to_owned());
                return plan.ended(Classification::Failed, err.detail());
            }
        };
        // What CreateChangeSet would refuse after the merge, said now.
        let missing = unacknowledged(&validated.capabilities, &request.capabilities);
        if !missing.is_empty() {
            let reason = format!(
                "CloudFormation says the template needs {}{}: {}",
                missing.join(", "),
                validated
                    .capabilities_reason
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default(),
                capabilities_advice(request)
            );
            return plan.ended(Classification::Failed, reason);
        }
        let assessment = declared_additions(&request.template);
        plan.classification = assessment.classification;
        plan.counts = assessment.counts;
        plan.changes = assessment.changes;
        plan.notes.extend(assessment.notes);
        let unchecked = vec![
            "CloudFormation's change-set validation and Hooks: they run on the change set made after the merge".to_owned(),
        ];
        self.review(request, &start.kept_values, &mut plan, (vec![], unchecked))
            .await;
        plan
    }

    /// Deletes what earlier previews of this stack left behind (a crashed run): one of this
    /// very name, and any other older than a preview can take (so never one still in use).
    async fn delete_preview_leftovers(
        &self,
        request: &StackRequest,
        name: &str,
        plan: &mut StackPlan,
    ) {
        let existing = match self
            .cloudformation
            .our_change_sets(&request.region, &request.stack)
            .await
        {
            Ok(existing) => existing,
            Err(err) => {
                plan.notes
                    .push(format!("earlier preview change sets not checked: {err}"));
                return;
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() as i64);
        // A preview holds its change set no longer than the wait for it, and seconds more.
        let in_use_for = self.polling.timeout.as_secs() as i64 + 600;
        for leftover in preview_leftovers(&existing, name, now, in_use_for) {
            match self
                .cloudformation
                .delete_change_set(&request.region, &request.stack, leftover.handle())
                .await
            {
                Ok(()) => plan.notes.push(format!(
                    "deleted preview change set {}, left behind by an earlier preview",
                    leftover.name
                )),
                Err(err) => plan.notes.push(format!(
                    "could not delete preview change set {}, left behind by an earlier preview: {err}",
                    leftover.name
                )),
            }
        }
    }

    /// What the stack's state allows, and the parameters it keeps (shown in the plan as they
    /// are now).
    async fn start(&self, request: &StackRequest, plan: &mut StackPlan) -> Result<Start, Ended> {
        let (region, stack) = (request.region.as_str(), request.stack.as_str());
        let state = self
            .cloudformation
            .stack_state(region, stack)
            .await
            .map_err(Ended::failed)?;
        let status = state.as_ref().map(|state| state.status.as_str());
        let update = match gate(status) {
            Gate::Create => false,
            Gate::Update => true,
            Gate::Busy(reason) => return Err(Ended::new(Classification::Busy, reason)),
            Gate::Blocked(reason) => return Err(Ended::new(Classification::Blocked, reason)),
        };
        let current = state
            .as_ref()
            .filter(|_| update)
            .map(|state| state.parameters.as_slice());
        let kept = match kept_parameters(
            &request.template,
            &request.parameters,
            &request.keep,
            current,
        ) {
            Ok(kept) => kept,
            Err(missing) => {
                plan.notes.push("nothing was created for this stack".into());
                return Err(Ended::failed(missing));
            }
        };
        // What the kept parameters are now, as the review shows them and the rules read them.
        let kept_values: Vec<(String, String)> = kept
            .iter()
            .map(|key| {
                let value = current
                    .into_iter()
                    .flatten()
                    .find(|(current, _)| current == key)
                    .map(|(_, value)| value.as_str())
                    .filter(|_| !request.template.is_no_echo(key))
                    .unwrap_or(MASKED);
                (key.clone(), value.to_owned())
            })
            .collect();
        plan.parameters
            .extend(kept_values.iter().map(|(key, value)| ParameterValue {
                key: key.clone(),
                value: format!("{value} (kept)"),
            }));
        Ok(Start {
            exists: state.is_some(),
            update,
            kept,
            kept_values,
        })
    }

    /// Uploads the template when it needs S3, then creates the change set (a note in the plan
    /// when it is not what was asked for).
    async fn create_for(
        &self,
        request: &StackRequest,
        plan: &mut StackPlan,
        name: &str,
        client_token: &str,
        start: &Start,
    ) -> Result<ChangeSetRef, Ended> {
        let template_url = self.template_url(request).await?;
        let created = self
            .create(
                request,
                name,
                client_token,
                start.update,
                &start.kept,
                template_url.as_deref(),
            )
            .await?;
        plan.notes.extend(created.note);
        Ok(ChangeSetRef {
            arn: Some(created.arn),
            drift_aware: created.drift_aware,
            template_url,
            ..change_set_ref(name, start.update)
        })
    }

    /// Waits for the change set, reads it (with its nested stacks'), classifies it, and gives
    /// it its safety verdict: the review, the same for merge plans and previews. `Err`: it
    /// could not be read (the plan keeps the change set, so it can be deleted).
    async fn assess(
        &self,
        request: &StackRequest,
        plan: &mut StackPlan,
        mut change_set: ChangeSetRef,
        kept_values: &[(String, String)],
        preview: bool,
    ) -> Result<(), Ended> {
        let (region, stack) = (request.region.as_str(), request.stack.as_str());
        let handle = change_set
            .arn
            .clone()
            .unwrap_or_else(|| change_set.name.clone());
        let description = match self
            .cloudformation
            .describe_settled(region, stack, &handle, self.polling)
            .await
        {
            Ok(description) => description,
            Err(err) => {
                plan.change_set = Some(change_set);
                return Err(Ended::failed(err));
            }
        };
        for parameter in &mut plan.parameters {
            let resolved = description
                .parameters
                .iter()
                .flatten()
                .find(|found| found.parameter_key.as_deref() == Some(parameter.key.as_str()))
                .and_then(|found| found.resolved_value.as_deref())
                // An unmerged template may name any SSM parameter the bot can read: a preview
                // shows only AWS's public ones resolved.
                .filter(|_| !preview || parameter.value.starts_with(PUBLIC_SSM_PREFIX));
            parameter.value = with_resolved(
                &request.template,
                &parameter.key,
                &parameter.value,
                resolved,
            );
        }
        let assessment = self
            .with_nested(region, &description, classify(&description))
            .await;
        change_set.arn = description.change_set_id.clone().or(change_set.arn);
        change_set.stack_id = description.stack_id.clone();
        change_set.executable = description.is_executable();
        if let Some(mode) = &description.deployment_mode {
            change_set.drift_aware = mode == "REVERT_DRIFT";
        }
        plan.classification = assessment.classification;
        plan.reason = assessment.reason;
        plan.warnings = assessment.warnings;
        plan.incomplete = assessment.incomplete;
        plan.counts = assessment.counts;
        plan.changes = assessment.changes;
        // A value set from a NoEcho parameter never leaves the planner, whatever
        // CloudFormation's answer holds.
        for property in plan
            .changes
            .iter_mut()
            .flat_map(|c| c.properties.iter_mut())
        {
            if property.change_source.as_deref() == Some("ParameterReference")
                && property
                    .causing_entity
                    .as_ref()
                    .is_some_and(|name| request.template.is_no_echo(name))
            {
                for value in [&mut property.before, &mut property.after] {
                    if value.is_some() {
                        *value = Some(MASKED.into());
                    }
                }
            }
        }
        plan.drift = assessment.drift;
        plan.notes.extend(assessment.notes);
        plan.change_set = Some(change_set);
        match (plan.classification, change_set_arn(plan)) {
            (Classification::Changes | Classification::Drift, arn) => {
                let checks = match arn {
                    Some(arn) => self.checks(region, &arn).await,
                    None => (vec![], vec![]),
                };
                self.review(request, kept_values, plan, checks).await;
            }
            // A change set CloudFormation failed because its pre-deployment validation or a
            // Hook in FAIL mode refused it is blocked, with their words; any other failure
            // keeps CloudFormation's reason.
            (Classification::Failed, Some(arn)) => {
                let checks = self.checks(region, &arn).await;
                if checks
                    .0
                    .iter()
                    .any(|finding| finding.level == Level::Blocked)
                {
                    self.review(request, kept_values, plan, checks).await;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Follows the nested stacks' change sets, level by level (each level's reads at the same
    /// time), and adds what they change to the root's assessment.
    async fn with_nested(
        &self,
        region: &str,
        root: &ChangeSetDescription,
        assessment: Assessment,
    ) -> Assessment {
        let mut pending = nested_change_sets(root, "");
        let (mut read, mut unreadable) = (Vec::new(), Vec::new());
        for _ in 0..MAX_NESTING {
            if pending.is_empty() {
                break;
            }
            let arns: Vec<String> = pending.iter().map(|(_, arn)| arn.clone()).collect();
            let answers = self.cloudformation.describe_nested(region, &arns).await;
            let mut next = Vec::new();
            for ((path, _), answer) in pending.into_iter().zip(answers) {
                match answer {
                    Ok(description) => {
                        next.extend(nested_change_sets(&description, &path));
                        read.push((path, description));
                    }
                    Err(err) => unreadable.push((path, err.to_string())),
                }
            }
            pending = next;
        }
        unreadable.extend(
            pending
                .into_iter()
                .map(|(path, _)| (path, format!("nested more than {MAX_NESTING} levels deep"))),
        );
        with_nested(assessment, &read, &unreadable)
    }

    /// Gives the change set its safety verdict; a blocked one is to be deleted by the caller,
    /// so nothing can execute it, and its stack's plan says why.
    /// `checks`: CloudFormation's validation and Hook findings, and what of them could not
    /// be read.
    async fn review(
        &self,
        request: &StackRequest,
        kept: &[(String, String)],
        plan: &mut StackPlan,
        (checks, mut unchecked): (Vec<Finding>, Vec<String>),
    ) {
        // A CREATE change set makes a stack that has nothing yet.
        let updates = plan
            .change_set
            .as_ref()
            .is_some_and(|c| c.change_set_type == "UPDATE");
        let (region, stack) = (request.region.as_str(), request.stack.as_str());
        let deployed = match updates {
            true => Some(self.cloudformation.deployed_template(region, stack).await),
            false => None,
        };
        // What the change set changes from: the template CloudFormation has deployed (a
        // blocked commit's template never was); the base commit's only when it cannot be read.
        let before = match deployed {
            None => None,
            Some(read) => {
                let parsed = read.map_err(|err| err.to_string()).and_then(|body| {
                    template::inspect(DEPLOYED_TEMPLATE, body.as_bytes())
                        .map_err(|err| err.to_string())
                        .and_then(|found| found.ok_or_else(|| "not a template".to_owned()))
                });
                match parsed {
                    Ok(deployed) => Some(deployed.document),
                    Err(why) => {
                        unchecked.push(format!(
                            "{DEPLOYED_TEMPLATE} could not be read ({why}): compared with the template at the base commit"
                        ));
                        request.rules.before.clone()
                    }
                }
            }
        };
        // Kept NoEcho values are masked already: only the others are added.
        let mut parameters = request.template.masked_for_rules(&request.parameters);
        parameters.extend(
            kept.iter()
                .filter(|(key, _)| !request.template.is_no_echo(key))
                .cloned(),
        );
        let subject = Subject {
            changes: &plan.changes,
            before: before.as_ref(),
            after: &request.template.document,
            parameters: &parameters,
        };
        let verdict = verdict(&subject, stack, &request.rules, checks, unchecked);
        for waiver in unused_waivers(&request.rules.waivers, stack, &verdict.findings) {
            let on = waiver
                .resource
                .as_ref()
                .map(|resource| format!(" on {resource}"))
                .unwrap_or_default();
            plan.notes.push(format!(
                "the waiver of {}{on} in .cfn-chatops.yml matched no finding: remove it if the risk is gone, or check the rule's name",
                waiver.rule
            ));
        }
        if verdict.level == Level::Blocked {
            plan.classification = Classification::Blocked;
            // The reasons are the verdict's, shown with it.
            plan.reason = Some(BLOCKED_BY_VERDICT.into());
        }
        plan.verdict = Some(verdict);
    }

    /// CloudFormation's validations' and Hooks' findings on the change set, and what of them
    /// could not be read.
    async fn checks(&self, region: &str, change_set: &str) -> (Vec<Finding>, Vec<String>) {
        let read = self
            .cloudformation
            .change_set_checks(region, change_set)
            .await;
        let mut unchecked = Vec::new();
        let validations = checked_or_noted(
            read.validations,
            "CloudFormation's validation results",
            &mut unchecked,
        );
        let hooks = checked_or_noted(read.hooks, "CloudFormation Hook results", &mut unchecked);
        let (findings, running) = checks::findings(&validations, &hooks);
        unchecked.extend(running);
        (findings, unchecked)
    }

    /// Lists the bot's change sets on the stack and decides what they mean.
    async fn survey(
        &self,
        request: &StackRequest,
        name: &str,
        order: &CommitOrder,
    ) -> Result<StackSurvey, CloudFormationError> {
        let existing = self
            .cloudformation
            .our_change_sets(&request.region, &request.stack)
            .await?;
        let mut relations = Vec::with_capacity(existing.len());
        for other in &existing {
            relations.push(match commit_of(&other.name) {
                Some(commit) if other.name != name => order(commit.to_owned()).await,
                _ => Relation::Unrelated,
            });
        }
        Ok(survey(name, &existing, &relations))
    }

    /// Deletes change sets this plan superseded (after the ledger marked them).
    pub async fn supersede(&self, plan: &mut StackPlan, older: &[Existing]) {
        for other in older {
            match self
                .cloudformation
                .delete_change_set(&plan.region, &plan.stack, other.handle())
                .await
            {
                Ok(()) => plan.superseded.push(other.name.clone()),
                Err(err) => plan
                    .notes
                    .push(format!("could not delete superseded {}: {err}", other.name)),
            }
        }
    }

    /// Deletes the plan's own change set; it is then no longer executable (or a note says why
    /// it could not be deleted).
    async fn discard(&self, plan: &mut StackPlan) {
        let Some(change_set) = plan.change_set.as_mut().filter(|c| !c.deleted) else {
            return;
        };
        let handle = change_set
            .arn
            .clone()
            .unwrap_or_else(|| change_set.name.clone());
        match self
            .cloudformation
            .delete_change_set(&plan.region, &plan.stack, &handle)
            .await
        {
            // Gone already (executing another change set of the stack deletes the rest).
            Ok(()) => {
                change_set.executable = false;
                change_set.deleted = true;
            }
            Err(err) if err.is_not_found() => {
                change_set.executable = false;
                change_set.deleted = true;
            }
            Err(err) => plan
                .notes
                .push(format!("could not delete the change set: {err}")),
        }
    }

    /// The template's S3 URL, uploaded there when it is too large for a request body; `None`
    /// when it is not.
    async fn template_url(&self, request: &StackRequest) -> Result<Option<String>, Ended> {
        if !request.template.needs_s3() {
            return Ok(None);
        }
        let Some(bucket) = &self.bucket else {
            return Err(Ended::failed(format!(
                "template is {} bytes, over CloudFormation's 51,200-byte TemplateBody limit: set CFN_CHATOPS_TEMPLATE_BUCKET so it can go through S3",
                request.template.body.len()
            )));
        };
        bucket
            .upload(request)
            .await
            .map(Some)
            .map_err(Ended::failed)
    }

    /// CreateChangeSet, drift-aware for updates, falling back to a standard change set (with a
    /// note) when the service refuses the mode.
    async fn create(
        &self,
        request: &StackRequest,
        name: &str,
        client_token: &str,
        update: bool,
        kept: &[String],
        template_url: Option<&str>,
    ) -> Result<Created, Ended> {
        let new = |revert_drift| NewChangeSet {
            request,
            name,
            client_token,
            update,
            template_url,
            revert_drift,
            kept,
        };
        let mut result = self.cloudformation.create_change_set(&new(update)).await;
        let mut note = None;
        let refuses_the_mode = |message: &str| {
            let lower = message.to_ascii_lowercase();
            lower.contains("deploymentmode") || lower.contains("revert_drift")
        };
        if update
            && let Err(err) = &result
            && err.code() == Some("ValidationError")
            && err.message().is_some_and(refuses_the_mode)
        {
            note = Some(format!(
                "drift-aware change set refused ({}): created a standard change set, which does not show drift",
                err.message().unwrap_or_default()
            ));
            result = self.cloudformation.create_change_set(&new(false)).await;
        }
        let err = match result {
            Ok(arn) => {
                return Ok(Created {
                    arn,
                    drift_aware: update && note.is_none(),
                    note,
                });
            }
            Err(err) => err,
        };
        let end = |classification, reason: String| Err(Ended::new(classification, reason));
        let message = err.message().unwrap_or_default().to_owned();
        match err.code().unwrap_or_default() {
            // Created by a concurrent run of the same commit: read that one.
            "AlreadyExistsException" => Ok(Created {
                arn: name.to_owned(),
                drift_aware: false,
                note: Some(format!("change set {name} already existed: reused")),
            }),
            "InsufficientCapabilitiesException" => end(
                Classification::Failed,
                format!("{message}: {}", capabilities_advice(request)),
            ),
            "LimitExceededException" => end(
                Classification::Failed,
                format!(
                    "{message}: delete change sets this stack no longer needs (aws cloudformation list-change-sets --stack-name {})",
                    request.stack
                ),
            ),
            "ValidationError" if message.contains("_IN_PROGRESS state") => {
                end(Classification::Busy, message)
            }
            "ValidationError" if message.contains("ROLLBACK_COMPLETE state") => {
                end(Classification::Blocked, message)
            }
            // The service's code and message, as it said them.
            _ => end(Classification::Failed, err.detail()),
        }
    }
}

impl StackPlan {
    fn ended(mut self, classification: Classification, reason: String) -> StackPlan {
        self.classification = classification;
        self.reason = Some(reason);
        self
    }
}

/// What was read, or an empty list and a line saying why it could not be.
fn checked_or_noted<T>(
    checked: Checked<Vec<T>>,
    what: &str,
    unchecked: &mut Vec<String>,
) -> Vec<T> {
    match checked {
        Checked::Read(read) => read,
        Checked::NotAvailable => {
            unchecked.push(format!("{what}: not offered by this endpoint"));
            vec![]
        }
        Checked::Failed(err) => {
            unchecked.push(format!("{what}: could not be read ({err})"));
            vec![]
        }
    }
}

fn change_set_arn(plan: &StackPlan) -> Option<String> {
    plan.change_set.as_ref().and_then(|c| c.arn.clone())
}
