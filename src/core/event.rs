//! EventBridge events as CloudFormation and CloudTrail send them ("CloudFormation Stack Status
//! Change", <https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-cloudformation.html>,
//! and "AWS API Call via CloudTrail"), read strictly: a field the handler relies on is named when
//! it is missing.

use serde::Deserialize;
use serde_json::Value;

use super::names::is_preview_change_set;
use super::text::clip;
use super::text::{FieldError, deserialize_at};
use crate::model::outcome::Actor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    StackStatus(StackStatus),
    ChangeSetCall(ChangeSetCall),
}

/// "CloudFormation Stack Status Change".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackStatus {
    pub id: String,
    /// ISO-8601 UTC, as EventBridge writes it.
    pub time: String,
    pub region: String,
    pub stack_id: String,
    pub stack: String,
    pub status: String,
    pub reason: Option<String>,
}

/// "AWS API Call via CloudTrail" for ExecuteChangeSet or DeleteChangeSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetCall {
    pub id: String,
    pub time: String,
    pub region: String,
    pub execute: bool,
    /// A name or an ARN, whatever the caller passed.
    pub stack: Option<String>,
    /// A name or an ARN, whatever the caller passed.
    pub change_set: String,
    pub actor: Actor,
    /// `errorCode` and `errorMessage` when CloudFormation refused the call.
    pub error: Option<(String, String)>,
}

impl ChangeSetCall {
    pub fn action(&self) -> &'static str {
        if self.execute {
            "ExecuteChangeSet"
        } else {
            "DeleteChangeSet"
        }
    }
}

/// What an EventBridge event is to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Event(Event),
    /// Well-formed, but not something the bot follows.
    Unrelated(String),
}

/// Why an event cannot be read; each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an EventBridge event the bot can read: {0}")]
    Shape(#[from] FieldError),
    #[error("not an EventBridge event the bot can read: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    time: String,
    region: String,
    detail: Value,
}

#[derive(Deserialize)]
struct StackStatusDetail {
    #[serde(rename = "stack-id")]
    stack_id: String,
    #[serde(rename = "status-details")]
    status_details: StatusDetails,
}

#[derive(Deserialize)]
struct StatusDetails {
    status: String,
    #[serde(rename = "status-reason")]
    status_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudTrailRecord {
    event_source: String,
    event_name: String,
    aws_region: Option<String>,
    user_identity: Option<UserIdentity>,
    request_parameters: Option<RequestParameters>,
    error_code: Option<String>,
    error_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    arn: Option<String>,
    principal_id: Option<String>,
    user_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters {
    stack_name: Option<String>,
    change_set_name: Option<String>,
}

fn typed<T: for<'de> Deserialize<'de>>(value: &Value, prefix: &str) -> Result<T, EventError> {
    Ok(deserialize_at(value, prefix)?)
}

/// The longest value the ledger keys an item on, in bytes: DynamoDB keys hold at most 2,048
/// (partition) and 1,024 (sort) bytes, and the ledger puts a prefix before each value.
pub const MAX_KEYED_BYTES: usize = 1_000;

/// A value the ledger will key on, checked before anything is written or read with it: too
/// long is an unreadable event (DynamoDB would refuse it every time), named with a clipped
/// quote.
fn keyable<'a>(value: &'a str, field: &str) -> Result<&'a str, EventError> {
    if value.len() <= MAX_KEYED_BYTES {
        return Ok(value);
    }
    Err(EventError::Invalid(format!(
        "{field}: {} bytes, over the {MAX_KEYED_BYTES} the ledger can key on: {:?}",
        value.len(),
        clip(value, 40)
    )))
}

