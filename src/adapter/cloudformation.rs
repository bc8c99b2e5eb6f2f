//! CloudFormation (and S3 for large templates) through the AWS SDK: one client per region,
//! the calls the planner and the outcome handler make, and their answers translated into the
//! classifier's terms. Decisions about what the answers mean are made above.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
use aws_sdk_cloudformation::types::{
    Capability as SdkCapability, ChangeSetSummary, ChangeSetType, DeploymentMode, EventType,
    ListHookResultsTargetType, Parameter, Tag, TemplateStage,
};

use crate::adapter::aws::{CallBudget, error_text};
use crate::core::classify::{
    Change, ChangeSetDescription, ChangeSetParameter, Detail, ResourceChange,
    ResourceTargetDefinition, TargetDrift,
};
use crate::core::gate::Existing;
use crate::core::names::CHANGE_SET_PREFIX;
use crate::core::template::{Capability, Template};
use crate::core::verdict::StackRules;
use crate::core::verdict::checks::{HookResult, ValidationResult};

/// Everything CloudFormation gets to plan one stack.
#[derive(Debug, Clone)]
pub struct StackRequest {
    pub stack: String,
    pub region: String,
    pub template_path: String,
    pub renamed_from: Option<String>,
    pub template: Template,
    pub parameters: Vec<(String, String)>,
    /// Parameters a parameters file asks an existing stack to keep (`UsePreviousValue`).
    pub keep: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub capabilities: Vec<Capability>,
    pub role_arn: Option<String>,
    pub commit: String,
    pub description: String,
    /// What the safety verdict weighs besides the change set.
    pub rules: StackRules,
    /// What preparing the stack found worth saying (values left out, settings not applied).
    pub notes: Vec<String>,
}

/// An existing stack, as DescribeStacks shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackState {
    pub status: String,
    /// Its current parameter values (`NoEcho` ones as CloudFormation's `****`).
    pub parameters: Vec<(String, String)>,
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

/// A CloudFormation call that failed: the operation, the service's code and message when it
/// gave them, and the SDK's whole story for the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloudFormationError {
    #[error("{operation}: {detail}")]
    Call {
        operation: &'static str,
        code: Option<String>,
        message: Option<String>,
        detail: String,
    },
    #[error("timed out after {waited_seconds} s waiting for the change set (still {status})")]
    Timeout { waited_seconds: u64, status: String },
}

impl CloudFormationError {
    fn call<E>(operation: &'static str, err: aws_sdk_cloudformation::error::SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::Call {
            operation,
            code: err.code().map(str::to_owned),
            message: err.message().map(str::to_owned),
            detail: error_text(operation, &err),
        }
    }

    /// The service's error code, e.g. `ValidationError`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Call { code, .. } => code.as_deref(),
            Self::Timeout { .. } => None,
        }
    }

    /// The change set does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code(),
            Some("ChangeSetNotFound" | "ChangeSetNotFoundException")
        )
    }

    /// What went wrong, without the operation's name.
    pub fn detail(&self) -> String {
        match self {
            Self::Call { detail, .. } => detail.clone(),
            Self::Timeout { .. } => self.to_string(),
        }
    }

    /// The service's own message, when it gave one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Call { message, .. } => message.as_deref().filter(|m| !m.is_empty()),
            Self::Timeout { .. } => None,
        }
    }
}

/// What ValidateTemplate said of a template it accepted.
pub struct Validated {
    /// The capabilities creating it needs (`CAPABILITY_IAM`, …).
    pub capabilities: Vec<String>,
    pub capabilities_reason: Option<String>,
}

