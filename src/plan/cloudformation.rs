//! One stack's plan against CloudFormation: gate on the stack's state, create (or find) the
//! change set for the commit, wait with backoff, read every page, classify, clean up.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::types::{
    Capability as SdkCapability, ChangeSetSummary, ChangeSetType, DeploymentMode, Parameter, Tag,
};

use super::classify::{
    Change, ChangeSetDescription, Detail, ResourceChange, Target, TargetDrift, classify,
};
use super::names::{CHANGE_SET_PREFIX, change_set_name, client_token, commit_of};
use super::report::{ChangeSetRef, Classification, StackPlan};
use super::template::{Capability, Template};

/// Everything needed to plan one stack.
#[derive(Debug, Clone)]
pub struct StackRequest {
    pub stack: String,
    pub region: String,
    pub template_path: String,
    pub renamed_from: Option<String>,
    pub template: Template,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub capabilities: Vec<Capability>,
    pub role_arn: Option<String>,
    pub commit: String,
    pub description: String,
}

/// Where templates over the TemplateBody limit are uploaded.
#[derive(Debug, Clone)]
pub struct TemplateBucket {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    /// The bucket's region, for its URL (stacks may be in other regions).
    pub region: String,
}

/// How long and how often to wait for a change set.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub timeout: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            timeout: Duration::from_secs(900),
        }
    }
}

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

/// CloudFormation clients per region, sharing one SDK configuration.
pub struct CloudFormation {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
    pub bucket: Option<TemplateBucket>,
    pub polling: Polling,
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

/// Places another commit relative to the planned one (answered by git).
pub type CommitOrder =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Relation> + Send>> + Send + Sync>;

/// A change set of ours found on the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub name: String,
    pub arn: Option<String>,
    pub execution_status: Option<String>,
}

impl Existing {
    /// Could still be executed by a button.
    fn is_pending(&self) -> bool {
        !matches!(
            self.execution_status.as_deref(),
            Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE" | "EXECUTE_FAILED" | "OBSOLETE")
        )
    }

