//! Permission rules: IAM statements that broaden access, security groups opened to the world,
//! resource policies that grant everyone.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Subject, property, resource_name};
use crate::model::report::ResourceChangeSummary;
use crate::model::verdict::{Finding, Level, Source};

pub const IAM_BROADENED: &str = "iam-broadened";
pub const INGRESS_OPEN: &str = "ingress-open-to-world";
pub const PUBLIC_POLICY: &str = "public-resource-policy";

/// Managed policies that grant (nearly) everything.
const BROAD_MANAGED_POLICIES: [&str; 3] = [
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
];

pub(super) fn findings(subject: &Subject, level: Level) -> Vec<Finding> {
    let mut found = Vec::new();
    for change in subject
        .changes
        .iter()
        .filter(|change| matches!(change.action.as_str(), "Add" | "Modify" | "Import"))
    {
        let finding = |rule: &str, message: String| Finding {
            rule: rule.into(),
            resource: Some(resource_name(change)),
            message,
            source: Source::Builtin,
            level,
            waived: None,
        };
        let kind = change.resource_type.as_str();
        if kind.starts_with("AWS::IAM::") {
            found.extend(
                iam(subject, change)
                    .into_iter()
                    .map(|m| finding(IAM_BROADENED, m)),
            );
        }
        if matches!(
            kind,
            "AWS::EC2::SecurityGroup" | "AWS::EC2::SecurityGroupIngress"
        ) {
            found.extend(
                ingress(subject, change)
                    .into_iter()
                    .map(|m| finding(INGRESS_OPEN, m)),
            );
        }
        found.extend(
            public(subject, change)
                .into_iter()
                .map(|m| finding(PUBLIC_POLICY, m)),
        );
    }
    found
}

/// A property's value before and after: the templates', or CloudFormation's own values when
/// the templates do not have the resource (a nested stack's row).
fn before_after(
    subject: &Subject,
    change: &ResourceChangeSummary,
    path: &[&str],
) -> (Option<Value>, Option<Value>) {
    let after = property(
        Some(subject.after),
        &change.logical_id,
        path,
        subject.parameters,
    );
    let before = property(subject.before, &change.logical_id, path, subject.parameters);
    if after.is_some() || before.is_some() || path.len() != 1 {
        return (before, after);
    }
    let reported = change
        .properties
        .iter()
        .find(|p| p.attribute == "Properties" && p.name.as_deref() == Some(path[0]));
    let parse = |text: Option<&String>| text.and_then(|text| serde_json::from_str(text).ok());
    match reported {
        Some(p) => (parse(p.before.as_ref()), parse(p.after.as_ref())),
        None => (None, None),
    }
}

/// The statements of a policy document, or of a list of named documents (`Policies`).
fn statements(document: Option<&Value>) -> Vec<Value> {
    let of_document = |document: &Value| -> Vec<Value> {
        match document.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => vec![],
        }
    };
    match document {
        Some(Value::Array(policies)) => policies
            .iter()
            .filter_map(|policy| policy.get("PolicyDocument"))
            .flat_map(of_document)
            .collect(),
        Some(document) => of_document(document),
        None => vec![],
    }
}

/// A statement's list field as strings (`"s3:*"` or `["a", "b"]`); intrinsic functions count
/// as no value.
fn list(statement: &Value, key: &str) -> Vec<String> {
    match statement.get(key) {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    }
}

fn is_allow(statement: &Value) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// Statements in `after` not in `before`.
fn added(before: &[Value], after: &[Value]) -> Vec<Value> {
    after
        .iter()
        .filter(|s| !before.contains(s))
        .cloned()
        .collect()
}

/// The service prefixes a statement's actions name (`s3` of `s3:GetObject`).
fn prefixes(statements: &[Value]) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| is_allow(s))
        .flat_map(|s| list(s, "Action"))
        .filter_map(|action| {
            action
                .split_once(':')
                .map(|(prefix, _)| prefix.to_ascii_lowercase())
        })
        .collect()
}

fn principals(statements: &[Value]) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| is_allow(s))
        .filter_map(|s| s.get("Principal"))
        .flat_map(|principal| match principal {
            Value::String(text) => vec![text.clone()],
            Value::Object(map) => map
                .iter()
                .flat_map(|(kind, value)| {
                    let values = match value {
                        Value::Array(items) => items.clone(),
                        other => vec![other.clone()],
                    };
                    values.into_iter().map(move |value| match value {
                        Value::String(text) => format!("{kind} {text}"),
                        other => format!("{kind} {other}"),
                    })
                })
                .collect(),
            _ => vec![],
        })
        .collect()
}