/// What CreateChangeSet is asked to make.
pub struct NewChangeSet<'a> {
    pub request: &'a StackRequest,
    pub name: &'a str,
    /// CreateChangeSet's ClientToken ([`crate::core::names::client_token`]).
    pub client_token: &'a str,
    /// `UPDATE` of an existing stack; else `CREATE`.
    pub update: bool,
    /// The template's S3 URL, when it is too large for the request body.
    pub template_url: Option<&'a str>,
    /// `DeploymentMode=REVERT_DRIFT`: the change set also reverts drift.
    pub revert_drift: bool,
    /// Parameters the existing stack keeps (`UsePreviousValue`).
    pub kept: &'a [String],
}

/// CloudFormation clients per region, sharing one SDK configuration: made once each, for the
/// planner's stacks and the outcome handler's events alike.
pub struct CloudFormation {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl CloudFormation {
    /// Clients that retry and time out by `budget` (the planner's or the events function's).
    pub fn new(sdk: &SdkConfig, budget: CallBudget) -> Self {
        Self {
            sdk: budget.apply(sdk),
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                // The SDK's shared retry quota (500 tokens, 5 a retry) would stop retrying
                // after some 14 calls had spent their attempts under sustained throttling: the
                // bounded concurrency of the plan already limits the load, so the policy above
                // is the only limit.
                let config = aws_sdk_cloudformation::config::Builder::from(&self.sdk)
                    .region(aws_sdk_cloudformation::config::Region::new(
                        region.to_owned(),
                    ))
                    .retry_partition(
                        RetryPartition::custom(format!("cfn-chatops-cloudformation-{region}"))
                            .token_bucket(TokenBucket::unlimited())
                            .build(),
                    )
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// The stack's status and parameters, or `None` when it does not exist.
    pub async fn stack_state(
        &self,
        region: &str,
        stack: &str,
    ) -> Result<Option<StackState>, CloudFormationError> {
        match self
            .client(region)
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
        {
            Ok(output) => Ok(output.stacks().first().and_then(|stack| {
                Some(StackState {
                    status: stack.stack_status()?.as_str().to_owned(),
                    parameters: stack
                        .parameters()
                        .iter()
                        .filter_map(|parameter| {
                            Some((
                                parameter.parameter_key()?.to_owned(),
                                parameter.parameter_value().unwrap_or_default().to_owned(),
                            ))
                        })
                        .collect(),
                })
            })),
            Err(err)
                if err.code() == Some("ValidationError")
                    && err.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(None)
            }
            Err(err) => Err(CloudFormationError::call("DescribeStacks", err)),
        }
    }

    /// The bot's change sets on the stack (every page).
    pub async fn our_change_sets(
        &self,
        region: &str,
        stack: &str,
    ) -> Result<Vec<Existing>, CloudFormationError> {
        let client = self.client(region);
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let output = client
                .list_change_sets()
                .stack_name(stack)
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| CloudFormationError::call("ListChangeSets", err))?;
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
                        created_at: summary.creation_time().map(|time| time.secs()),
                    }),
            );
            token = output.next_token;
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// CreateChangeSet; the new change set's id (ARN).
    pub async fn create_change_set(
        &self,
        new: &NewChangeSet<'_>,
    ) -> Result<String, CloudFormationError> {
        let request = new.request;
        let mut call = self
            .client(&request.region)
            .create_change_set()
            .stack_name(&request.stack)
            .change_set_name(new.name)
            .change_set_type(if new.update {
                ChangeSetType::Update
            } else {
                ChangeSetType::Create
            })
            .client_token(new.client_token)
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
                    .chain(new.kept.iter().map(|key| {
                        Parameter::builder()
                            .parameter_key(key)
                            .use_previous_value(true)
                            .build()
                    }))
                    .collect(),
            ))
            .set_role_arn(request.role_arn.clone());
        for (key, value) in &request.tags {
            call = call.tags(Tag::builder().key(key).value(value).build());
        }
        call = match new.template_url {
            Some(url) => call.template_url(url),
            None => call.template_body(&request.template.body),
        };
        if new.revert_drift {
            call = call.deployment_mode(DeploymentMode::RevertDrift);
        }
        // Executing the root executes its nested stacks' changes: the review must show them.
        if request.template.nested_stacks {
            call = call.include_nested_stacks(true);
        }
        let output = call
            .send()
            .await
            .map_err(|err| CloudFormationError::call("CreateChangeSet", err))?;
        Ok(output.id.unwrap_or_else(|| new.name.to_owned()))
    }

    pub async fn delete_change_set(
        &self,
        region: &str,
        stack: &str,
        change_set: &str,
    ) -> Result<(), CloudFormationError> {
        self.client(region)
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(change_set)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| CloudFormationError::call("DeleteChangeSet", err))
    }

    /// Polls with exponential backoff until the change set settles, then reads every page with
    /// property values (and without them too, when CloudFormation warns they are incomplete).
    pub async fn describe_settled(
        &self,
        region: &str,
        stack: &str,
        arn: &str,
        polling: Polling,
    ) -> Result<ChangeSetDescription, CloudFormationError> {
        let client = self.client(region);
        let deadline = tokio::time::Instant::now() + polling.timeout;
        let mut delay = polling.first_delay;
        loop {
            let first = read_change_set(&client, Some(stack), arn, false, false).await?;
            if first.is_settled() {
                break;
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(CloudFormationError::Timeout {
                    waited_seconds: polling.timeout.as_secs(),
                    status: first.status.unwrap_or_else(|| "unknown".into()),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(polling.max_delay);
        }
        read_whole(&client, Some(stack), arn).await
    }

    /// Nested stacks' change sets, which exist once their root's has settled, read whole like
    /// the root's; at most [`NESTED_READS`] at a time. Each answer in the order asked.
    pub async fn describe_nested(
        &self,
        region: &str,
        arns: &[String],
    ) -> Vec<Result<ChangeSetDescription, CloudFormationError>> {
        let client = self.client(region);
        let turns = Arc::new(Semaphore::new(NESTED_READS));
        let mut reads = JoinSet::new();
        for (index, arn) in arns.iter().enumerate() {
            let (client, turns, arn) = (client.clone(), Arc::clone(&turns), arn.clone());
            reads.spawn(async move {
                let _turn = turns.acquire_owned().await;
                // A nested change set is named by its ARN alone.
                (index, read_whole(&client, None, &arn).await)
            });
        }
        let mut answers: Vec<Option<Result<ChangeSetDescription, CloudFormationError>>> =
            vec![None; arns.len()];
        while let Some(joined) = reads.join_next().await {
            if let Ok((index, answer)) = joined {
                answers[index] = Some(answer);
            }
        }
        answers
            .into_iter()
            .map(|answer| {
                answer.unwrap_or_else(|| {
                    Err(CloudFormationError::Call {
                        operation: "DescribeChangeSet",
                        code: None,
                        message: None,
                        detail: "the read stopped before it finished".into(),
                    })
                })
            })
            .collect()
    }

    /// A change set's execution status by its ARN; `None` when CloudFormation no longer has it
    /// (it deletes the siblings of an executed change set).
    pub async fn execution_status(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<Option<String>, CloudFormationError> {
        match self
            .client(region)
            .describe_change_set()
            .change_set_name(arn)
            .send()
            .await
        {
            Ok(output) => Ok(Some(
                output
                    .execution_status()
                    .map(|status| status.as_str().to_owned())
                    .unwrap_or_default(),
            )),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_change_set_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(CloudFormationError::call("DescribeChangeSet", err)),
        }
    }

    /// ValidateTemplate: CloudFormation's syntax check of a template, without a stack, and
    /// the capabilities it says the template needs. The body, or its S3 URL when it is too
    /// large for one.
    pub async fn validate_template(
        &self,
        region: &str,
        body: &str,
        template_url: Option<&str>,
    ) -> Result<Validated, CloudFormationError> {
        let call = self.client(region).validate_template();
        let call = match template_url {
            Some(url) => call.template_url(url),
            None => call.template_body(body),
        };
        let output = call
            .send()
            .await
            .map_err(|err| CloudFormationError::call("ValidateTemplate", err))?;
        Ok(Validated {
            capabilities: output
                .capabilities()
                .iter()
                .map(|capability| capability.as_str().to_owned())
                .collect(),
            capabilities_reason: output.capabilities_reason.clone(),
        })
    }

    /// The template the stack was last deployed with, as submitted (GetTemplate, stage
    /// `Original`).
    pub async fn deployed_template(
        &self,
        region: &str,
        stack: &str,
    ) -> Result<String, CloudFormationError> {
        let output = self
            .client(region)
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .map_err(|err| CloudFormationError::call("GetTemplate", err))?;
        Ok(output.template_body.unwrap_or_default())
    }

    /// CloudFormation's own checks of a change set: its pre-deployment validations'
    /// findings and the Hooks that ran on it. Each is read on its own: an endpoint without the
    /// operation (older regions, emulators) answers "not available", never a failure.
    pub async fn change_set_checks(&self, region: &str, change_set: &str) -> ChangeSetChecks {
        let client = self.client(region);
        let (validations, hooks) = tokio::join!(
            read_validations(&client, change_set),
            read_hook_results(&client, change_set)
        );
        ChangeSetChecks { validations, hooks }
    }

    /// When the operation that ended at `end` (ISO-8601) began: the stack's newest
    /// `*_IN_PROGRESS` event of its own (not a resource's) at or before it. Best effort:
    /// `None` if unknown.
    pub async fn operation_start(&self, region: &str, stack_id: &str, end: &str) -> Option<String> {
        let end = DateTime::from_str(end, DateTimeFormat::DateTime).ok()?;
        let output = self
            .client(region)
            .describe_stack_events()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(
                |err| tracing::warn!(error = %DisplayErrorContext(err), "stack events unavailable"),
            )
            .ok()?;
        output
            .stack_events()
            .iter()
            // The stack's own events: nested stacks' resources have the same type.
            .filter(|e| e.resource_type() == Some("AWS::CloudFormation::Stack"))
            .filter(|e| e.physical_resource_id() == Some(stack_id))
            .filter(|e| {
                matches!(
                    e.resource_status().map(|s| s.as_str()),
                    Some("CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS" | "IMPORT_IN_PROGRESS")
                )
            })
            .filter_map(|e| e.timestamp())
            .filter(|time| time.secs() <= end.secs())
            .max_by_key(|time| time.secs())
            .and_then(|time| time.fmt(DateTimeFormat::DateTime).ok())
    }
}

/// A read of a check that an endpoint may not offer.
#[derive(Debug)]
pub enum Checked<T> {
    Read(T),
    /// The endpoint does not know the operation.
    NotAvailable,
    Failed(CloudFormationError),
}

/// What CloudFormation itself found in a change set.
#[derive(Debug)]
pub struct ChangeSetChecks {
    pub validations: Checked<Vec<ValidationResult>>,
    pub hooks: Checked<Vec<HookResult>>,
}

/// The endpoint does not know the operation: the query protocol's `InvalidAction` (what AWS
/// answers for an action it does not have), or a 404/501 without a service error.
fn unknown_operation<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        err.code(),
        Some("InvalidAction" | "UnknownOperation" | "UnknownOperationException")
    ) || (err.code().is_none()
        && err
            .raw_response()
            .is_some_and(|answer| matches!(answer.status().as_u16(), 404 | 501)))
}

fn checked<T, E>(
    operation: &'static str,
    answer: Result<T, SdkError<E, HttpResponse>>,
) -> Checked<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match answer {
        Ok(read) => Checked::Read(read),
        Err(err) if unknown_operation(&err) => Checked::NotAvailable,
        Err(err) => Checked::Failed(CloudFormationError::call(operation, err)),
    }
}