pub fn parse(value: &Value) -> Result<Parsed, EventError> {
    if !value.is_object() {
        return Err(EventError::Invalid("expected a JSON object".into()));
    }
    let envelope: Envelope = typed(value, "")?;
    if envelope.id.trim().is_empty() {
        return Err(EventError::Invalid("id is empty".into()));
    }
    if envelope.source != "aws.cloudformation" {
        return Ok(Parsed::Unrelated(format!("source {}", envelope.source)));
    }
    // Only events the ledger records are checked: an unrelated one is never stored.
    keyable(&envelope.id, "id")?;
    match envelope.detail_type.as_str() {
        "CloudFormation Stack Status Change" => {
            let detail: StackStatusDetail = typed(&envelope.detail, "detail.")?;
            keyable(&detail.stack_id, "detail.stack-id")?;
            let (region, stack) = stack_arn_parts(&detail.stack_id).ok_or_else(|| {
                EventError::Invalid(format!(
                    "detail.stack-id: {:?} is not a stack ARN",
                    detail.stack_id
                ))
            })?;
            Ok(Parsed::Event(Event::StackStatus(StackStatus {
                id: envelope.id,
                time: envelope.time,
                region: region.to_string(),
                stack: stack.to_string(),
                stack_id: detail.stack_id.clone(),
                status: detail.status_details.status,
                reason: detail
                    .status_details
                    .status_reason
                    .filter(|reason| !reason.trim().is_empty()),
            })))
        }
        "AWS API Call via CloudTrail" => {
            let record: CloudTrailRecord = typed(&envelope.detail, "detail.")?;
            let execute = match record.event_name.as_str() {
                "ExecuteChangeSet" => true,
                "DeleteChangeSet" => false,
                other => return Ok(Parsed::Unrelated(format!("CloudTrail call {other}"))),
            };
            if record.event_source != "cloudformation.amazonaws.com" {
                return Ok(Parsed::Unrelated(format!(
                    "CloudTrail event source {}",
                    record.event_source
                )));
            }
            let parameters = record
                .request_parameters
                .ok_or_else(|| EventError::Invalid("detail.requestParameters: missing".into()))?;
            let change_set = parameters
                .change_set_name
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    EventError::Invalid("detail.requestParameters.changeSetName: missing".into())
                })?;
            keyable(&change_set, "detail.requestParameters.changeSetName")?;
            if let Some(stack) = &parameters.stack_name {
                keyable(stack, "detail.requestParameters.stackName")?;
            }
            // The bot deletes every preview's change set itself, at once: nothing to mirror. (An
            // execution of one is not unrelated: it goes on, to be reported.)
            if !execute && is_preview_change_set(&change_set) {
                return Ok(Parsed::Unrelated(
                    "the bot's deletion of a pull request preview's change set".into(),
                ));
            }
            let region = record.aws_region.unwrap_or(envelope.region);
            keyable(&region, "detail.awsRegion")?;
            Ok(Parsed::Event(Event::ChangeSetCall(ChangeSetCall {
                id: envelope.id,
                time: envelope.time,
                region,
                execute,
                stack: parameters.stack_name.filter(|name| !name.is_empty()),
                change_set,
                actor: actor(record.user_identity.as_ref()),
                error: record
                    .error_code
                    .map(|code| (code, record.error_message.unwrap_or_default())),
            })))
        }
        other => Ok(Parsed::Unrelated(format!("detail-type {other}"))),
    }
}

