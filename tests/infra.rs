//! `infra/template.yaml`, read as data: the custom actions match `custom-actions/`, every IAM
//! statement is least privilege, the Slack channel has an explicit guardrail, and every
//! `CFN_CHATOPS_*` variable it sets is a setting the binary has. (`cfn-lint` runs on it in
//! `scripts/test`.)

mod support;

use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

fn template_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml")).unwrap()
}

fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).unwrap()
}

fn is_deny(statement: &Value) -> bool {
    text(&statement["Effect"]) == "Deny"
}

fn resources(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, resource)| (name.as_str().unwrap().to_owned(), resource))
        .collect()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .collect()
}

/// A string, or the name behind `!Ref x` / `!GetAtt x.y`, for comparisons.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, text(&tagged.value)),
        Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

fn list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => vec![],
        single => vec![single],
    }
}

/// Every statement of every identity policy: role inline policies and managed policies.
fn identity_statements(template: &Value) -> Vec<(String, &Value)> {
    let mut statements = Vec::new();
    for (name, role) in of_type(template, "AWS::IAM::Role") {
        for policy in list(&role["Properties"]["Policies"]) {
            for statement in list(&policy["PolicyDocument"]["Statement"]) {
                statements.push((name.clone(), statement));
            }
        }
    }
    for (name, policy) in of_type(template, "AWS::IAM::ManagedPolicy") {
        for statement in list(&policy["Properties"]["PolicyDocument"]["Statement"]) {
            statements.push((name.clone(), statement));
        }
    }
    statements
}

fn actions(statement: &Value) -> Vec<String> {
    list(&statement["Action"]).into_iter().map(text).collect()
}

#[test]
fn the_custom_actions_in_the_template_are_the_ones_in_custom_actions() {
    let template = template();
    let in_template: Vec<(String, Json)> = of_type(&template, "AWS::Chatbot::CustomAction")
        .into_iter()
        .map(|(name, resource)| (name, serde_json::to_value(resource).unwrap()))
        .collect();
    let folder = cfn_chatops::core::custom_actions::all().unwrap();
    assert_eq!(in_template.len(), folder.len(), "one resource per file");
    for action in folder {
        let (_, resource) = in_template
            .iter()
            .find(|(name, _)| *name == action.logical_id())
            .unwrap_or_else(|| panic!("{} missing from infra/template.yaml", action.logical_id()));
        assert_eq!(
            resource,
            &action.to_cloudformation(),
            "{} differs from custom-actions/ (regenerate with `cfn-chatops custom-actions --format cloudformation`)",
            action.logical_id()
        );
    }
}

#[test]
fn every_identity_policy_is_least_privilege() {
    let template = template();
    let statements = identity_statements(&template);
    assert!(statements.len() >= 20, "found {}", statements.len());
    // The only denials: whoever can plan or press a button never touches the bot's own stack.
    let denying: BTreeSet<&str> = statements
        .iter()
        .filter(|(_, statement)| is_deny(statement))
        .map(|(owner, statement)| {
            assert_eq!(
                text(&statement["Resource"]),
                "!Sub arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/${AWS::StackName}/*"
            );
            owner.as_str()
        })
        .collect();
    assert_eq!(
        denying.into_iter().collect::<Vec<_>>(),
        ["ChannelGuardrail", "ChannelRole", "PlanRole"]
    );
    for (owner, statement) in statements.iter().filter(|(_, s)| !is_deny(s)) {
        assert_eq!(text(&statement["Effect"]), "Allow", "{owner}");
        for action in actions(statement) {
            let lower = action.to_ascii_lowercase();
            assert!(
                action != "*" && !action.ends_with(":*"),
                "{owner}: wildcard action {action}"
            );
            assert!(!lower.starts_with("ec2:"), "{owner}: {action}");
            if lower.starts_with("iam:") {
                // Only passing the one deploy role, to CloudFormation.
                assert_eq!(lower, "iam:passrole", "{owner}: {action}");
                assert_eq!(text(&statement["Resource"]), "!Ref DeployRoleArn");
                assert!(
                    text(&statement["Condition"]["StringEquals"]["iam:PassedToService"])
                        .contains("cloudformation.amazonaws.com")
                );
            }
        }
        // ValidateTemplate (a preview of a new stack) names no resource: IAM has no
        // resource-level permission for it, so "*" is its only form, and nothing else may
        // ride along.
        let resource_less = actions(statement) == ["cloudformation:ValidateTemplate"];
        for resource in list(&statement["Resource"]) {
            assert!(
                text(resource) != "*" || resource_less,
                "{owner}: a statement on every resource"
            );
        }
    }
    // No AWS managed policy sneaks in broad rights.
    for (name, role) in of_type(&template, "AWS::IAM::Role") {
        assert!(
            role["Properties"]["ManagedPolicyArns"].is_null(),
            "{name} attaches managed policies"
        );
    }
    let whole = template_text();
    for broad in ["AdministratorAccess", "PowerUserAccess", "iam:*", "ec2:*"] {
        assert!(!whole.contains(broad), "{broad} in the template");
    }
}