/// The pre-deployment validations' findings: DescribeEvents on the change set, every page.
async fn read_validations(client: &Client, change_set: &str) -> Checked<Vec<ValidationResult>> {
    let pages: Result<Vec<_>, _> = client
        .describe_events()
        .change_set_name(change_set)
        .into_paginator()
        .send()
        .collect()
        .await;
    checked("DescribeEvents", pages).map(|pages| {
        pages
            .iter()
            .flat_map(|page| page.operation_events())
            .filter(|event| {
                event.event_type() == Some(&EventType::ValidationError)
                    || event.validation_status().is_some()
            })
            .map(|event| ValidationResult {
                name: owned(event.validation_name()),
                status: event.validation_status().map(|s| s.as_str().to_owned()),
                failure_mode: event
                    .validation_failure_mode()
                    .map(|m| m.as_str().to_owned()),
                reason: owned(event.validation_status_reason()),
                path: owned(event.validation_path()),
                logical_id: owned(event.logical_resource_id()),
                resource_type: owned(event.resource_type()),
            })
            .collect()
    })
}

/// The Hooks that ran on the change set: ListHookResults, every page (the SDK has no
/// paginator for it).
async fn read_hook_results(client: &Client, change_set: &str) -> Checked<Vec<HookResult>> {
    let mut results = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match checked(
            "ListHookResults",
            client
                .list_hook_results()
                .target_type(ListHookResultsTargetType::ChangeSet)
                .target_id(change_set)
                .set_next_token(token.clone())
                .send()
                .await,
        ) {
            Checked::Read(page) => page,
            Checked::NotAvailable => return Checked::NotAvailable,
            Checked::Failed(err) => return Checked::Failed(err),
        };
        results.extend(page.hook_results().iter().map(|hook| HookResult {
            type_name: owned(hook.type_name()),
            status: hook.status().map(|s| s.as_str().to_owned()),
            reason: owned(hook.hook_status_reason()),
            failure_mode: hook.failure_mode().map(|m| m.as_str().to_owned()),
            target: owned(hook.hook_execution_target()),
        }));
        let next = page.next_token().map(str::to_owned);
        // Stop on the last page, or on a repeated token.
        if next.is_none() || next == token {
            return Checked::Read(results);
        }
        token = next;
    }
}