/// `arn:aws:cloudformation:us-east-1:123456789012:stack/alarms/5e1f…` → (`us-east-1`, `alarms`).
pub fn stack_arn_parts(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (_arn, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let stack = resource.strip_prefix("stack/")?.split('/').next()?;
    (service == "cloudformation" && !region.is_empty() && !stack.is_empty())
        .then_some((region, stack))
}

const SLACK_SESSION: &str = "chatbot-session-slack-";

/// Who made the call: Amazon Q names its assumed-role session `chatbot-session-slack-<user>`
/// (community-observed), so a Slack user id is taken from there; anyone else is their ARN.
fn actor(identity: Option<&UserIdentity>) -> Actor {
    let Some(identity) = identity else {
        return Actor::Principal("an unknown principal".into());
    };
    let session = identity
        .arn
        .as_deref()
        .filter(|arn| arn.contains(":assumed-role/"))
        .and_then(|arn| arn.rsplit('/').next())
        .or_else(|| {
            identity
                .principal_id
                .as_deref()?
                .split_once(':')
                .map(|(_, s)| s)
        });
    if let Some(user) = session.and_then(|session| session.strip_prefix(SLACK_SESSION))
        && !user.is_empty()
        && user.len() <= 32
        && user.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Actor::SlackUser(user.to_string());
    }
    Actor::Principal(
        identity
            .arn
            .clone()
            .or_else(|| identity.user_name.clone())
            .or_else(|| identity.principal_id.clone())
            .unwrap_or_else(|| "an unknown principal".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/alarms/5e1f0a70-0000-11ef-8000-0a1b2c3d4e5f";

    /// The documented example (`eb-cloudformation-stack-status-change.json`).
    fn documented_stack_status() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/cloudformation/eb-cloudformation-stack-status-change.json"
        ))
        .unwrap()
    }

    fn cloudtrail(event: &str, identity: Value, error: Option<&str>) -> Value {
        let mut detail = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": "2026-03-04T06:00:00Z",
            "eventSource": "cloudformation.amazonaws.com",
            "eventName": event,
            "awsRegion": "us-east-1",
            "requestParameters": {
                "stackName": "alarms",
                "changeSetName": "arn:aws:cloudformation:us-east-1:123456789012:changeSet/cfn-chatops-d3adb33/9a8b",
            },
            "responseElements": null,
        });
        if let Some(code) = error {
            detail["errorCode"] = json!(code);
            detail["errorMessage"] = json!("ChangeSet is in an invalid state");
        }
        json!({
            "version": "0", "id": "ct-1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.cloudformation", "account": "123456789012",
            "time": "2026-03-04T06:00:01Z", "region": "us-east-1", "resources": [],
            "detail": detail,
        })
    }

    #[test]
    fn the_documented_stack_status_change_is_read() {
        let Parsed::Event(Event::StackStatus(status)) = parse(&documented_stack_status()).unwrap()
        else {
            panic!("not a stack status");
        };
        assert!(!status.id.is_empty());
        assert!(!status.status.is_empty());
        assert_eq!(
            stack_arn_parts(&status.stack_id),
            Some((status.region.as_str(), status.stack.as_str()))
        );
    }

    #[test]
    fn a_slack_user_is_read_from_the_amazon_q_session_name() {
        let assumed = json!({
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:chatbot-session-slack-U0123ABC",
            "arn": "arn:aws:sts::123456789012:assumed-role/AmazonQChannelRole/chatbot-session-slack-U0123ABC",
        });
        let Parsed::Event(Event::ChangeSetCall(call)) =
            parse(&cloudtrail("ExecuteChangeSet", assumed, None)).unwrap()
        else {
            panic!("not a call");
        };
        assert!(call.execute);
        assert_eq!(call.actor, Actor::SlackUser("U0123ABC".into()));
        assert!(
            call.change_set
                .ends_with(":changeSet/cfn-chatops-d3adb33/9a8b")
        );
        let user = json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ken", "userName": "ken"});
        let Parsed::Event(Event::ChangeSetCall(call)) = parse(&cloudtrail(
            "DeleteChangeSet",
            user,
            Some("InvalidChangeSetStatus"),
        ))
        .unwrap() else {
            panic!("not a call");
        };
        assert!(!call.execute);
        assert_eq!(
            call.actor,
            Actor::Principal("arn:aws:iam::123456789012:user/ken".into())
        );
        assert_eq!(call.error.unwrap().0, "InvalidChangeSetStatus");
        // A session name that is not a plain Slack id is not trusted as one.
        let odd = json!({"arn": "arn:aws:sts::1:assumed-role/R/chatbot-session-slack-<!here>"});
        let Parsed::Event(Event::ChangeSetCall(call)) =
            parse(&cloudtrail("ExecuteChangeSet", odd, None)).unwrap()
        else {
            panic!("not a call");
        };
        assert!(matches!(call.actor, Actor::Principal(_)));
    }

    #[test]
    fn unrelated_events_are_named_and_broken_ones_refused_with_the_field() {
        let mut other = cloudtrail("CreateStack", json!({}), None);
        assert_eq!(
            parse(&other).unwrap(),
            Parsed::Unrelated("CloudTrail call CreateStack".into())
        );
        other["source"] = json!("aws.ec2");
        assert_eq!(
            parse(&other).unwrap(),
            Parsed::Unrelated("source aws.ec2".into())
        );
        let mut preview = cloudtrail("DeleteChangeSet", json!({}), None);
        preview["detail"]["requestParameters"]["changeSetName"] = json!(format!(
            "arn:aws:cloudformation:us-east-1:123456789012:changeSet/cfn-chatops-preview-pr61-{}/9a8b",
            "d".repeat(40)
        ));
        assert_eq!(
            parse(&preview).unwrap(),
            Parsed::Unrelated("the bot's deletion of a pull request preview's change set".into())
        );
        preview["detail"]["eventName"] = json!("ExecuteChangeSet");
        assert!(
            matches!(parse(&preview).unwrap(), Parsed::Event(Event::ChangeSetCall(call)) if call.execute),
            "executing a preview's change set is never ignored as unrelated"
        );
        let mut drift = documented_stack_status();
        drift["detail-type"] = json!("CloudFormation Drift Detection Status Change");
        assert!(matches!(parse(&drift).unwrap(), Parsed::Unrelated(_)));

        let mut no_status = documented_stack_status();
        no_status["detail"]
            .as_object_mut()
            .unwrap()
            .remove("status-details");
        assert!(
            parse(&no_status)
                .unwrap_err()
                .to_string()
                .contains("detail")
        );
        let mut bad_arn = documented_stack_status();
        bad_arn["detail"]["stack-id"] = json!("alarms");
        assert!(
            parse(&bad_arn)
                .unwrap_err()
                .to_string()
                .contains("detail.stack-id")
        );
        // What the ledger would key on, too long for DynamoDB: unreadable, named, clipped.
        let mut long_id = documented_stack_status();
        long_id["id"] = json!("x".repeat(3_000));
        let Err(EventError::Invalid(reason)) = parse(&long_id) else {
            panic!("a 3,000-byte id is refused");
        };
        assert!(
            reason.starts_with("id: 3000 bytes, over the 1000 the ledger can key on: \"xxx")
                && reason.len() < 200,
            "{reason}"
        );
        let mut long_name = cloudtrail("DeleteChangeSet", json!({}), None);
        long_name["detail"]["requestParameters"]["changeSetName"] = json!("c".repeat(1_001));
        assert!(
            matches!(parse(&long_name), Err(EventError::Invalid(reason)) if reason.starts_with("detail.requestParameters.changeSetName: 1001 bytes"))
        );
        let mut no_change_set = cloudtrail("ExecuteChangeSet", json!({}), None);
        no_change_set["detail"]["requestParameters"] = json!({"stackName": "alarms"});
        assert!(
            parse(&no_change_set)
                .unwrap_err()
                .to_string()
                .contains("changeSetName")
        );
        assert!(parse(&json!([1])).is_err());
        assert!(
            parse(&json!({"id": "x"}))
                .unwrap_err()
                .to_string()
                .contains("detail-type")
        );
        assert_eq!(stack_arn_parts(STACK_ID), Some(("us-east-1", "alarms")));
    }
}