/// What an IAM resource gains: wildcard actions or resources, `NotAction`, a service it could
/// not use before, a principal its trust policy did not name, a broad managed policy.
fn iam(subject: &Subject, change: &ResourceChangeSummary) -> Vec<String> {
    let mut messages = Vec::new();
    let modify = change.action == "Modify";
    let mut permissions = (Vec::new(), Vec::new());
    for name in ["PolicyDocument", "Policies"] {
        let (before, after) = before_after(subject, change, &[name]);
        permissions.0.extend(statements(before.as_ref()));
        permissions.1.extend(statements(after.as_ref()));
    }
    let gained = added(&permissions.0, &permissions.1);
    for statement in gained.iter().filter(|s| is_allow(s)) {
        let actions = list(statement, "Action");
        let resources = list(statement, "Resource");
        let wild_action = actions.iter().any(|a| a == "*" || a.ends_with(":*"));
        let wild_resource = resources.iter().any(|r| r == "*");
        let not_action = statement.get("NotAction").is_some();
        if wild_action || wild_resource || not_action {
            let what = if not_action {
                format!(
                    "all actions but {}",
                    list(statement, "NotAction").join(", ")
                )
            } else {
                actions.join(", ")
            };
            let on = if resources.is_empty() {
                "?".to_owned()
            } else {
                resources.join(", ")
            };
            messages.push(format!("gains {what} on {on}"));
        }
    }
    if modify {
        let new: Vec<String> = prefixes(&permissions.1)
            .difference(&prefixes(&permissions.0))
            .cloned()
            .collect();
        if !new.is_empty() {
            messages.push(format!("gains access to a new service: {}", new.join(", ")));
        }
    }
    let (trust_before, trust_after) = before_after(subject, change, &["AssumeRolePolicyDocument"]);
    let (trust_before, trust_after) = (
        statements(trust_before.as_ref()),
        statements(trust_after.as_ref()),
    );
    let newly_trusted: Vec<String> = principals(&trust_after)
        .difference(&principals(&trust_before))
        .filter(|principal| modify || is_everyone(principal))
        .cloned()
        .collect();
    if !newly_trusted.is_empty() {
        messages.push(format!(
            "trusts a new principal: {}",
            newly_trusted.join(", ")
        ));
    }
    let (arns_before, arns_after) = before_after(subject, change, &["ManagedPolicyArns"]);
    let arns = |value: Option<&Value>| -> Vec<String> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let before_arns = arns(arns_before.as_ref());
    for arn in arns(arns_after.as_ref()) {
        if BROAD_MANAGED_POLICIES.contains(&arn.as_str()) && !before_arns.contains(&arn) {
            messages.push(format!("gains the managed policy {arn}"));
        }
    }
    messages
}

fn is_everyone(principal: &str) -> bool {
    principal == "*" || principal == "AWS *"
}

/// Ingress rules newly open to 0.0.0.0/0 or ::/0 on ports other than 80 and 443.
fn ingress(subject: &Subject, change: &ResourceChangeSummary) -> Vec<String> {
    let rules = |value: Option<Value>| -> Vec<Value> {
        match value {
            Some(Value::Array(items)) => items,
            _ => vec![],
        }
    };
    let (before, after) = if change.resource_type == "AWS::EC2::SecurityGroup" {
        let (before, after) = before_after(subject, change, &["SecurityGroupIngress"]);
        (rules(before), rules(after))
    } else {
        // A standalone ingress resource: its properties are the rule.
        let whole = |template: Option<&Value>| {
            super::resource(template, &change.logical_id)
                .and_then(|entry| entry.get("Properties"))
                .map(|properties| super::resolve(properties, template, subject.parameters))
        };
        (
            whole(subject.before).into_iter().collect(),
            whole(Some(subject.after)).into_iter().collect(),
        )
    };
    // Compared by what each rule opens (protocol, ports, range), so a rule reworded (its
    // Description) or moved is not "newly" open.
    let opened_before: BTreeSet<String> = before.iter().filter_map(opening).collect();
    let mut opened: Vec<String> = Vec::new();
    for message in after.iter().filter_map(opening) {
        if !opened_before.contains(&message) && !opened.contains(&message) {
            opened.push(message);
        }
    }
    opened
}

