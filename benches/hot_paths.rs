//! Hot pure paths, timed: `cargo bench --bench hot_paths`. Plain loops (no framework): each
//! case runs until it has used ~1 s and prints the time per run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cfn_chatops::core::classify::{ChangeSetDescription, classify};
use cfn_chatops::core::verdict::{
    RiskLevels, Subject, builtin_findings, guard_rules, with_parameters,
};
use cfn_chatops::core::{event, webhook};
use cfn_chatops::model::backlog::TextFormat;
use cfn_chatops::model::report::PlanReport;
use cfn_chatops::render::backlog::plan::plan_comment;
use cfn_chatops::render::links::Links;
use cfn_chatops::render::slack::cards::plan_cards;

fn time(name: &str, mut run: impl FnMut()) {
    run();
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        run();
        runs += 1;
    }
    let each = started.elapsed() / runs;
    println!("{name:<48} {each:>12.2?} per run ({runs} runs)");
}

fn main() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let form = std::fs::read(format!("{fixtures}/backlog/git-webhook-push.form")).unwrap();
    let json = std::fs::read(format!("{fixtures}/backlog/project-type12-push.json")).unwrap();
    time("parse Git webhook (form)", || {
        black_box(
            webhook::parse(Some("application/x-www-form-urlencoded"), black_box(&form)).unwrap(),
        );
    });
    time("parse project webhook (type 12)", || {
        black_box(webhook::parse(Some("application/json"), black_box(&json)).unwrap());
    });

    // A 5,000-row change set, built from the documented replacement example.
    let text = std::fs::read_to_string(format!(
        "{fixtures}/cloudformation/dcs-replacement-true.json"
    ))
    .unwrap();
    let mut large: ChangeSetDescription = serde_json::from_str(&text).unwrap();
    let row = large.changes[0].clone();
    large.changes = vec![row; 5_000];
    time("classify 5,000 resource changes", || {
        black_box(classify(black_box(&large)));
    });

    let assessment = classify(&large);
    let report: PlanReport = serde_json::from_value(serde_json::json!({
        "version": 1, "project": "INFRA", "repository": "cfn-templates", "branch": "main",
        "after": "d3adb33fc0ffee00112233445566778899aabbcc", "before": null, "base": null, "pr": 57,
        "stacks": [{
            "stack": "big", "region": "us-east-1", "template": "stacks/big.yaml",
            "classification": "changes", "reason": null,
            "change_set": {"name": "cfn-chatops-d3adb33fc0ffee00112233445566778899aabbcc",
                           "arn": "arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/1",
                           "stack_id": null, "type": "UPDATE", "drift_aware": true, "executable": true},
            "counts": {"add": 0, "modify": 5000, "remove": 0, "import": 0, "dynamic": 0, "sync_with_actual": 0},
            "changes": assessment.changes, "drift": []
        }]
    }))
    .unwrap();
    time("render cards for 5,000 changes", || {
        black_box(plan_cards(black_box(&report), &Links::default()));
    });
    time("render the PR comment for 5,000 changes", || {
        black_box(plan_comment(
            black_box(&report),
            TextFormat::Markdown,
            &Links {
                backlog_url: Some("https://example.backlog.com".into()),
            },
        ));
    });

    // 5,000 rows with before → after values (a change set recorded against AWS, its two rows
    // repeated), each of its own type so none is grouped: every row's values are rendered.
    let text = std::fs::read_to_string(format!(
        "{fixtures}/cloudformation/localstack-modify-replace-and-delete-sns-prop-values.json"
    ))
    .unwrap();
    let recorded: ChangeSetDescription = serde_json::from_str(&text).unwrap();
    let mut valued = report.clone();
    valued.stacks[0].changes = classify(&recorded)
        .changes
        .into_iter()
        .cycle()
        .take(5_000)
        .enumerate()
        .map(|(i, mut change)| {
            change.logical_id = format!("{}{i}", change.logical_id);
            change.resource_type = format!("{}{i}", change.resource_type);
            change
        })
        .collect();
    time("render cards, 5,000 changes with values", || {
        black_box(plan_cards(black_box(&valued), &Links::default()));
    });
    time("render the PR comment, 5,000 changes with values", || {
        black_box(plan_comment(
            black_box(&valued),
            TextFormat::Markdown,
            &Links::default(),
        ));
    });

    // One stack's safety verdict at CloudFormation's limits: 500 resources (the most a stack
    // may have) in just under 1 MiB (TemplateURL's limit), every bucket replaced (a tenth
    // without versioning), checked by the built-in rules and by 50 Guard rules: two rule
    // files of the public registry, and 48 rules written for the bench (synthetic) on the
    // buckets' names, encryption and tags.
    let bucket = |i: usize| {
        let status = if i % 10 == 0 { "Suspended" } else { "Enabled" };
        let tags: Vec<serde_json::Value> = (0..12)
            .map(|t| serde_json::json!({"Key": format!("cost-allocation-{t}"), "Value": format!("team-{i}-{t}")}))
            .collect();
        let lifecycle: Vec<serde_json::Value> = (0..6)
            .map(|r| {
                serde_json::json!({"Id": format!("expire-{r}"), "Status": "Enabled",
                "Prefix": format!("logs/{r}/"), "ExpirationInDays": 30 + r,
                "NoncurrentVersionExpirationInDays": 7})
            })
            .collect();
        serde_json::json!({"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete", "Properties": {
            "BucketName": format!("example-data-bucket-{i}"),
            "VersioningConfiguration": {"Status": status},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                 "KMSMasterKeyID": "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"}}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "BlockPublicPolicy": true,
                "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
            "LifecycleConfiguration": {"Rules": lifecycle},
            "Tags": tags}})
    };
    let resources: serde_json::Map<String, serde_json::Value> = (0..500)
        .map(|i| (format!("Bucket{i}"), bucket(i)))
        .collect();
    let template = serde_json::json!({"Resources": resources});
    let bytes = serde_json::to_string(&template).unwrap().len();
    assert!((900_000..1_048_576).contains(&bytes), "{bytes} bytes");
    let mut replaced = valued.stacks[0].changes[..500].to_vec();
    for (i, change) in replaced.iter_mut().enumerate() {
        change.logical_id = format!("Bucket{i}");
        change.resource_type = "AWS::S3::Bucket".into();
        change.action = "Modify".into();
        change.replacement = Some("True".into());
    }
    let mut rule_files: Vec<String> = [
        "s3_bucket_versioning_enabled",
        "s3_bucket_server_side_encryption_enabled",
    ]
    .map(|name| std::fs::read_to_string(format!("{fixtures}/guard/rules/{name}.guard")).unwrap())
    .to_vec();
    let mut synthetic = String::from("let buckets = Resources.*[ Type == 'AWS::S3::Bucket' ]\n");
    for i in 0..48 {
        let clause = match i % 3 {
            0 => format!("%buckets.Properties.BucketName != 'forbidden-{i}'"),
            1 => "%buckets.Properties.BucketEncryption.ServerSideEncryptionConfiguration[*].ServerSideEncryptionByDefault.SSEAlgorithm == 'aws:kms'".to_owned(),
            _ => format!("%buckets.Properties.Tags[*].Key != 'forbidden-{i}'"),
        };
        synthetic.push_str(&format!(
            "rule bench_{i} when %buckets !empty {{\n    {clause}\n}}\n"
        ));
    }
    rule_files.push(synthetic);
    let parameters: Vec<(String, String)> = vec![];
    // What the planner does for one stack: the template with its parameters for Guard, every
    // rule file evaluated, the built-in rules over the change set.
    let stack_verdict = |template: &serde_json::Value, changes: &[_]| -> (usize, usize) {
        let document = with_parameters(template, &parameters);
        let mut checked = 0;
        let mut findings = 0;
        for rules in &rule_files {
            let outcome = guard_rules::evaluate("bench.guard", rules, &document).unwrap();
            checked += outcome.rules_checked;
            findings += outcome.failures.len();
        }
        let subject = Subject {
            changes,
            before: Some(template),
            after: template,
            parameters: &parameters,
        };
        findings += builtin_findings(&subject, RiskLevels::default()).len();
        (checked, findings)
    };
    let (checked, findings) = stack_verdict(&template, &replaced);
    assert_eq!(checked, 50);
    assert!(
        findings >= 500,
        "every replaced bucket, and the unversioned ones: {findings}"
    );
    println!("(the template: {bytes} bytes of JSON, 500 resources; {findings} findings)");
    time(
        "verdict for one stack: 500 resources, 1 MB, 50 Guard rules",
        || {
            black_box(stack_verdict(black_box(&template), &replaced));
        },
    );
    let few: serde_json::Map<String, serde_json::Value> = resources
        .iter()
        .take(20)
        .map(|(id, resource)| (id.clone(), resource.clone()))
        .collect();
    let small = serde_json::json!({ "Resources": few });
    time(
        "verdict for one stack: 20 resources, 50 Guard rules",
        || {
            black_box(stack_verdict(black_box(&small), &replaced[..20]));
        },
    );

    let status_change: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{fixtures}/cloudformation/eb-cloudformation-stack-status-change.json"
        ))
        .unwrap(),
    )
    .unwrap();
    time("read an EventBridge stack status change", || {
        black_box(event::parse(black_box(&status_change)).unwrap());
    });
}
