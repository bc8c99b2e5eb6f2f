//! EventBridge events as CloudFormation and CloudTrail deliver them, built from what moto says.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::aws;

pub fn iso(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).unwrap().as_secs();
    aws_sdk_cloudformation::primitives::DateTime::from_secs(secs as i64)
        .fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
        .unwrap()
}

/// The CloudTrail record of a button's command, as EventBridge delivers it for Amazon Q's
/// channel role (session `chatbot-session-slack-<user>`).
pub fn cloudtrail_event(id: &str, command: &str, slack_user: &str, time: SystemTime) -> Value {
    let words: Vec<&str> = command.split_whitespace().collect();
    let event_name = match words[1] {
        "execute-change-set" => "ExecuteChangeSet",
        "delete-change-set" => "DeleteChangeSet",
        other => panic!("not a change-set command: {other}"),
    };
    let change_set = words[words
        .iter()
        .position(|w| *w == "--change-set-name")
        .unwrap()
        + 1];
    let mut parameters = json!({"changeSetName": change_set});
    if event_name == "ExecuteChangeSet" {
        parameters["disableRollback"] = json!(false);
    }
    json!({
        "version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cloudformation", "account": "123456789012", "time": iso(time),
        "region": aws::REGION, "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": format!("AROAEXAMPLEID:chatbot-session-slack-{slack_user}"),
                "arn": format!("arn:aws:sts::123456789012:assumed-role/cfn-chatops-channel/chatbot-session-slack-{slack_user}"),
                "accountId": "123456789012",
                "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "cfn-chatops-channel"}}
            },
            "eventTime": iso(time), "eventSource": "cloudformation.amazonaws.com",
            "eventName": event_name, "awsRegion": aws::REGION,
            "sourceIPAddress": "chatbot.amazonaws.com", "userAgent": "chatbot.amazonaws.com",
            "requestParameters": parameters, "responseElements": null,
            "requestID": "0e1f2a3b", "eventID": id, "readOnly": false,
            "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "123456789012", "eventCategory": "Management"
        }
    })
}

/// The stack's status change, built from what moto says about the stack now.
pub async fn stack_status_event(
    cloudformation: &aws_sdk_cloudformation::Client,
    id: &str,
    stack: &str,
    time: SystemTime,
) -> Value {
    let described = cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let stack = &described.stacks()[0];
    let stack_id = stack.stack_id().unwrap();
    json!({
        "version": "0", "id": id, "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation", "account": "123456789012", "time": iso(time),
        "region": aws::REGION, "resources": [stack_id],
        "detail": {
            "stack-id": stack_id,
            "status-details": {"status": stack.stack_status().unwrap().as_str(), "status-reason": ""}
        }
    })
}