/// What an ingress rule opens to the world (`opens tcp 22 to 0.0.0.0/0`), if it does,
/// beyond the web's 80 and 443.
fn opening(rule: &Value) -> Option<String> {
    let cidr = [("CidrIp", "0.0.0.0/0"), ("CidrIpv6", "::/0")]
        .into_iter()
        .find(|(key, world)| rule.get(*key).and_then(Value::as_str) == Some(*world))
        .map(|(_, world)| world)?;
    let protocol = match rule.get("IpProtocol") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => "?".into(),
    };
    let port = |key: &str| -> Option<i64> {
        match rule.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
    };
    let (from, to) = (port("FromPort"), port("ToPort"));
    let web = matches!(protocol.as_str(), "tcp" | "6")
        && from.is_some()
        && from == to
        && matches!(from, Some(80 | 443));
    if web {
        return None;
    }
    let ports = match (protocol.as_str(), from, to) {
        ("-1" | "all", ..) => "all traffic".to_owned(),
        (_, Some(from), Some(to)) if from == to => format!("{protocol} {from}"),
        (_, Some(from), Some(to)) => format!("{protocol} {from}-{to}"),
        _ => protocol,
    };
    Some(format!("opens {ports} to {cidr}"))
}

/// Resource policies that newly allow everyone (`Principal: "*"`) without a condition.
fn public(subject: &Subject, change: &ResourceChangeSummary) -> Vec<String> {
    let document = match change.resource_type.as_str() {
        "AWS::S3::BucketPolicy"
        | "AWS::SQS::QueuePolicy"
        | "AWS::SQS::QueueInlinePolicy"
        | "AWS::SNS::TopicPolicy"
        | "AWS::SNS::TopicInlinePolicy" => "PolicyDocument",
        "AWS::KMS::Key" => "KeyPolicy",
        "AWS::SecretsManager::ResourcePolicy" => "ResourcePolicy",
        "AWS::Lambda::Permission" => return lambda_public(subject, change),
        _ => return vec![],
    };
    let (before, after) = before_after(subject, change, &[document]);
    added(&statements(before.as_ref()), &statements(after.as_ref()))
        .iter()
        .filter(|s| is_allow(s) && s.get("Condition").is_none())
        .filter(|s| {
            principals(std::slice::from_ref(s))
                .iter()
                .any(|p| is_everyone(p))
        })
        .map(|s| {
            let actions = list(s, "Action");
            format!(
                "grants {} to everyone (Principal *) without a condition",
                if actions.is_empty() {
                    "access".to_owned()
                } else {
                    actions.join(", ")
                }
            )
        })
        .collect()
}