    fn is_executed(&self) -> bool {
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

/// What the change sets already on a stack mean for planning `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
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
pub fn decide(name: &str, existing: &[Existing], relations: &[Relation]) -> Decision {
    let pairs = || existing.iter().zip(relations);
    if let Some((newer, _)) =
        pairs().find(|(other, relation)| other.name != name && **relation == Relation::Newer)
    {
        return Decision::Stale {
            newer: newer.name.clone(),
        };
    }
    let reuse = existing.iter().find(|other| other.name == name).cloned();
    if let Some(executed) = reuse.as_ref().filter(|found| found.is_executed()) {
        return Decision::Executed {
            name: executed.name.clone(),
        };
    }
    Decision::Proceed {
        reuse,
        older: pairs()
            .filter(|(other, relation)| **relation == Relation::Older && other.is_pending())
            .map(|(other, _)| other.clone())
            .collect(),
    }
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

/// One stack's plan, and the older change sets it supersedes: the caller marks them in the
/// ledger first, then deletes them ([`CloudFormation::supersede`]), so an interruption never
/// leaves a record saying "pending" for a change set that is gone.
pub struct Planned {
    pub plan: StackPlan,
    pub superseding: Vec<Existing>,
}

impl CloudFormation {
    pub fn new(sdk: SdkConfig, bucket: Option<TemplateBucket>, polling: Polling) -> Self {
        Self {
            sdk,
            clients: Mutex::new(HashMap::new()),
            bucket,
            polling,
        }
    }

    /// One client per region, made once.
    fn client(&self, region: &str) -> Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| crate::aws::cloudformation(&self.sdk, region))
            .clone()
    }

    /// Plans one stack. Never returns an error: every failure is a `failed` stack plan.
    /// `order` places another commit relative to the planned one.
    pub async fn plan(&self, request: &StackRequest, order: &CommitOrder) -> Planned {
        let mut plan = StackPlan {
            renamed_from: request.renamed_from.clone(),
            ..StackPlan::new(
                &request.stack,
                &request.region,
                &request.template_path,
                Classification::Failed,
            )
        };
        let ended = |plan: StackPlan, classification, reason| Planned {
            plan: plan.ended(classification, reason),
            superseding: vec![],
        };
        let client = self.client(&request.region);
        let status = match stack_status(&client, &request.stack).await {
            Ok(status) => status,
            Err(reason) => return ended(plan, Classification::Failed, reason),
        };
        let change_set_type = match gate(status.as_deref()) {
            Gate::Create => ChangeSetType::Create,
            Gate::Update => ChangeSetType::Update,
            Gate::Busy(reason) => return ended(plan, Classification::Busy, reason),
            Gate::Blocked(reason) => return ended(plan, Classification::Blocked, reason),
        };
        let name = change_set_name(&request.commit);
        let reuse = if status.is_some() {
            match self.survey(&client, &request.stack, &name, order).await {
                Ok(Decision::Stale { newer }) => {
                    let reason =
                        format!("a newer commit already has change set {newer}: nothing planned");
                    return ended(plan, Classification::Superseded, reason);
                }
                Ok(Decision::Executed { name }) => {
                    let reason = format!("change set {name} for this commit was already executed");
                    return ended(plan, Classification::NoChanges, reason);
                }
                Ok(Decision::Proceed { reuse, .. }) => reuse,
                Err(reason) => return ended(plan, Classification::Failed, reason),
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
                        Err(reason) => return ended(plan, Classification::Failed, reason),
                    }
                }
                match self
                    .create(
                        &client,
                        request,
                        &name,
                        &change_set_type,
                        template_url.as_deref(),
                    )
                    .await
                {
                    Ok(created) => created,
                    Err(end) => return ended(plan, end.classification, end.reason),
                }
            }
        };
        plan.notes.extend(created.note);
        let mut change_set = ChangeSetRef {
            name: name.clone(),
            arn: Some(created.arn.clone()),
            stack_id: None,
            change_set_type: change_set_type.as_str().to_owned(),
            drift_aware: created.drift_aware,
            executable: false,
            template_url,
        };
        let description = match self
            .wait_and_read(&client, &request.stack, &created.arn)
            .await
        {
            Ok(description) => description,
            Err(reason) => {
                plan.change_set = Some(change_set);
                return ended(plan, Classification::Failed, reason);
            }
        };
        let assessment = classify(&description);
        change_set.arn = description.change_set_id.clone().or(change_set.arn);
        change_set.stack_id = description.stack_id.clone();
        change_set.executable = description.is_executable();
        if let Some(mode) = &description.deployment_mode {
            change_set.drift_aware = mode == "REVERT_DRIFT";
        }
        plan.classification = assessment.classification;
        plan.reason = assessment.reason;
        plan.counts = assessment.counts;
        plan.changes = assessment.changes;
        plan.drift = assessment.drift;
        plan.notes.extend(assessment.notes);
        plan.change_set = Some(change_set);
        if matches!(
            plan.classification,
            Classification::NoChanges | Classification::Failed
        ) {
            // FAILED change sets count toward the stack's limit and are never executable.
            discard(&client, &mut plan).await;
        }
        // Listed again now that this change set exists: a run for another commit may have
        // created one meanwhile (concurrent webhooks), and either side must see the other.
        let superseding = match self.survey(&client, &request.stack, &name, order).await {
            Ok(Decision::Stale { newer }) => {
                if plan.change_set.as_ref().is_some_and(|c| c.executable) {
                    discard(&client, &mut plan).await;
                }
                let reason = format!(
                    "a newer commit got change set {newer} while this one was planned: this one was deleted"
                );
                return ended(plan, Classification::Superseded, reason);
            }
            Ok(Decision::Proceed { older, .. }) => older,
            Ok(Decision::Executed { .. }) => vec![],
            Err(reason) => {
                plan.notes
                    .push(format!("older change sets not checked: {reason}"));
                vec![]
            }
        };
        Planned { plan, superseding }
    }

    /// Lists the bot's change sets on the stack and decides what they mean.
    async fn survey(
        &self,
        client: &Client,
        stack: &str,
        name: &str,
        order: &CommitOrder,
    ) -> Result<Decision, String> {
        let existing = our_change_sets(client, stack).await?;
        let mut relations = Vec::with_capacity(existing.len());
        for other in &existing {
            relations.push(match commit_of(&other.name) {
                Some(commit) if other.name != name => order(commit.to_owned()).await,
                _ => Relation::Unrelated,
            });
        }
        Ok(decide(name, &existing, &relations))
    }

    /// Deletes change sets this plan superseded (after the ledger marked them).
    pub async fn supersede(&self, plan: &mut StackPlan, older: &[Existing]) {
        let client = self.client(&plan.region);
        for other in older {
            match delete_change_set(&client, &plan.stack, other.handle()).await {
                Ok(()) => plan.superseded.push(other.name.clone()),
                Err(reason) => plan.notes.push(format!(
                    "could not delete superseded {}: {reason}",
                    other.name
                )),
            }
        }
    }

    /// CreateChangeSet, drift-aware for updates, falling back to a standard change set (with a
    /// note) when the service refuses the mode.
    async fn create(
        &self,
        client: &Client,
        request: &StackRequest,
        name: &str,
        change_set_type: &ChangeSetType,
        template_url: Option<&str>,
    ) -> Result<Created, Ended> {
        let drift_aware = *change_set_type == ChangeSetType::Update;
        let build = |revert_drift: bool| {
            let mut call = client
                .create_change_set()
                .stack_name(&request.stack)
                .change_set_name(name)
                .change_set_type(change_set_type.clone())
                .client_token(client_token(&request.stack, &request.commit))
                .description(&request.description)
                .set_capabilities(Some(
                    request
                        .capabilities
                        .iter()
                        .map(|c| SdkCapability::from(c.as_str()))
                        .collect(),
                ))
                .set_parameters(Some(
                    request
                        .parameters
                        .iter()
                        .map(|(key, value)| {
                            Parameter::builder()
                                .parameter_key(key)
                                .parameter_value(value)
                                .build()
                        })
                        .collect(),
                ))
                .set_role_arn(request.role_arn.clone());
            for (key, value) in &request.tags {
                call = call.tags(Tag::builder().key(key).value(value).build());
            }
            call = match template_url {
                Some(url) => call.template_url(url),
                None => call.template_body(&request.template.body),
            };
            if revert_drift {
                call = call.deployment_mode(DeploymentMode::RevertDrift);
            }
            call
        };
        let mut result = build(drift_aware).send().await;
        let mut note = None;
        let refuses_the_mode = |message: &str| {
            let lower = message.to_ascii_lowercase();
            lower.contains("deploymentmode") || lower.contains("revert_drift")
        };
        if drift_aware
            && let Err(err) = &result
            && err.code() == Some("ValidationError")
            && err.message().is_some_and(refuses_the_mode)
        {
            note = Some(format!(
                "drift-aware change set refused ({}): created a standard change set, which does not show drift",
                err.message().unwrap_or_default()
            ));
            result = build(false).send().await;
        }
        let drift_aware = drift_aware && note.is_none();
        let err = match result {
            Ok(output) => {
                return Ok(Created {
                    arn: output.id.unwrap_or_else(|| name.to_owned()),
                    drift_aware,
                    note,
                });
            }
            Err(err) => err,
        };
        let message = err.message().unwrap_or_default().to_owned();
        let end = |classification, reason| {
            Err(Ended {
                classification,
                reason,
            })
        };
        match err.code().unwrap_or_default() {
            // Created by a concurrent run of the same commit: read that one.
            "AlreadyExistsException" => Ok(Created {
                arn: name.to_owned(),
                drift_aware: false,
                note: Some(format!("change set {name} already existed: reused")),
            }),
            "InsufficientCapabilitiesException" => end(
                Classification::Failed,
                format!("{message}: add `capabilities` to the stack in .cfn-chatops.yml"),
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
            _ if message.is_empty() => end(
                Classification::Failed,
                format!("CreateChangeSet: {}", DisplayErrorContext(&err)),
            ),
            _ => end(Classification::Failed, message),
        }
    }

    async fn upload(&self, request: &StackRequest) -> Result<String, String> {
        let Some(bucket) = &self.bucket else {
            return Err(format!(
                "template is {} bytes, over CloudFormation's 51,200-byte TemplateBody limit: set CFN_CHATOPS_TEMPLATE_BUCKET so it can go through S3",
                request.template.body.len()
            ));
        };
        let key = format!(
            "cfn-chatops/templates/{}/{}/{}.template",
            request.commit, request.region, request.stack
        );
        bucket
            .client
            .put_object()
            .bucket(&bucket.bucket)
            .key(&key)
            .body(request.template.body.clone().into_bytes().into())
            .send()
            .await
            .map_err(|err| {
                format!(
                    "uploading the template to s3://{}/{key}: {}",
                    bucket.bucket,
                    DisplayErrorContext(err)
                )
            })?;
        Ok(format!(
            "https://{}.s3.{}.amazonaws.com/{key}",
            bucket.bucket, bucket.region
        ))
    }

    /// Polls with exponential backoff until the change set settles, then reads every page with
    /// property values (and without them too, when CloudFormation warns they are incomplete).
    async fn wait_and_read(
        &self,
        client: &Client,
        stack: &str,
        arn: &str,
    ) -> Result<ChangeSetDescription, String> {
        let deadline = tokio::time::Instant::now() + self.polling.timeout;
        let mut delay = self.polling.first_delay;
        loop {
            let first = read_change_set(client, stack, arn, false, false).await?;
            if first.is_settled() {
                break;
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(format!(
                    "timed out after {} s waiting for the change set (still {})",
                    self.polling.timeout.as_secs(),
                    first.status.as_deref().unwrap_or("unknown")
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.polling.max_delay);
        }
        let mut description = read_change_set(client, stack, arn, true, true).await?;
        if description.has_incomplete_property_values() {
            let mut complete = read_change_set(client, stack, arn, false, true).await?;
            complete.enrich_from(&description);
            complete.status_reason = description.status_reason.take();
            description = complete;
        }
        Ok(description)
    }
}

impl StackPlan {
    fn ended(mut self, classification: Classification, reason: String) -> StackPlan {
        self.classification = classification;
        self.reason = Some(reason);
        self
    }
}

/// Deletes the plan's own change set; it is then no longer executable (or a note says why
/// it could not be deleted).
async fn discard(client: &Client, plan: &mut StackPlan) {
    let Some(change_set) = plan.change_set.as_mut() else {
        return;
    };
    let handle = change_set
        .arn
        .clone()
        .unwrap_or_else(|| change_set.name.clone());
    match delete_change_set(client, &plan.stack, &handle).await {
        Ok(()) => change_set.executable = false,
        Err(reason) => plan
            .notes
            .push(format!("could not delete the change set: {reason}")),
    }
}

/// The stack's status, or `None` when it does not exist.
async fn stack_status(client: &Client, stack: &str) -> Result<Option<String>, String> {
    match client.describe_stacks().stack_name(stack).send().await {
        Ok(output) => Ok(output
            .stacks()
            .first()
            .and_then(|stack| stack.stack_status())
            .map(|status| status.as_str().to_owned())),
        Err(err)
            if err.code() == Some("ValidationError")
                && err.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(err) => Err(format!("DescribeStacks: {}", DisplayErrorContext(err))),
    }
}

/// The bot's change sets on the stack (every page).
async fn our_change_sets(client: &Client, stack: &str) -> Result<Vec<Existing>, String> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let output = client
            .list_change_sets()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| format!("ListChangeSets: {}", DisplayErrorContext(err)))?;
        found.extend(
            output
                .summaries()
                .iter()
                // The stack filter is CloudFormation's job, but an emulator (moto) lists
                // every stack's change sets: never act on another stack's.
                .filter(|summary| {
                    summary.stack_name() == Some(stack)
                        && summary
                            .change_set_name()
                            .is_some_and(|name| name.starts_with(CHANGE_SET_PREFIX))
                })
                .map(|summary: &ChangeSetSummary| Existing {
                    name: summary.change_set_name().unwrap_or_default().to_owned(),
                    arn: summary.change_set_id().map(str::to_owned),
                    execution_status: summary.execution_status().map(|s| s.as_str().to_owned()),
                }),
        );
        token = output.next_token;
        if token.is_none() {
            return Ok(found);
        }
    }
}