impl<T> Checked<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Checked<U> {
        match self {
            Checked::Read(read) => Checked::Read(f(read)),
            Checked::NotAvailable => Checked::NotAvailable,
            Checked::Failed(err) => Checked::Failed(err),
        }
    }
}

/// Where templates over the TemplateBody limit are uploaded.
#[derive(Debug, Clone)]
pub struct TemplateBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// The bucket's region, for its URL (stacks may be in other regions).
    region: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("uploading the template to s3://{bucket}/{key}: {detail}")]
pub struct UploadError {
    bucket: String,
    key: String,
    detail: String,
}

impl TemplateBucket {
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_s3::Client::new(&CallBudget::S3_UPLOAD.apply(sdk)),
            bucket: bucket.into(),
            region: region.into(),
        }
    }

    /// Uploads a stack's template for one commit; its HTTPS URL, as TemplateURL takes it.
    pub async fn upload(&self, request: &StackRequest) -> Result<String, UploadError> {
        let key = format!(
            "cfn-chatops/templates/{}/{}/{}.template",
            request.commit, request.region, request.stack
        );
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(request.template.body.clone().into_bytes().into())
            .send()
            .await
            .map_err(|err| UploadError {
                bucket: self.bucket.clone(),
                key: key.clone(),
                detail: error_text("S3 PutObject", &err),
            })?;
        Ok(format!(
            "https://{}.s3.{}.amazonaws.com/{key}",
            self.bucket, self.region
        ))
    }
}