/// A Lambda permission for `*` with no source account, ARN or organisation to narrow it.
fn lambda_public(subject: &Subject, change: &ResourceChangeSummary) -> Vec<String> {
    let value = |key: &str| before_after(subject, change, &[key]);
    let (before, after) = value("Principal");
    let narrowed = ["SourceArn", "SourceAccount", "PrincipalOrgID"]
        .iter()
        .any(|key| value(key).1.is_some());
    let everyone =
        |principal: &Option<Value>| principal.as_ref().and_then(Value::as_str) == Some("*");
    if everyone(&after) && !narrowed && !everyone(&before) {
        let action = value("Action").1;
        vec![format!(
            "grants {} to everyone (Principal *) without a source account, ARN or organisation",
            action
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("invocation")
        )]
    } else {
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::verdict::fixtures::{change, run, template};

    fn role(policy: Value, trust: Value) -> Value {
        template(
            "WorkerRole",
            json!({"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [trust]},
                "Policies": [{"PolicyName": "work", "PolicyDocument": {"Version": "2012-10-17", "Statement": policy}}]
            }}),
        )
    }

    fn lambda_trust() -> Value {
        json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    }

    fn modified(id: &str, kind: &str) -> [ResourceChangeSummary; 1] {
        [change("Modify", id, kind, Some("False"), None)]
    }

    #[test]
    fn a_role_gaining_wildcards_is_found_and_a_narrow_grant_is_not() {
        let narrow = role(
            json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::orders/*"}]),
            lambda_trust(),
        );
        let wild = role(
            json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]),
            lambda_trust(),
        );
        let found = run(
            &modified("WorkerRole", "AWS::IAM::Role"),
            Some(&narrow),
            &wild,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, IAM_BROADENED);
        assert_eq!(found[0].message, "gains s3:* on *");
        assert_eq!(
            found[0].resource.as_deref(),
            Some("WorkerRole (AWS::IAM::Role)")
        );
        assert!(
            run(
                &modified("WorkerRole", "AWS::IAM::Role"),
                Some(&wild),
                &narrow
            )
            .is_empty(),
            "narrowing is fine"
        );
        assert!(
            run(
                &modified("WorkerRole", "AWS::IAM::Role"),
                Some(&wild),
                &wild
            )
            .is_empty(),
            "unchanged"
        );

        let deny = role(
            json!([{"Effect": "Deny", "Action": "*", "Resource": "*"}]),
            lambda_trust(),
        );
        assert!(
            run(
                &modified("WorkerRole", "AWS::IAM::Role"),
                Some(&narrow),
                &deny
            )
            .is_empty(),
            "a Deny grants nothing"
        );
    }

    #[test]
    fn a_new_service_prefix_and_a_new_trusted_principal_are_found() {
        let before = role(
            json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}]),
            lambda_trust(),
        );
        let after = role(
            json!([{"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:GetItem"], "Resource": "arn:aws:s3:::a/*"}]),
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "sts:AssumeRole"}),
        );
        let found = run(
            &modified("WorkerRole", "AWS::IAM::Role"),
            Some(&before),
            &after,
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "gains access to a new service: dynamodb",
                "trusts a new principal: AWS arn:aws:iam::210987654321:root"
            ]
        );
        // A new role: only wildcards and everyone count, not every service it names.
        let added = [change("Add", "WorkerRole", "AWS::IAM::Role", None, None)];
        assert!(run(&added, None, &after).is_empty());
    }

    #[test]
    fn managed_policies_and_policy_resources_count_too() {
        let kind = "AWS::IAM::ManagedPolicy";
        let policy = |statement: Value| {
            template(
                "Ops",
                json!({"Type": kind, "Properties": {"PolicyDocument": {"Statement": [statement]}}}),
            )
        };
        let before = policy(
            json!({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "arn:aws:ec2:::x"}),
        );
        let after =
            policy(json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:ec2:::x"}));
        let found = run(&modified("Ops", kind), Some(&before), &after);
        assert_eq!(
            found[0].message,
            "gains all actions but iam:* on arn:aws:ec2:::x"
        );

        let admin = template(
            "R",
            json!({"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}}),
        );
        let readonly = template(
            "R",
            json!({"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}}),
        );
        let found = run(&modified("R", "AWS::IAM::Role"), Some(&readonly), &admin);
        assert_eq!(
            found[0].message,
            "gains the managed policy arn:aws:iam::aws:policy/AdministratorAccess"
        );
        assert!(run(&modified("R", "AWS::IAM::Role"), Some(&admin), &readonly).is_empty());
    }

    #[test]
    fn cloudformations_values_are_read_when_the_templates_lack_the_resource() {
        let mut nested = change(
            "Modify",
            "Network/WorkerRole",
            "AWS::IAM::Policy",
            Some("False"),
            None,
        );
        nested.properties.push(crate::model::report::PropertyChange {
            attribute: "Properties".into(),
            name: Some("PolicyDocument".into()),
            requires_recreation: Some("Never".into()),
            change_source: Some("DirectModification".into()),
            causing_entity: None,
            before: Some(r#"{"Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:::q"}]}"#.into()),
            after: Some(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.into()),
        });
        let found = run(&[nested], None, &json!({"Resources": {}}));
        assert_eq!(found[0].message, "gains * on *");
    }

    #[test]
    fn ingress_open_to_the_world_beyond_web_ports_is_found() {
        let group = |rules: Value| {
            template(
                "Sg",
                json!({"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "x", "SecurityGroupIngress": rules}}),
            )
        };
        let closed = group(
            json!([{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/8"}]),
        );
        let ssh = group(
            json!([{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}]),
        );
        let https = group(
            json!([{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv6": "::/0"}]),
        );
        let all = group(json!([{"IpProtocol": "-1", "CidrIpv6": "::/0"}]));
        let sg = modified("Sg", "AWS::EC2::SecurityGroup");
        assert_eq!(
            run(&sg, Some(&closed), &ssh)[0].message,
            "opens tcp 22 to 0.0.0.0/0"
        );
        assert_eq!(run(&sg, Some(&closed), &ssh)[0].rule, INGRESS_OPEN);
        assert!(
            run(&sg, Some(&closed), &https).is_empty(),
            "443 to the world is a web server"
        );
        assert_eq!(
            run(&sg, Some(&closed), &all)[0].message,
            "opens all traffic to ::/0"
        );
        assert!(
            run(&sg, Some(&ssh), &ssh).is_empty(),
            "already open: not new"
        );
        let reworded = group(
            json!([{"CidrIp": "0.0.0.0/0", "Description": "bastion", "ToPort": "22", "FromPort": 22, "IpProtocol": "tcp"}]),
        );
        assert!(
            run(&sg, Some(&ssh), &reworded).is_empty(),
            "the same opening, described and reordered: not new"
        );
        let twice = group(json!([
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"},
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0", "Description": "again"}
        ]));
        assert_eq!(run(&sg, Some(&closed), &twice).len(), 1, "said once");

        let standalone = template(
            "In",
            json!({"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {"GroupId": "sg-1", "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "CidrIp": "0.0.0.0/0"}}),
        );
        let added = [change(
            "Add",
            "In",
            "AWS::EC2::SecurityGroupIngress",
            None,
            None,
        )];
        assert_eq!(
            run(&added, None, &standalone)[0].message,
            "opens tcp 3306 to 0.0.0.0/0"
        );
    }

    #[test]
    fn resource_policies_for_everyone_without_a_condition_are_found() {
        let kind = "AWS::S3::BucketPolicy";
        let policy = |statement: Value| {
            template(
                "BucketPolicy",
                json!({"Type": kind, "Properties": {"Bucket": "b", "PolicyDocument": {"Statement": [statement]}}}),
            )
        };
        let public = policy(
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
        );
        let conditioned = policy(
            json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}),
        );
        let added = [change("Add", "BucketPolicy", kind, None, None)];
        let found = run(&added, None, &public);
        assert_eq!(found[0].rule, PUBLIC_POLICY);
        assert_eq!(
            found[0].message,
            "grants s3:GetObject to everyone (Principal *) without a condition"
        );
        assert!(run(&added, None, &conditioned).is_empty());

        // Queues, topics (also their inline policies) and keys, each under its own property.
        for (kind, property) in [
            ("AWS::SQS::QueuePolicy", "PolicyDocument"),
            ("AWS::SQS::QueueInlinePolicy", "PolicyDocument"),
            ("AWS::SNS::TopicPolicy", "PolicyDocument"),
            ("AWS::SNS::TopicInlinePolicy", "PolicyDocument"),
            ("AWS::KMS::Key", "KeyPolicy"),
        ] {
            let open = template(
                "P",
                json!({"Type": kind, "Properties": {property: {"Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "x:Do", "Resource": "*"}]}}}),
            );
            let found = run(&[change("Add", "P", kind, None, None)], None, &open);
            assert_eq!(
                found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
                [PUBLIC_POLICY],
                "{kind}: {found:?}"
            );
            let denied = template(
                "P",
                json!({"Type": kind, "Properties": {property: {"Statement": [
                    {"Effect": "Deny", "Principal": "*", "Action": "x:Do", "Resource": "*"}]}}}),
            );
            assert!(
                run(&[change("Add", "P", kind, None, None)], None, &denied).is_empty(),
                "{kind}: a Deny for everyone is no grant"
            );
        }

        let permission = |extra: Value| {
            let mut properties =
                json!({"FunctionName": "f", "Action": "lambda:InvokeFunction", "Principal": "*"});
            properties
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            template(
                "Invoke",
                json!({"Type": "AWS::Lambda::Permission", "Properties": properties}),
            )
        };
        let added = [change(
            "Add",
            "Invoke",
            "AWS::Lambda::Permission",
            None,
            None,
        )];
        assert_eq!(run(&added, None, &permission(json!({}))).len(), 1);
        assert!(
            run(
                &added,
                None,
                &permission(json!({"SourceAccount": "123456789012"}))
            )
            .is_empty()
        );
    }
}
