//! One stack's plan against CloudFormation: gate on the stack's state, create (or find) the
//! change set for the commit, wait for it, classify it, clean up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::adapter::cloudformation::{
    Checked, CloudFormation, CloudFormationError, NewChangeSet, Polling, StackRequest,
    TemplateBucket,
};
use crate::core::classify::{
    Assessment, ChangeSetDescription, classify, nested_change_sets, with_nested,
};
use crate::core::gate::{Existing, Gate, Relation, StackSurvey, gate, survey};
use crate::core::names::{change_set_name, commit_of};
use crate::core::parameters::{kept_parameters, with_resolved};
use crate::core::template::{self, MASKED};
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
        let ended = |plan: StackPlan, end: Ended| Planned {
            plan: plan.ended(end.classification, end.reason),
            superseding: vec![],
        };
        plan.notes.extend(request.notes.iter().cloned());
        let (region, stack) = (request.region.as_str(), request.stack.as_str());
        let state = match self.cloudformation.stack_state(region, stack).await {
            Ok(state) => state,
            Err(err) => return ended(plan, Ended::failed(err)),
        };
        let status = state.as_ref().map(|state| state.status.as_str());
        let update = match gate(status) {
            Gate::Create => false,
            Gate::Update => true,
            Gate::Busy(reason) => {
                let end = Ended::new(Classification::Busy, reason);
                return ended(plan, end);
            }
            Gate::Blocked(reason) => {
                let end = Ended::new(Classification::Blocked, reason);
                return ended(plan, end);
            }
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
                return ended(plan, Ended::failed(missing));
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
        let name = change_set_name(&request.commit);
        let reuse = if status.is_some() {
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
        let mut template_url = None;
        let created = match reuse {
            Some(found) => Created {
                arn: found.handle().to_owned(),
                // Known once described: a reused change set is drift-aware only if it says so.
                drift_aware: false,
                note: Some(format!("change set {name} already existed: reused")),
            },
            None => {
                if request.template.needs_s3() {
                    match self.upload(request).await {
                        Ok(url) => template_url = Some(url),
                        Err(end) => return ended(plan, end),
                    }
                }
                match self
                    .create(request, &name, update, &kept, template_url.as_deref())
                    .await
                {
                    Ok(created) => created,
                    Err(end) => return ended(plan, end),
                }
            }
        };
        plan.notes.extend(created.note);
        let mut change_set = ChangeSetRef {
            name: name.clone(),
            arn: Some(created.arn.clone()),
            stack_id: None,
            change_set_type: if update { "UPDATE" } else { "CREATE" }.to_owned(),
            drift_aware: created.drift_aware,
            executable: false,
            template_url,
        };
        let description = match self
            .cloudformation
            .describe_settled(region, stack, &created.arn, self.polling)
            .await
        {
            Ok(description) => description,
            Err(err) => {
                plan.change_set = Some(change_set);
                return ended(plan, Ended::failed(err));
            }
        };
        for parameter in &mut plan.parameters {
            let resolved = description
                .parameters
                .iter()
                .flatten()
                .find(|found| found.parameter_key.as_deref() == Some(parameter.key.as_str()))
                .and_then(|found| found.resolved_value.as_deref());
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
        match (plan.classification, change_set_arn(&plan)) {
            (Classification::Changes | Classification::Drift, arn) => {
                let checks = match arn {
                    Some(arn) => self.checks(region, &arn).await,
                    None => (vec![], vec![]),
                };
                self.review(request, &kept_values, &mut plan, checks).await;
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
                    self.review(request, &kept_values, &mut plan, checks).await;
                }
            }
            _ => {}
        }
        if matches!(
            plan.classification,
            Classification::NoChanges | Classification::Failed
        ) {
            // FAILED change sets count toward the stack's limit and are never executable.
            self.discard(&mut plan).await;
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

    /// Gives the change set its safety verdict; a blocked one is deleted, so nothing can
    /// execute it, and its stack's plan says why.
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
            self.discard(plan).await;
            if plan.change_set.as_ref().is_some_and(|c| c.executable) {
                plan.reason = Some(format!(
                    "{BLOCKED_BY_VERDICT}, but the change set could not be deleted: delete it, do not execute it"
                ));
            }
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
        let Some(change_set) = plan.change_set.as_mut() else {
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
            Ok(()) => change_set.executable = false,
            Err(err) => plan
                .notes
                .push(format!("could not delete the change set: {err}")),
        }
    }

    async fn upload(&self, request: &StackRequest) -> Result<String, Ended> {
        let Some(bucket) = &self.bucket else {
            return Err(Ended::failed(format!(
                "template is {} bytes, over CloudFormation's 51,200-byte TemplateBody limit: set CFN_CHATOPS_TEMPLATE_BUCKET so it can go through S3",
                request.template.body.len()
            )));
        };
        bucket.upload(request).await.map_err(Ended::failed)
    }

    /// CreateChangeSet, drift-aware for updates, falling back to a standard change set (with a
    /// note) when the service refuses the mode.
    async fn create(
        &self,
        request: &StackRequest,
        name: &str,
        update: bool,
        kept: &[String],
        template_url: Option<&str>,
    ) -> Result<Created, Ended> {
        let new = |revert_drift| NewChangeSet {
            request,
            name,
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
                format!(
                    "{message}: add `capabilities` to the stack's entry in .cfn-chatops.yml (`stacks: [{{template: {}, capabilities: [...]}}]`)",
                    request.template_path
                ),
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