/// Nested change sets read at the same time, for one root.
pub const NESTED_READS: usize = 4;

/// Every page with property values, and without them too when CloudFormation warns they are
/// incomplete (its rows then enriched with the values it did give; its warning kept).
async fn read_whole(
    client: &Client,
    stack: Option<&str>,
    arn: &str,
) -> Result<ChangeSetDescription, CloudFormationError> {
    let mut description = read_change_set(client, stack, arn, true, true).await?;
    if description.has_incomplete_property_values() {
        let mut complete = read_change_set(client, stack, arn, false, true).await?;
        complete.enrich_from(&description);
        complete.status_reason = description.status_reason.take();
        description = complete;
    }
    Ok(description)
}

/// DescribeChangeSet; with `all_pages`, every page merged (status fields from the first).
async fn read_change_set(
    client: &Client,
    stack: Option<&str>,
    change_set: &str,
    include_property_values: bool,
    all_pages: bool,
) -> Result<ChangeSetDescription, CloudFormationError> {
    let mut description: Option<ChangeSetDescription> = None;
    let mut token: Option<String> = None;
    loop {
        let output = client
            .describe_change_set()
            .set_stack_name(stack.map(str::to_owned))
            .change_set_name(change_set)
            .include_property_values(include_property_values)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|err| CloudFormationError::call("DescribeChangeSet", err))?;
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
    ChangeSetDescription {
        change_set_id: owned(output.change_set_id()),
        stack_id: owned(output.stack_id()),
        status: output.status().map(|s| s.as_str().to_owned()),
        status_reason: owned(output.status_reason()),
        execution_status: output.execution_status().map(|s| s.as_str().to_owned()),
        stack_drift_status: output.stack_drift_status().map(|s| s.as_str().to_owned()),
        deployment_mode: output.deployment_mode().map(|s| s.as_str().to_owned()),
        changes: output
            .changes()
            .iter()
            .map(|change| Change {
                resource_change: change.resource_change().map(|resource| ResourceChange {
                    action: resource.action().map(|a| a.as_str().to_owned()),
                    logical_resource_id: owned(resource.logical_resource_id()),
                    physical_resource_id: owned(resource.physical_resource_id()),
                    resource_type: owned(resource.resource_type()),
                    replacement: resource.replacement().map(|r| r.as_str().to_owned()),
                    policy_action: resource.policy_action().map(|p| p.as_str().to_owned()),
                    resource_drift_status: resource
                        .resource_drift_status()
                        .map(|s| s.as_str().to_owned()),
                    change_set_id: owned(resource.change_set_id()),
                    details: Some(
                        resource
                            .details()
                            .iter()
                            .map(|detail| Detail {
                                target: detail.target().map(|target| ResourceTargetDefinition {
                                    attribute: target.attribute().map(|a| a.as_str().to_owned()),
                                    name: owned(target.name()),
                                    requires_recreation: target
                                        .requires_recreation()
                                        .map(|r| r.as_str().to_owned()),
                                    path: owned(target.path()),
                                    before_value: owned(target.before_value()),
                                    after_value: owned(target.after_value()),
                                    before_value_from: target
                                        .before_value_from()
                                        .map(|b| b.as_str().to_owned()),
                                    drift: target.drift().map(|drift| TargetDrift {
                                        previous_value: owned(drift.previous_value()),
                                        actual_value: owned(drift.actual_value()),
                                    }),
                                }),
                                change_source: detail
                                    .change_source()
                                    .map(|c| c.as_str().to_owned()),
                                causing_entity: owned(detail.causing_entity()),
                            })
                            .collect(),
                    ),
                }),
            })
            .collect(),
        parameters: Some(
            output
                .parameters()
                .iter()
                .map(|parameter| ChangeSetParameter {
                    parameter_key: owned(parameter.parameter_key()),
                    resolved_value: owned(parameter.resolved_value()),
                })
                .collect(),
        ),
    }
}

/// An answer's optional text field, owned.
fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}