#[test]
fn the_slack_channel_has_an_explicit_guardrail_that_only_reviews_and_decides() {
    let template = template();
    let channels = of_type(&template, "AWS::Chatbot::SlackChannelConfiguration");
    assert_eq!(channels.len(), 1);
    let channel = &channels[0].1["Properties"];
    assert_eq!(text(&channel["LoggingLevel"]), "ERROR");
    assert_eq!(text(&channel["GuardrailPolicies"]), "!Ref ChannelGuardrail");
    assert_eq!(text(&channel["SnsTopicArns"]), "!Ref NotificationsTopic");
    assert_eq!(
        text(&channel["CustomizationResourceArns"]),
        "!GetAtt CfnChatopsExecute.CustomActionArn,!GetAtt CfnChatopsDiscard.CustomActionArn"
    );
    for parameter in ["SlackWorkspaceId", "SlackChannelId"] {
        assert_eq!(text(&channel[parameter]), format!("!Ref {parameter}"));
    }
    let allowed = |action: &str| {
        action.starts_with("cloudformation:Describe")
            || action.starts_with("cloudformation:List")
            || action == "cloudformation:ExecuteChangeSet"
            || action == "cloudformation:DeleteChangeSet"
    };
    let channel_role = text(&channel["IamRoleArn"]);
    assert_eq!(channel_role, "!GetAtt ChannelRole.Arn");
    for (owner, statement) in identity_statements(&template) {
        if (owner == "ChannelGuardrail" || owner == "ChannelRole") && !is_deny(statement) {
            for action in actions(statement) {
                assert!(allowed(&action), "{owner} allows {action}");
            }
            // Only the managed stacks and the bot's change sets.
            for resource in list(&statement["Resource"]) {
                let resource = text(resource);
                assert!(
                    resource.contains(":stack/${ManagedStackPrefix}*/*")
                        || resource.contains(":changeSet/cfn-chatops-*/*"),
                    "{owner}: {resource}"
                );
            }
        }
    }
}

#[test]
fn state_events_and_functions_are_set_up_as_the_bot_expects() {
    let template = template();
    let resource = |name: &str| &template["Resources"][name]["Properties"];
    let ledger = resource("Ledger");
    assert_eq!(text(&ledger["BillingMode"]), "PAY_PER_REQUEST");
    assert_eq!(
        text(&ledger["TimeToLiveSpecification"]["AttributeName"]),
        "expires_at"
    );
    assert_eq!(
        ledger["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        Value::Bool(true)
    );
    let keys: Vec<String> = list(&ledger["KeySchema"])
        .into_iter()
        .map(|key| format!("{}:{}", text(&key["AttributeName"]), text(&key["KeyType"])))
        .collect();
    assert_eq!(keys, ["pk:HASH", "sk:RANGE"]);

    let bucket = resource("TemplateBucket");
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], Value::Bool(true), "{setting}");
    }
    assert!(!bucket["BucketEncryption"].is_null());
    assert!(!bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"].is_null());

    let globals = &template["Globals"]["Function"];
    assert_eq!(text(&globals["Runtime"]), "provided.al2023");
    assert_eq!(text(&globals["Architectures"]), "arm64");
    assert_eq!(
        text(&resource("WebhookFunction")["Environment"]["Variables"]["CFN_CHATOPS_LAMBDA"]),
        "webhook"
    );
    let events = resource("EventsFunction");
    assert_eq!(
        text(&events["Environment"]["Variables"]["CFN_CHATOPS_LAMBDA"]),
        "events"
    );
    assert_eq!(
        text(&events["DeadLetterQueue"]["TargetArn"]),
        "!GetAtt EventsDeadLetterQueue.Arn"
    );
    let rules = events["Events"].as_mapping().unwrap();
    let mut detail_types = BTreeSet::new();
    for (_, rule) in rules {
        assert_eq!(text(&rule["Type"]), "EventBridgeRule");
        let properties = &rule["Properties"];
        assert!(!properties["RetryPolicy"].is_null());
        assert_eq!(
            text(&properties["DeadLetterConfig"]["Arn"]),
            "!GetAtt EventsDeadLetterQueue.Arn"
        );
        detail_types.insert(text(&properties["Pattern"]["detail-type"]));
        if text(&properties["Pattern"]["detail-type"]) == "AWS API Call via CloudTrail" {
            assert_eq!(
                text(&properties["Pattern"]["detail"]["eventName"]),
                "ExecuteChangeSet,DeleteChangeSet"
            );
        }
    }
    assert_eq!(
        detail_types.into_iter().collect::<Vec<_>>(),
        [
            "AWS API Call via CloudTrail",
            "CloudFormation Stack Status Change"
        ]
    );
    // The webhook URL (with its secret) is an output.
    assert!(
        text(&template["Outputs"]["WebhookUrl"]["Value"]).contains("/webhook/${WebhookSecret}")
    );
}

#[test]
fn every_setting_the_template_gives_is_one_the_binary_reads() {
    let whole = template_text();
    let mut help = String::new();
    for command in ["lambda", "plan"] {
        let output = support::bot::command(&[command, "--help"], &[])
            .output()
            .unwrap();
        help.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    let mut names = BTreeSet::new();
    for (index, _) in whole.match_indices("CFN_CHATOPS_") {
        let name: String = whole[index..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        names.insert(name);
    }
    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        // CFN_CHATOPS_BRANCH & co. come from the runner's StartBuild overrides.
        assert!(
            help.contains(&name),
            "{name} is not a setting of the binary"
        );
    }
}