async fn delete_change_set(client: &Client, stack: &str, change_set: &str) -> Result<(), String> {
    client
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await
        .map(|_| ())
        .map_err(|err| format!("DeleteChangeSet: {}", DisplayErrorContext(err)))
}

/// DescribeChangeSet; with `all_pages`, every page merged (status fields from the first).
async fn read_change_set(
    client: &Client,
    stack: &str,
    change_set: &str,
    include_property_values: bool,
    all_pages: bool,
) -> Result<ChangeSetDescription, String> {
    let mut description: Option<ChangeSetDescription> = None;
    let mut token: Option<String> = None;
    loop {
        let output = client
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(change_set)
            .include_property_values(include_property_values)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|err| format!("DescribeChangeSet: {}", DisplayErrorContext(err)))?;
        let next = output.next_token().map(str::to_owned);
        let page = description_of(&output);
        match description.as_mut() {
            None => description = Some(page),
            Some(merged) => merged.changes.extend(page.changes),
        }
        // Stop on the last page, or on a repeated token.
        if !all_pages || next.is_none() || next == token {
            break;
        }
        token = next;
    }
    Ok(description.unwrap_or_default())
}

/// The SDK's DescribeChangeSet output in the classifier's terms.
fn description_of(output: &DescribeChangeSetOutput) -> ChangeSetDescription {
    let text = |value: Option<&str>| value.map(str::to_owned);
    ChangeSetDescription {
        change_set_id: text(output.change_set_id()),
        stack_id: text(output.stack_id()),
        status: output.status().map(|s| s.as_str().to_owned()),
        status_reason: text(output.status_reason()),
        execution_status: output.execution_status().map(|s| s.as_str().to_owned()),
        stack_drift_status: output.stack_drift_status().map(|s| s.as_str().to_owned()),
        deployment_mode: output.deployment_mode().map(|s| s.as_str().to_owned()),
        changes: output
            .changes()
            .iter()
            .map(|change| Change {
                resource_change: change.resource_change().map(|resource| ResourceChange {
                    action: resource.action().map(|a| a.as_str().to_owned()),
                    logical_resource_id: text(resource.logical_resource_id()),
                    physical_resource_id: text(resource.physical_resource_id()),
                    resource_type: text(resource.resource_type()),
                    replacement: resource.replacement().map(|r| r.as_str().to_owned()),
                    policy_action: resource.policy_action().map(|p| p.as_str().to_owned()),
                    resource_drift_status: resource
                        .resource_drift_status()
                        .map(|s| s.as_str().to_owned()),
                    details: Some(
                        resource
                            .details()
                            .iter()
                            .map(|detail| Detail {
                                target: detail.target().map(|target| Target {
                                    attribute: target.attribute().map(|a| a.as_str().to_owned()),
                                    name: text(target.name()),
                                    requires_recreation: target
                                        .requires_recreation()
                                        .map(|r| r.as_str().to_owned()),
                                    path: text(target.path()),
                                    before_value: text(target.before_value()),
                                    after_value: text(target.after_value()),
                                    before_value_from: target
                                        .before_value_from()
                                        .map(|b| b.as_str().to_owned()),
                                    drift: target.drift().map(|drift| TargetDrift {
                                        previous_value: text(drift.previous_value()),
                                        actual_value: text(drift.actual_value()),
                                    }),
                                }),
                                change_source: detail
                                    .change_source()
                                    .map(|c| c.as_str().to_owned()),
                                causing_entity: text(detail.causing_entity()),
                            })
                            .collect(),
                    ),
                }),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(commit: &str, execution_status: &str) -> Existing {
        Existing {
            name: change_set_name(commit),
            arn: Some(format!(
                "arn:aws:cloudformation:us-east-1:123456789012:changeSet/{commit}/x"
            )),
            execution_status: Some(execution_status.into()),
        }
    }

    const PLANNED: &str = "cccccccccccccccccccccccccccccccccccccccc";

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
        let Decision::Proceed { reuse, older } =
            decide(&change_set_name(PLANNED), &on_stack, &relations)
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
                decide(&change_set_name(PLANNED), &on_stack, &[Relation::Newer]),
                Decision::Stale {
                    newer: on_stack[0].name.clone()
                }
            );
        }
    }

    #[test]
    fn an_executed_change_set_of_this_commit_ends_the_plan() {
        let on_stack = [existing(PLANNED, "EXECUTE_COMPLETE")];
        assert_eq!(
            decide(&change_set_name(PLANNED), &on_stack, &[Relation::Unrelated]),
            Decision::Executed {
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
