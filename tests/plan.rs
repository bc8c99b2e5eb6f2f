//! `cfn-chatops plan` end to end: real git repositories, the real binary, moto behind a
//! recording proxy, and the real AWS CLI where a human's action is shown (execute).

mod support;

use std::time::{Duration, Instant};

use cfn_chatops::model::report::Classification;
use serde_json::Value;

use support::amazon_q::StandInButton;
use support::aws::cli as aws_cli;
use support::proxy::{Fault, query_answer, query_error};
use support::world::{World, template};
use support::{aws, git, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_template_gets_a_create_change_set_and_a_modified_one_a_drift_aware_update() {
    let world = World::start().await;
    let stack = unique("alarms");
    let path = format!("stacks/{stack}.yaml");
    // Data files are not templates, whatever their names would make as stacks.
    let first = world.commit(
        &[
            ("README.md", Some("templates\n")),
            ("tsconfig.build.json", Some("{\"compilerOptions\": {}}")),
            ("a/config.json", Some("{\"a\": 1}")),
        ],
        "Initial commit",
    );
    let added = world.commit(
        &[
            (&path, Some(&template("Alarms", 2))),
            (
                "tsconfig.build.json",
                Some("{\"compilerOptions\": {\"strict\": true}}"),
            ),
            ("b/config.json", Some("{\"b\": 2}")),
        ],
        "Add alarms stack",
    );

    let planned = world
        .plan(&["--before", &first, "--after", &added, "--pr", "57"])
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&stack);
    assert_eq!(plan.classification, Classification::Changes);
    assert_eq!(plan.counts.add, 2);
    let change_set = plan.change_set.as_ref().unwrap();
    assert_eq!(change_set.change_set_type, "CREATE");
    assert_eq!(change_set.name, format!("cfn-chatops-{added}"));
    assert!(change_set.executable && !change_set.drift_aware);
    assert!(
        planned
            .stderr
            .contains(&format!("plan: {stack} (us-east-1): changes +2 ~0 -0")),
        "{}",
        planned.stderr
    );

    let create = &world.creates_for(&stack)[0];
    assert_eq!(create["ChangeSetType"], "CREATE");
    assert_eq!(create["ClientToken"], format!("{stack}-{added}"));
    assert!(
        create["Description"]
            .as_str()
            .unwrap()
            .contains(&format!("PR #57 commit {}", &added[..7]))
    );
    assert!(
        create.get("DeploymentMode").is_none(),
        "REVERT_DRIFT is for updates only"
    );
    assert!(
        create
            .get("TemplateBody")
            .is_some_and(|body| body.as_str().unwrap().contains("!Sub"))
    );

    let record = world
        .ledger_record("us-east-1", &stack, &change_set.name)
        .await
        .expect("ledger record");
    assert_eq!(record["status"], "pending");
    assert_eq!(record["commit"], added.as_str());
    assert_eq!(record["pr"], "57");
    assert_eq!(record["arn"], change_set.arn.as_deref().unwrap());

    // A human presses Execute (the seed's DEPLOYED): the real AWS CLI runs the change set.
    world.execute(&planned, &stack);
    assert_eq!(
        world.stack_status(&stack).await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    let modified = world.commit(&[(&path, Some(&template("Alarms v2", 3)))], "Third topic");
    let planned = world
        .plan(&["--before", &added, "--after", &modified])
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&stack);
    assert_eq!(plan.classification, Classification::Changes);
    let change_set = plan.change_set.as_ref().unwrap();
    assert_eq!(change_set.change_set_type, "UPDATE");
    assert!(change_set.drift_aware);
    let update = world.creates_for(&stack).pop().unwrap();
    assert_eq!(update["ChangeSetType"], "UPDATE");
    assert_eq!(update["DeploymentMode"], "REVERT_DRIFT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_template_is_reported_and_the_stack_left_in_place() {
    let world = World::start().await;
    let stack = unique("queue");
    let path = format!("{stack}.yaml");
    let first = world.commit(&[(&path, Some(&template("Queue", 1)))], "Add");
    let planned = world.plan(&["--after", &first]).await;
    world.execute(&planned, &stack);

    let deleted = world.commit(&[(&path, None)], "Remove the queue");
    let planned = world.plan(&["--before", &first, "--after", &deleted]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert!(planned.report.stacks.is_empty());
    let left = &planned.report.left_in_place;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].stack, stack);
    assert_eq!(
        left[0].reason,
        "template deleted: delete the stack deliberately"
    );
    assert_eq!(
        world.stack_status(&stack).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert!(world.requests("DeleteStack").is_empty());
    assert_eq!(world.creates_for(&stack).len(), 1, "nothing planned for it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_template_backs_two_configured_stacks_with_parameters_files_and_triggers() {
    let world = World::start().await;
    let (staging, prod) = (unique("app-staging"), unique("app-prod"));
    let config = format!(
        "stacks:\n  - name: {staging}\n    template: stacks/app.yaml\n    parameters_file: params/staging.json\n    tags: {{team: infra}}\n  - name: {prod}\n    template: stacks/app.yaml\n    parameters_file: params/prod.yaml\n    parameters: {{Env: production}}\n    when_modified: [\"lambda/**\"]\n"
    );
    let first = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("stacks/app.yaml", Some(&template("App", 1))),
            (
                "params/staging.json",
                Some(r#"[{"ParameterKey": "Env", "ParameterValue": "staging"}]"#),
            ),
            ("params/prod.yaml", Some("Env: prod\n")),
        ],
        "App stacks",
    );
    let planned = world.plan(&["--after", &first]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.stacks.len(), 2);
    let staging_create = &world.creates_for(&staging)[0];
    assert_eq!(staging_create["Parameters.member.1.ParameterKey"], "Env");
    assert_eq!(
        staging_create["Parameters.member.1.ParameterValue"],
        "staging"
    );
    assert_eq!(staging_create["Tags.member.1.Key"], "team");
    // Inline parameters override the parameters file.
    assert_eq!(
        world.creates_for(&prod)[0]["Parameters.member.1.ParameterValue"],
        "production"
    );

    // Only the stack whose parameters file changed is planned.
    let params = world.commit(
        &[(
            "params/staging.json",
            Some(r#"[{"ParameterKey": "Env", "ParameterValue": "staging2"}]"#),
        )],
        "Staging parameter",
    );
    let planned = world.plan(&["--before", &first, "--after", &params]).await;
    let names: Vec<_> = planned
        .report
        .stacks
        .iter()
        .map(|s| s.stack.clone())
        .collect();
    assert_eq!(names, vec![staging.clone()]);

    // Code under lambda/ triggers the stack that watches it.
    let code = world.commit(
        &[("lambda/worker/main.py", Some("print('hi')\n"))],
        "Worker code",
    );
    let planned = world.plan(&["--before", &params, "--after", &code]).await;
    let names: Vec<_> = planned
        .report
        .stacks
        .iter()
        .map(|s| s.stack.clone())
        .collect();
    assert_eq!(names, vec![prod.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_over_51200_bytes_goes_through_s3_or_fails_without_a_bucket() {
    let mut world = World::start().await;
    let stack = unique("big");
    let big = template("Big", 520);
    assert!(big.len() > 51_200, "{}", big.len());
    let commit = world.commit(&[(&format!("{stack}.yaml"), Some(&big))], "Big stack");

    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(1));
    let plan = planned.stack(&stack);
    assert_eq!(plan.classification, Classification::Failed);
    assert!(
        plan.reason
            .as_deref()
            .unwrap()
            .contains("set CFN_CHATOPS_TEMPLATE_BUCKET"),
        "{:?}",
        plan.reason
    );
    assert!(world.creates_for(&stack).is_empty());
    assert!(
        planned
            .stderr
            .contains(&format!("plan failed: {stack} (us-east-1): template is")),
        "{}",
        planned.stderr
    );

    let bucket = unique("templates");
    aws_cli(&["s3api", "create-bucket", "--bucket", &bucket]);
    world
        .extra_env
        .push(("CFN_CHATOPS_TEMPLATE_BUCKET".into(), bucket.clone()));
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&stack);
    assert_eq!(plan.counts.add, 520);
    let key = format!("cfn-chatops/templates/{commit}/us-east-1/{stack}.template");
    let url = format!("https://{bucket}.s3.us-east-1.amazonaws.com/{key}");
    assert_eq!(
        plan.change_set.as_ref().unwrap().template_url.as_deref(),
        Some(url.as_str())
    );
    let create = &world.creates_for(&stack)[0];
    assert_eq!(create["TemplateURL"], url);
    assert!(create.get("TemplateBody").is_none());
    let object = aws_cli(&["s3api", "head-object", "--bucket", &bucket, "--key", &key]);
    assert!(
        object.contains(&format!("\"ContentLength\": {}", big.len())),
        "{object}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_commit_planned_twice_has_one_change_set_and_a_newer_one_supersedes_it() {
    let world = World::start().await;
    let stack = unique("app");
    let path = format!("{stack}.yaml");
    let first = world.commit(&[(&path, Some(&template("App", 1)))], "Add app");
    let created = world.plan(&["--after", &first]).await;
    world.execute(&created, &stack);

    let second = world.commit(&[(&path, Some(&template("App 2", 2)))], "Second topic");
    let once = world.plan(&["--before", &first, "--after", &second]).await;
    let again = world.plan(&["--before", &first, "--after", &second]).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(
        world.creates_for(&stack).len(),
        2,
        "one create for each commit"
    );
    assert_eq!(
        world.our_change_sets(&stack).await,
        [format!("cfn-chatops-{second}")]
    );
    assert_eq!(
        again.stack(&stack).change_set.as_ref().unwrap().arn,
        once.stack(&stack).change_set.as_ref().unwrap().arn
    );
    assert!(again.stack(&stack).notes[0].ends_with("already existed: reused"));

    let third = world.commit(&[(&path, Some(&template("App 3", 3)))], "Third topic");
    let newer = world.plan(&["--before", &second, "--after", &third]).await;
    let plan = newer.stack(&stack);
    assert_eq!(plan.superseded, [format!("cfn-chatops-{second}")]);
    assert_eq!(
        world.our_change_sets(&stack).await,
        [format!("cfn-chatops-{third}")]
    );
    let old = world
        .ledger_record("us-east-1", &stack, &format!("cfn-chatops-{second}"))
        .await
        .unwrap();
    assert_eq!(old["status"], "superseded");
    assert_eq!(old["superseded_by"], third.as_str());

    // The older commit's webhook replayed late: nothing is created, the newer plan stands.
    let late = world.plan(&["--before", &first, "--after", &second]).await;
    assert_eq!(late.code, Some(0), "{}", late.stderr);
    assert_eq!(
        late.stack(&stack).classification,
        Classification::Superseded
    );
    assert_eq!(
        world.our_change_sets(&stack).await,
        [format!("cfn-chatops-{third}")]
    );
    assert_eq!(world.creates_for(&stack).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_stacks_in_one_push_are_all_classified_concurrently() {
    let world = World::start().await;
    let prefix = unique("fleet");
    let files: Vec<(String, String)> = (0..20)
        .map(|index| {
            (
                format!("stacks/{prefix}-{index}.yaml"),
                template("Fleet", 1 + index % 3),
            )
        })
        .collect();
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    let commit = world.commit(&refs, "Twenty stacks");
    let started = Instant::now();
    let planned = world
        .plan(&["--after", &commit, "--templates-path", "stacks"])
        .await;
    let elapsed = started.elapsed();
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.stacks.len(), 20);
    assert!(
        planned
            .report
            .stacks
            .iter()
            .all(|s| s.classification == Classification::Changes)
    );
    assert_eq!(
        planned
            .stderr
            .lines()
            // Progress lines are log lines now (`… INFO cfn_chatops::pipeline::plan: plan: …`).
            .filter(|l| l.contains(" plan: "))
            .count(),
        20
    );
    // Sorted by stack name in the report, whatever order they settled in.
    let names: Vec<_> = planned
        .report
        .stacks
        .iter()
        .map(|s| s.stack.clone())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    eprintln!("20 stacks planned in {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_entry_or_an_invalid_template_fails_alone_and_the_rest_are_planned() {
    let world = World::start().await;
    let (good, broken, misnamed) = (unique("good"), unique("broken"), unique("other"));
    let config = format!(
        "stacks:\n  - name: {good}\n    template: stacks/good.yaml\n  - name: {broken}\n    template: stacks/broken.yaml\n  - name: {misnamed}_x\n    template: stacks/good.yaml\n"
    );
    let commit = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("stacks/good.yaml", Some(&template("Good", 1))),
            (
                "stacks/broken.yaml",
                Some("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n   Properties: {}\n"),
            ),
        ],
        "Three stacks",
    );
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(1));
    assert_eq!(planned.stack(&good).classification, Classification::Changes);
    let broken_plan = planned.stack(&broken);
    assert_eq!(broken_plan.classification, Classification::Failed);
    assert!(
        broken_plan
            .reason
            .as_deref()
            .unwrap()
            .starts_with("stacks/broken.yaml:5: "),
        "{:?}",
        broken_plan.reason
    );
    let misnamed_plan = planned.stack(&format!("{misnamed}_x"));
    assert!(
        misnamed_plan
            .reason
            .as_deref()
            .unwrap()
            .starts_with(".cfn-chatops.yml:6: stack "),
        "{:?}",
        misnamed_plan.reason
    );
    assert!(world.creates_for(&broken).is_empty());
    assert!(world.creates_for(&format!("{misnamed}_x")).is_empty());
    assert_eq!(world.creates_for(&good).len(), 1);
    assert!(
        planned.stderr.contains("plan failed: "),
        "{}",
        planned.stderr
    );
    assert!(
        planned.stderr.contains(&format!(
            "plan: {broken} (us-east-1): failed stacks/broken.yaml:5"
        )),
        "a progress line for a stack that failed before any AWS call: {}",
        planned.stderr
    );

    // A config file that does not parse plans nothing, and says where.
    let typo = world.commit(
        &[(
            ".cfn-chatops.yml",
            Some("stacks:\n  - name: x\n    templat: a.yaml\n"),
        )],
        "Typo",
    );
    let planned = world.plan(&["--before", &commit, "--after", &typo]).await;
    assert_eq!(planned.code, Some(1));
    assert!(planned.report.stacks.is_empty());
    assert!(
        planned.report.errors[0].starts_with(".cfn-chatops.yml:3: "),
        "{:?}",
        planned.report.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_drift_mode_falls_back_with_a_note() {
    let world = World::start().await;
    let stack = unique("retry");
    let path = format!("{stack}.yaml");
    let first = world.commit(&[(&path, Some(&template("Retry", 1)))], "Add");
    let planned = world.plan(&["--after", &first]).await;
    world.execute(&planned, &stack);

    let second = world.commit(&[(&path, Some(&template("Retry 2", 2)))], "Change");
    world.recorder.inject(Fault {
        operation: "CreateChangeSet".into(),
        times: 1,
        status: 400,
        body: query_error(
            "ValidationError",
            "DeploymentMode REVERT_DRIFT is not supported for this stack",
        ),
        when_body_contains: vec!["REVERT_DRIFT".into()],
    });
    let planned = world.plan(&["--before", &first, "--after", &second]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&stack);
    assert_eq!(plan.classification, Classification::Changes);
    assert!(!plan.change_set.as_ref().unwrap().drift_aware);
    assert!(
        plan.notes[0].starts_with(
            "drift-aware change set refused (DeploymentMode REVERT_DRIFT is not supported"
        ),
        "{:?}",
        plan.notes
    );
    let creates = world.creates_for(&stack);
    assert_eq!(creates[creates.len() - 2]["DeploymentMode"], "REVERT_DRIFT");
    assert!(creates[creates.len() - 1].get("DeploymentMode").is_none());
}

/// DescribeStacks answering with a given status, in the query protocol's XML.
fn stack_in(stack: &str, status: &str) -> String {
    query_answer(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackName>{stack}</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/0f2b4c10</StackId><CreationTime>2026-03-04T05:00:00Z</CreationTime><StackStatus>{status}</StackStatus></member></Stacks>"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_blocked_stacks_get_no_change_set_and_say_why() {
    let world = World::start().await;
    let (busy, blocked) = (unique("busy"), unique("blocked"));
    let commit = world.commit_stacks(&[&busy, &blocked], "Two stacks");
    for (stack, status) in [
        (&busy, "UPDATE_IN_PROGRESS"),
        (&blocked, "ROLLBACK_COMPLETE"),
    ] {
        world.recorder.inject(Fault {
            operation: "DescribeStacks".into(),
            times: 1,
            status: 200,
            body: stack_in(stack, status),
            when_body_contains: vec![format!("StackName={stack}")],
        });
    }
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(
        planned.code,
        Some(0),
        "busy and blocked are classifications: {}",
        planned.stderr
    );
    let busy_plan = planned.stack(&busy);
    assert_eq!(busy_plan.classification, Classification::Busy);
    assert!(
        busy_plan
            .reason
            .as_deref()
            .unwrap()
            .starts_with("stack is UPDATE_IN_PROGRESS")
    );
    let blocked_plan = planned.stack(&blocked);
    assert_eq!(blocked_plan.classification, Classification::Blocked);
    assert!(
        blocked_plan
            .reason
            .as_deref()
            .unwrap()
            .contains("delete the stack")
    );
    assert!(world.creates_for(&busy).is_empty() && world.creates_for(&blocked).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_unknown_diffs_from_the_parent_of_the_oldest_pushed_revision() {
    let world = World::start().await;
    let (one, two) = (unique("one"), unique("two"));
    let base = world.commit(&[("README.md", Some("x\n"))], "Base");
    let oldest = world.commit(
        &[(&format!("{one}.yaml"), Some(&template("One", 1)))],
        "First pushed",
    );
    let head = world.commit(
        &[(&format!("{two}.yaml"), Some(&template("Two", 1)))],
        "Second pushed",
    );
    // The seed's HEAD~1..HEAD would only see the second stack.
    let planned = world
        .plan(&["--after", &head, "--first-revision", &oldest])
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.base.as_deref(), Some(base.as_str()));
    assert_eq!(planned.report.stacks.len(), 2);
    assert!(planned.report.notes[0].contains("the parent of the oldest pushed revision"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2_with_a_reason_and_touch_nothing() {
    let world = World::start().await;
    let commit = world.commit(&[("x.yaml", Some(&template("X", 1)))], "X");
    for (args, reason) in [
        (
            vec!["--after", "HEAD"],
            "--after \"HEAD\" is not a full commit id",
        ),
        (
            vec!["--after", &commit, "--before", "abc"],
            "--before \"abc\" is not a full commit id",
        ),
        (
            vec!["--after", &commit, "--concurrency", "0"],
            "--concurrency",
        ),
        (
            vec!["--after", &commit, "--deploy-role-arn", "admin"],
            "--deploy-role-arn \"admin\" is not an IAM role ARN",
        ),
        // A preview is of a pull request, from where it leaves the branch.
        (
            vec!["--after", &commit, "--preview-into", "main"],
            "the following required arguments were not provided:\n  --pr <PR>",
        ),
        (
            vec![
                "--after",
                &commit,
                "--preview-into",
                "main",
                "--pr",
                "5",
                "--before",
                &commit,
            ],
            "the argument '--preview-into <PREVIEW_INTO>' cannot be used with '--before <BEFORE>'",
        ),
    ] {
        let mut env = aws::env(&world.recorder.endpoint);
        env.push(("CFN_CHATOPS_LEDGER_TABLE".into(), world.table.clone()));
        let output = support::bot::command(
            &[
                &["plan", "--repo", world.repo.path().to_str().unwrap()],
                args.as_slice(),
            ]
            .concat(),
            &env,
        )
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(reason),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // A commit the repository does not have: the run fails and names it.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let planned = world.plan(&["--after", missing]).await;
    assert_eq!(planned.code, Some(1));
    assert!(
        planned.report.errors[0].contains(missing),
        "{:?}",
        planned.report.errors
    );
    // A preview into a branch the repository does not have: the same.
    let planned = world
        .plan(&["--after", &commit, "--pr", "5", "--preview-into", "no/such"])
        .await;
    assert_eq!(planned.code, Some(1));
    assert!(
        planned.report.errors[0].contains("branch no/such is not in the repository"),
        "{:?}",
        planned.report.errors
    );
    assert!(world.requests("CreateChangeSet").is_empty());
    assert!(world.requests("ValidateTemplate").is_empty());
}

/// A first page of DescribeChangeSet, as CloudFormation's XML, with one extra resource.
fn change_set_page(stack: &str, status_reason: Option<&str>, next_token: Option<&str>) -> String {
    let reason = status_reason.map(|r| format!("<StatusReason>{r}</StatusReason>"));
    let token = next_token.map(|t| format!("<NextToken>{t}</NextToken>"));
    query_answer(
        "DescribeChangeSet",
        &format!(
            "<ChangeSetName>page</ChangeSetName><StackName>{stack}</StackName><Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>{}<Changes><member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>FromFirstPage</LogicalResourceId><ResourceType>AWS::SNS::Topic</ResourceType></ResourceChange></member></Changes>{}",
            reason.unwrap_or_default(),
            token.unwrap_or_default()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_read_and_a_warned_read_is_redone_without_property_values() {
    let world = World::start().await;
    let (paged, warned) = (unique("paged"), unique("warned"));
    let commit = world.commit_stacks(&[&paged, &warned], "Two stacks");
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 1,
        status: 200,
        body: change_set_page(&paged, None, Some("page-2")),
        when_body_contains: vec![
            "IncludePropertyValues=true".into(),
            format!("StackName={paged}"),
        ],
    });
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 1,
        status: 200,
        body: change_set_page(
            &warned,
            Some("[WARN] --include-property-values option can return incomplete ChangeSet data because: Logical Id: Topic0, failed property validation"),
            None,
        ),
        when_body_contains: vec!["IncludePropertyValues=true".into(), format!("StackName={warned}")],
    });
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);

    // Page 1 (canned) and page 2 (moto's) merged.
    let ids: Vec<_> = planned
        .stack(&paged)
        .changes
        .iter()
        .map(|c| c.logical_id.clone())
        .collect();
    assert_eq!(ids, ["FromFirstPage", "Topic0"]);
    let second_page = world
        .requests("DescribeChangeSet")
        .into_iter()
        .any(|body| body["StackName"] == paged.as_str() && body["NextToken"] == "page-2");
    assert!(second_page, "page 2 asked for with the token");

    // The warned read is replaced by a complete read without property values.
    let ids: Vec<_> = planned
        .stack(&warned)
        .changes
        .iter()
        .map(|c| c.logical_id.clone())
        .collect();
    assert_eq!(ids, ["Topic0"]);
    let reads: Vec<_> = world
        .requests("DescribeChangeSet")
        .into_iter()
        .filter(|body| body["StackName"] == warned.as_str())
        .map(|body| {
            body["IncludePropertyValues"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(reads.last().map(String::as_str), Some("false"));
    assert!(reads.iter().any(|value| value == "true"));
}

/// A settled DescribeChangeSet answer with no changes, in CloudFormation's XML.
fn settled(stack: &str, status: &str, reason: &str) -> String {
    query_answer(
        "DescribeChangeSet",
        &format!(
            "<StackName>{stack}</StackName><Status>{status}</Status><ExecutionStatus>UNAVAILABLE</ExecutionStatus><StatusReason>{reason}</StatusReason><Changes/>"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_change_and_failed_change_sets_are_deleted_and_recorded() {
    let world = World::start().await;
    let (same, bad) = (unique("same"), unique("bad"));
    let commit = world.commit_stacks(&[&same, &bad], "Two stacks");
    // moto answers CREATE_COMPLETE where CloudFormation fails: the documented answers instead.
    for (stack, reason) in [
        (
            &same,
            "The submitted information didn't contain changes. Submit different information to create a change set.",
        ),
        (
            &bad,
            "Template error: instance of Fn::GetAtt references undefined resource Queue",
        ),
    ] {
        world.recorder.inject(Fault {
            operation: "DescribeChangeSet".into(),
            times: 3,
            status: 200,
            body: settled(stack, "FAILED", reason),
            when_body_contains: vec![format!("StackName={stack}")],
        });
    }
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(1), "a failed stack fails the run");
    assert_eq!(
        planned.stack(&same).classification,
        Classification::NoChanges
    );
    let failed = planned.stack(&bad);
    assert_eq!(failed.classification, Classification::Failed);
    assert_eq!(
        failed.reason.as_deref(),
        Some("Template error: instance of Fn::GetAtt references undefined resource Queue")
    );
    for stack in [&same, &bad] {
        let deletes: Vec<_> = world
            .requests("DeleteChangeSet")
            .into_iter()
            .filter(|body| body["StackName"] == stack.as_str())
            .collect();
        assert_eq!(deletes.len(), 1, "{stack}: deleted");
        let change_set = planned.stack(stack).change_set.as_ref().unwrap();
        assert!(!change_set.executable);
        let record = world
            .ledger_record("us-east-1", stack, &change_set.name)
            .await
            .unwrap();
        let expected = if stack == &same {
            "no_changes"
        } else {
            "failed"
        };
        assert_eq!(record["status"], expected);
    }
    assert!(
        planned
            .stderr
            .contains(&format!("plan failed: {bad} (us-east-1): Template error")),
        "{}",
        planned.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_has_a_deadline_and_capabilities_are_requested_and_explained() {
    let world = World::start().await;
    let (slow, iam, named) = (unique("slow"), unique("iam"), unique("named"));
    let role = |name: &str| {
        format!(
            "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {{}}\n{name}"
        )
    };
    let commit = world.commit(
        &[
            (&format!("{slow}.yaml"), Some(&template("Slow", 1))),
            (&format!("{iam}.yaml"), Some(&role(""))),
            (
                &format!("{named}.yaml"),
                Some(&role("      RoleName: worker\n")),
            ),
        ],
        "Three stacks",
    );
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 100,
        status: 200,
        body: settled(&slow, "CREATE_IN_PROGRESS", "creating"),
        when_body_contains: vec![format!("StackName={slow}")],
    });
    world.recorder.inject(Fault {
        operation: "CreateChangeSet".into(),
        times: 1,
        status: 400,
        body: query_error(
            "InsufficientCapabilitiesException",
            "Requires capabilities : [CAPABILITY_NAMED_IAM]",
        ),
        when_body_contains: vec![format!("StackName={named}")],
    });
    let started = Instant::now();
    let planned = world.plan(&["--after", &commit, "--timeout", "3"]).await;
    assert!(started.elapsed().as_secs() < 30);
    let slow_plan = planned.stack(&slow);
    assert_eq!(slow_plan.classification, Classification::Failed);
    assert!(
        slow_plan.reason.as_deref().unwrap().starts_with(
            "timed out after 3 s waiting for the change set (still CREATE_IN_PROGRESS)"
        ),
        "{:?}",
        slow_plan.reason
    );
    let polls = world
        .requests("DescribeChangeSet")
        .into_iter()
        .filter(|body| body["StackName"] == slow.as_str())
        .count();
    assert!(
        (2..=4).contains(&polls),
        "backoff, not a busy loop: {polls} polls"
    );

    assert_eq!(
        world.creates_for(&iam)[0]["Capabilities.member.1"],
        "CAPABILITY_IAM"
    );
    assert_eq!(
        world.creates_for(&named)[0]["Capabilities.member.1"],
        "CAPABILITY_NAMED_IAM"
    );
    let named_plan = planned.stack(&named);
    assert_eq!(
        named_plan.reason,
        Some(format!(
            "Requires capabilities : [CAPABILITY_NAMED_IAM]: add `capabilities` to the stack's entry in .cfn-chatops.yml (`stacks: [{{template: {named}.yaml, capabilities: [...]}}]`)"
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_template_is_planned_under_its_new_name_and_the_old_stack_is_left() {
    let world = World::start().await;
    let (old, new) = (unique("old"), unique("new"));
    let first = world.commit(
        &[(&format!("stacks/{old}.yaml"), Some(&template("Old", 1)))],
        "Add",
    );
    git(
        world.repo.path(),
        &[
            "mv",
            &format!("stacks/{old}.yaml"),
            &format!("stacks/{new}.yaml"),
        ],
    );
    let renamed = world.commit(&[], "Rename");
    let planned = world.plan(&["--before", &first, "--after", &renamed]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&new);
    assert_eq!(
        plan.renamed_from.as_deref(),
        Some(format!("stacks/{old}.yaml").as_str())
    );
    assert_eq!(plan.classification, Classification::Changes);
    assert_eq!(planned.report.left_in_place[0].stack, old);
    assert!(
        planned.report.left_in_place[0]
            .reason
            .starts_with("template renamed to")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_or_concurrent_run_of_the_same_commit_converges_on_one_change_set() {
    let world = World::start().await;
    let stack = unique("converge");
    let path = format!("{stack}.yaml");
    let first = world.commit(&[(&path, Some(&template("One", 1)))], "Add");
    let planned = world.plan(&["--after", &first]).await;
    world.execute(&planned, &stack);
    let second = world.commit(&[(&path, Some(&template("Two", 2)))], "Change");

    // A run that died right after CreateChangeSet: the change set exists, nothing recorded.
    let name = format!("cfn-chatops-{second}");
    let body = template("Two", 2);
    aws_cli(&[
        "cloudformation",
        "create-change-set",
        "--stack-name",
        &stack,
        "--change-set-name",
        &name,
        "--change-set-type",
        "UPDATE",
        "--template-body",
        &body,
    ]);
    let rerun = world.plan(&["--before", &first, "--after", &second]).await;
    assert_eq!(rerun.code, Some(0), "{}", rerun.stderr);
    assert!(rerun.stack(&stack).notes[0].ends_with("already existed: reused"));
    assert_eq!(world.our_change_sets(&stack).await, vec![name.clone()]);
    let record = world
        .ledger_record("us-east-1", &stack, &name)
        .await
        .unwrap();
    assert_eq!(record["status"], "pending");

    // A concurrent run created it between our listing and our create: AlreadyExists means
    // "already planned", not an error.
    world.recorder.inject(Fault {
        operation: "ListChangeSets".into(),
        times: 1,
        status: 200,
        body: query_answer("ListChangeSets", "<Summaries/>"),
        when_body_contains: vec![format!("StackName={stack}")],
    });
    world.recorder.inject(Fault {
        operation: "CreateChangeSet".into(),
        times: 1,
        status: 400,
        body: query_error(
            "AlreadyExistsException",
            &format!("ChangeSet {name} already exists"),
        ),
        when_body_contains: vec![format!("StackName={stack}")],
    });
    let raced = world.plan(&["--before", &first, "--after", &second]).await;
    assert_eq!(raced.code, Some(0), "{}", raced.stderr);
    let plan = raced.stack(&stack);
    assert_eq!(plan.classification, Classification::Changes);
    assert!(
        plan.notes[0].ends_with("already existed: reused"),
        "{:?}",
        plan.notes
    );
    assert_eq!(world.our_change_sets(&stack).await, [name]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_for_two_commits_leave_only_the_newer_change_set() {
    let world = World::start().await;
    let stack = unique("race");
    let path = format!("{stack}.yaml");
    let first = world.commit(&[(&path, Some(&template("One", 1)))], "Add");
    let planned = world.plan(&["--after", &first]).await;
    world.execute(&planned, &stack);
    let older = world.commit(&[(&path, Some(&template("Two", 2)))], "Two");
    let newer = world.commit(&[(&path, Some(&template("Three", 3)))], "Three");
    let (older_args, newer_args) = (
        ["--before", &first, "--after", &older],
        ["--before", &older, "--after", &newer],
    );
    let (a, b) = tokio::join!(world.plan(&older_args), world.plan(&newer_args));
    assert_eq!(
        (a.code, b.code),
        (Some(0), Some(0)),
        "{}\n{}",
        a.stderr,
        b.stderr
    );
    assert_eq!(
        world.our_change_sets(&stack).await,
        [format!("cfn-chatops-{newer}")]
    );
    // Whichever finished first: the older run saw the newer change set, or the newer run
    // superseded the older one.
    let older_name = format!("cfn-chatops-{older}");
    assert!(
        a.stack(&stack).classification == Classification::Superseded
            || b.stack(&stack).superseded.contains(&older_name),
        "{:#?}\n{:#?}",
        a.report,
        b.report
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_change_plan_still_supersedes_the_older_change_set() {
    let world = World::start().await;
    let stack = unique("revert");
    let path = format!("{stack}.yaml");
    let first = world.commit(&[(&path, Some(&template("One", 1)))], "Add");
    let planned = world.plan(&["--after", &first]).await;
    world.execute(&planned, &stack);
    let change = world.commit(&[(&path, Some(&template("Two", 2)))], "Change");
    world.plan(&["--before", &first, "--after", &change]).await;
    // The next commit puts the template back: CloudFormation finds nothing to change.
    let revert = world.commit(&[(&path, Some(&template("One", 1)))], "Revert");
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 3,
        status: 200,
        body: settled(&stack, "FAILED", "The submitted information didn't contain changes. Submit different information to create a change set."),
        when_body_contains: vec![format!("StackName={stack}"), format!("cfn-chatops-{revert}")],
    });
    let planned = world.plan(&["--before", &change, "--after", &revert]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&stack);
    assert_eq!(plan.classification, Classification::NoChanges);
    assert_eq!(plan.superseded, [format!("cfn-chatops-{change}")]);
    assert!(
        world.our_change_sets(&stack).await.is_empty(),
        "no button can deploy the old code"
    );
}

fn card_for<'a>(cards: &'a [Value], stack: &str) -> &'a Value {
    cards
        .iter()
        .find(|card| card["metadata"]["additionalContext"]["StackName"] == stack)
        .unwrap_or_else(|| panic!("no card for {stack}: {cards:#?}"))
}

fn texts(buttons: &[StandInButton]) -> Vec<&str> {
    buttons.iter().map(|b| b.text.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_cards_carry_working_execute_and_discard_buttons() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let (existing, new) = (unique("existing"), unique("new"));
    let first = world.commit_stacks(&[&existing], "Existing stack");
    let planned = world.plan(&["--after", &first]).await;
    world.execute(&planned, &existing);
    world.received(&queue, 2).await;

    let second = world.commit(
        &[
            (&format!("{existing}.yaml"), Some(&template("Changed", 2))),
            (&format!("{new}.yaml"), Some(&template("New", 3))),
        ],
        "<!channel> *x* <http://evil|y>",
    );
    let planned = world
        .plan(&["--before", &first, "--after", &second, "--pr", "57"])
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let deliveries = &planned.report.cards;
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries
            .iter()
            .all(|d| d.delivered && d.message_id.is_some()),
        "{deliveries:#?}"
    );

    let cards = world.received(&queue, 3).await;
    assert_eq!(cards.len(), 3);
    // The thread parent is published first (SQS does not keep order: the publishes do).
    let first = &world.recorder.requests("Publish")[2].body["Message"];
    assert!(
        first
            .as_str()
            .unwrap()
            .contains("\"eventType\":\"cfn-chatops.plan\""),
        "{first}"
    );
    let parent = cards
        .iter()
        .find(|card| card["metadata"]["eventType"] == "cfn-chatops.plan")
        .unwrap();
    assert!(
        cards
            .iter()
            .all(|c| c["metadata"]["threadId"] == "cfn-chatops/local/repository/pr-57")
    );
    assert!(support::amazon_q::buttons(parent).is_empty());
    let text = parent.to_string();
    assert!(
        !text.contains("<!channel>") && !text.contains("<http://evil"),
        "{text}"
    );

    let update_card = card_for(&cards, &existing);
    let create_card = card_for(&cards, &new);
    for card in [update_card, create_card] {
        assert_eq!(
            texts(&support::amazon_q::buttons(card)),
            ["Discard", "Execute"]
        );
    }
    // Execute on the new stack's card: the stack exists in moto with the new resources.
    let execute = support::amazon_q::buttons(create_card)
        .into_iter()
        .find(|b| b.text == "Execute")
        .unwrap();
    assert!(execute.command.starts_with(
        "cloudformation execute-change-set --change-set-name arn:aws:cloudformation:"
    ));
    support::amazon_q::click(&execute);
    assert_eq!(
        world.stack_status(&new).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    let resources = aws_cli(&[
        "cloudformation",
        "list-stack-resources",
        "--stack-name",
        &new,
    ]);
    assert_eq!(
        resources.matches("AWS::SNS::Topic").count(),
        3,
        "{resources}"
    );

    // Discard on the existing stack's card: the change set is gone, the stack untouched.
    let before = aws_cli(&[
        "cloudformation",
        "list-stack-resources",
        "--stack-name",
        &existing,
    ]);
    let discard = support::amazon_q::buttons(update_card)
        .into_iter()
        .find(|b| b.text == "Discard")
        .unwrap();
    support::amazon_q::click(&discard);
    assert!(world.our_change_sets(&existing).await.is_empty());
    assert_eq!(
        world.stack_status(&existing).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(
        aws_cli(&[
            "cloudformation",
            "list-stack-resources",
            "--stack-name",
            &existing
        ]),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_change_and_failed_cards_show_no_buttons() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let (same, bad) = (unique("same"), unique("bad"));
    let commit = world.commit_stacks(&[&same, &bad], "Two stacks");
    for (stack, reason) in [
        (&same, "No updates are to be performed."),
        (
            &bad,
            "Template error: instance of Fn::GetAtt references undefined resource Queue",
        ),
    ] {
        world.recorder.inject(Fault {
            operation: "DescribeChangeSet".into(),
            times: 3,
            status: 200,
            body: settled(stack, "FAILED", reason),
            when_body_contains: vec![format!("StackName={stack}")],
        });
    }
    world.plan(&["--after", &commit]).await;
    let cards = world.received(&queue, 3).await;
    for stack in [&same, &bad] {
        let card = card_for(&cards, stack);
        assert_eq!(card["metadata"]["enableCustomActions"], false);
        assert!(support::amazon_q::buttons(card).is_empty(), "{card}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_stacks_publish_at_most_ten_cards_a_second() {
    let mut world = World::start().await;
    world.with_topic().await;
    let prefix = unique("fleet");
    let names: Vec<String> = (0..30).map(|i| format!("{prefix}-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let commit = world.commit_stacks(&refs, "Thirty stacks");
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.cards.len(), 31);
    let times: Vec<_> = world
        .recorder
        .requests("Publish")
        .into_iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(times.len(), 31);
    // Any 11 consecutive publishes span at least a second: never more than 10 in a second.
    let fastest = times
        .windows(11)
        .map(|w| w[10].duration_since(w[0]))
        .min()
        .unwrap();
    assert!(
        fastest >= Duration::from_secs(1),
        "11 publishes within {fastest:?}"
    );
    let total = times[30].duration_since(times[0]);
    eprintln!("31 cards published over {total:?} (fastest 11 in {fastest:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_sns_refuses_is_named_in_the_report_and_the_others_still_go() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let (ok, unlucky) = (unique("ok"), unique("unlucky"));
    let commit = world.commit_stacks(&[&ok, &unlucky], "Two stacks");
    world.recorder.inject(Fault {
        operation: "Publish".into(),
        times: 20,
        status: 500,
        body: "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>SNS is down</Message></Error><RequestId>x</RequestId></ErrorResponse>".into(),
        // That stack's own card (the parent card names every stack).
        when_body_contains: vec![unlucky.clone(), "cfn-chatops.change-set".into()],
    });
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(1), "an undelivered card fails the run");
    let missed: Vec<_> = planned
        .report
        .cards
        .iter()
        .filter(|d| !d.delivered)
        .collect();
    assert_eq!(missed.len(), 1, "{:#?}", planned.report.cards);
    assert!(missed[0].title.contains(&unlucky));
    assert!(missed[0].error.as_deref().unwrap().contains("SNS is down"));
    let attempts = world
        .recorder
        .requests("Publish")
        .into_iter()
        .filter(|r| {
            let body = r.body.to_string();
            body.contains(&unlucky) && body.contains("cfn-chatops.change-set")
        })
        .count();
    assert_eq!(attempts, 5, "retried before giving up");
    assert!(
        planned.stderr.contains("not delivered"),
        "{}",
        planned.stderr
    );
    let cards = world.received(&queue, 2).await;
    assert_eq!(
        cards.len(),
        2,
        "the parent and the other stack's card arrived"
    );
    card_for(&cards, &ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_card_is_retried_and_delivered() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let stack = unique("throttled");
    let commit = world.commit_stacks(&[&stack], "One stack");
    world.recorder.inject(Fault {
        operation: "Publish".into(),
        times: 2,
        status: 400,
        body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>".into(),
        when_body_contains: vec![stack.clone(), "cfn-chatops.change-set".into()],
    });
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert!(planned.report.cards.iter().all(|d| d.delivered));
    let attempts = world
        .recorder
        .requests("Publish")
        .into_iter()
        .filter(|r| r.body.to_string().contains("cfn-chatops.change-set"))
        .count();
    assert_eq!(attempts, 3, "two throttled, then through");
    card_for(&world.received(&queue, 2).await, &stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_previews_a_report_and_custom_actions_print_in_both_formats() {
    let world = World::start().await;
    let stack = unique("preview");
    let commit = world.commit_stacks(&[&stack], "Preview");
    let planned = world.plan(&["--after", &commit]).await;
    let file = world.repo.path().join("report.json");
    std::fs::write(&file, serde_json::to_string(&planned.report).unwrap()).unwrap();

    let output = support::bot::command(&["render", "--report", file.to_str().unwrap()], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json_end = stdout.find("\n\n").unwrap();
    let cards: Vec<Value> = serde_json::from_str(&stdout[..json_end]).unwrap();
    assert_eq!(cards.len(), 2);
    let preview = &stdout[json_end..];
    assert!(preview.contains("[ Execute ]  [ Discard ]"), "{preview}");
    assert!(preview.contains("Execute runs: cloudformation execute-change-set --change-set-name arn:aws:cloudformation:"), "{preview}");

    for (args, reason) in [
        (
            vec!["render", "--report", "/nonexistent/report.json"],
            "cannot read /nonexistent/report.json",
        ),
        (
            vec![
                "render",
                "--report",
                world
                    .repo
                    .path()
                    .join(format!("{stack}.yaml"))
                    .to_str()
                    .unwrap(),
            ],
            "is not a plan report",
        ),
    ] {
        let output = support::bot::command(&args, &[]).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains(reason));
    }

    let json = support::bot::command(&["custom-actions"], &[])
        .output()
        .unwrap();
    let actions: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    let on_disk: Vec<Value> = ["cfn-chatops-execute.json", "cfn-chatops-discard.json"]
        .iter()
        .map(|file| {
            let path = format!("{}/custom-actions/{file}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        })
        .collect();
    // The same two files, in the embedded order (the unit tests check the folder has no others).
    assert_eq!(actions, on_disk);
    let template = support::bot::command(&["custom-actions", "--format", "cloudformation"], &[])
        .output()
        .unwrap();
    let resources: Value = serde_json::from_slice(&template.stdout).unwrap();
    assert_eq!(
        resources["CfnChatopsExecute"]["Type"],
        "AWS::Chatbot::CustomAction"
    );
    assert_eq!(resources["CfnChatopsDiscard"]["Properties"], on_disk[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_sets_are_created_with_the_deploy_role_unless_the_config_names_one() {
    let world = World::start().await;
    let (default, own) = (unique("default-role"), unique("own-role"));
    let config = format!(
        "stacks:\n  - name: {own}\n    template: own.yaml\n    role_arn: arn:aws:iam::123456789012:role/own-deploy\n  - name: {default}\n    template: default.yaml\n"
    );
    let commit = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("own.yaml", Some(&template("Own", 1))),
            ("default.yaml", Some(&template("Default", 1))),
        ],
        "Two stacks",
    );
    let planned = world
        .plan(&[
            "--after",
            &commit,
            "--deploy-role-arn",
            "arn:aws:iam::123456789012:role/cfn-chatops-deploy",
        ])
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let role_of = |stack: &str| world.creates_for(stack)[0]["RoleARN"].clone();
    assert_eq!(
        role_of(&default),
        "arn:aws:iam::123456789012:role/cfn-chatops-deploy"
    );
    assert_eq!(role_of(&own), "arn:aws:iam::123456789012:role/own-deploy");
}

/// A DescribeChangeSet answer (CloudFormation's XML) with the given status fields and rows;
/// `rows` are `(action, logical id, type, replacement, nested change set)`.
fn described(
    status: &str,
    reason: Option<&str>,
    rows: &[(&str, &str, &str, &str, Option<&str>)],
) -> String {
    let members: String = rows
        .iter()
        .map(|(action, id, kind, replacement, nested)| {
            let nested = nested
                .map(|arn| format!("<ChangeSetId>{arn}</ChangeSetId>"))
                .unwrap_or_default();
            format!(
                "<member><Type>Resource</Type><ResourceChange><Action>{action}</Action><LogicalResourceId>{id}</LogicalResourceId><ResourceType>{kind}</ResourceType><Replacement>{replacement}</Replacement>{nested}</ResourceChange></member>"
            )
        })
        .collect();
    let reason = reason
        .map(|r| format!("<StatusReason>{r}</StatusReason>"))
        .unwrap_or_default();
    query_answer(
        "DescribeChangeSet",
        &format!("<Status>CREATE_COMPLETE</Status>{status}{reason}<Changes>{members}</Changes>"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_stacks_are_included_described_and_their_destructive_rows_reach_the_card() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let stack = unique("nested");
    let template = format!(
        "{}  Network:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://cfn-chatops-tests.s3.amazonaws.com/network.yaml\n",
        template("nested", 1).replace("Outputs:\n  First:\n    Value: !Ref Topic0\n", "")
    );
    let commit = world.commit(
        &[(&format!("stacks/{stack}.yaml"), Some(&template))],
        "A stack with nested stacks",
    );
    // moto has no nested change sets: the proxy answers as CloudFormation does. The root's
    // answer with values points at three nested change sets; each is answered on its own.
    let child = |name: &str| {
        format!("arn:aws:cloudformation:us-east-1:123456789012:changeSet/{name}-0f1e2d3c/9a8b7c6d")
    };
    let nested = ["network", "storage", "compute"].map(child);
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 1,
        status: 200,
        body: described(
            "<ExecutionStatus>AVAILABLE</ExecutionStatus>",
            None,
            &[
                ("Add", "Topic0", "AWS::SNS::Topic", "False", None),
                (
                    "Modify",
                    "Network",
                    "AWS::CloudFormation::Stack",
                    "False",
                    Some(&nested[0]),
                ),
                (
                    "Modify",
                    "Storage",
                    "AWS::CloudFormation::Stack",
                    "False",
                    Some(&nested[1]),
                ),
                (
                    "Modify",
                    "Compute",
                    "AWS::CloudFormation::Stack",
                    "False",
                    Some(&nested[2]),
                ),
            ],
        ),
        when_body_contains: vec![
            "IncludePropertyValues=true".into(),
            format!("StackName={stack}"),
        ],
    });
    let child_answer = |rows: &[(&str, &str, &str, &str, Option<&str>)]| {
        described(
            "<ExecutionStatus>UNAVAILABLE</ExecutionStatus>",
            Some("Executable from root change set"),
            rows,
        )
    };
    for (name, rows) in [
        (
            "network",
            vec![
                ("Remove", "DataBucket", "AWS::S3::Bucket", "False", None),
                ("Modify", "Queue", "AWS::SQS::Queue", "True", None),
            ],
        ),
        (
            "storage",
            vec![("Add", "Table", "AWS::DynamoDB::Table", "True", None)],
        ),
        (
            "compute",
            vec![("Modify", "Worker", "AWS::Lambda::Function", "False", None)],
        ),
    ] {
        world.recorder.inject(Fault {
            operation: "DescribeChangeSet".into(),
            times: 1,
            status: 200,
            body: child_answer(&rows),
            when_body_contains: vec![format!("{name}-0f1e2d3c")],
        });
    }
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);

    // The change set includes the nested stacks', and every nested one was read once.
    let create = &world.creates_for(&stack)[0];
    assert_eq!(create["IncludeNestedStacks"], "true", "{create}");
    let reads = world.requests("DescribeChangeSet");
    for arn in &nested {
        let asked: Vec<_> = reads
            .iter()
            .filter(|body| body["ChangeSetName"] == arn.as_str())
            .collect();
        assert_eq!(asked.len(), 1, "{arn} read once, by its ARN alone");
        assert!(asked[0].get("StackName").is_none(), "{:?}", asked[0]);
    }
    let root_reads = reads
        .iter()
        .filter(|body| body["StackName"] == stack.as_str())
        .count();
    // One poll (moto settles at once) and one read with values for the root.
    assert_eq!(root_reads, 2);

    let plan = planned.stack(&stack);
    let destructive: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.destructive.is_some())
        .map(|c| (c.logical_id.as_str(), c.destructive.as_deref().unwrap()))
        .collect();
    assert_eq!(
        destructive,
        [
            ("Network/DataBucket", "removed"),
            ("Network/Queue", "replaced")
        ],
        "an Add's Replacement is not destructive: {:?}",
        plan.changes
    );
    assert_eq!(plan.counts.summary(), "+2 ~5 -1");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

    let cards = world.received(&queue, 2).await;
    let card = cards
        .iter()
        .find(|c| c["metadata"]["additionalContext"]["StackName"] == stack.as_str())
        .unwrap();
    let description = card["content"]["description"].as_str().unwrap();
    assert!(
        description.contains(":warning: Remove `Network/DataBucket` AWS::S3::Bucket — removed"),
        "{description}"
    );
    assert!(
        card["content"]["title"]
            .as_str()
            .unwrap()
            .starts_with(":warning:")
    );
    let parent = cards
        .iter()
        .find(|c| c["metadata"]["eventType"] == "cfn-chatops.plan")
        .unwrap();
    assert!(
        parent["content"]["description"]
            .as_str()
            .unwrap()
            .contains("2 destructive"),
        "{parent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_what_the_bot_decided_and_never_a_no_echo_value() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let stack = unique("decided");
    const PASSWORD: &str = "hunter2-not-for-slack";
    let template = "Parameters:\n  Env:\n    Type: String\n  DbPassword:\n    Type: String\n    NoEcho: true\nResources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {Service: lambda.amazonaws.com}\n            Action: sts:AssumeRole\n  Topic:\n    Type: AWS::SNS::Topic\n";
    let config = format!(
        "stacks:\n  - name: {stack}\n    template: stacks/app.yaml\n    parameters: {{Env: prod, DbPassword: {PASSWORD}}}\n"
    );
    let commit = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("stacks/app.yaml", Some(template)),
        ],
        "An app with a secret parameter",
    );
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    // CloudFormation gets the value; nobody else sees it.
    let create = &world.creates_for(&stack)[0];
    let sent: Vec<_> = (1..=2)
        .map(|i| {
            create[format!("Parameters.member.{i}.ParameterValue")]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(sent.contains(&PASSWORD), "{create}");
    let plan = planned.stack(&stack);
    assert_eq!(plan.capabilities, ["CAPABILITY_IAM"]);
    let shown: Vec<_> = plan
        .parameters
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(shown, [("DbPassword", "****"), ("Env", "prod")]);
    let cards = world.received(&queue, 2).await;
    let card = card_for(&cards, &stack);
    let description = card["content"]["description"].as_str().unwrap();
    assert!(description.contains("*New stack* `"), "{description}");
    assert!(
        description.contains("*Acknowledges* `CAPABILITY_IAM`"),
        "{description}"
    );
    assert!(
        description.contains("*Parameters* `DbPassword`=`****`, `Env`=`prod`"),
        "{description}"
    );
    for text in [
        serde_json::to_string(&planned.report).unwrap(),
        serde_json::to_string(&cards).unwrap(),
        planned.stderr.clone(),
    ] {
        assert!(!text.contains(PASSWORD), "the NoEcho value leaked: {text}");
    }
}

/// The files of `tests/fixtures/real-repo` (real public templates and files; see its
/// SOURCES.md), as `(path, content)` for [`World::commit`].
fn real_repository() -> Vec<(String, String)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, files: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if path.file_name().is_some_and(|name| name != "SOURCES.md") {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                files.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-repo");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    files
}

fn reason(planned: &support::world::Planned, stack: &str) -> String {
    planned.stack(stack).reason.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_infrastructure_repository_is_planned_as_it_is() {
    let world = World::start().await;
    // Synthetic non-templates as infra repositories hold them, beside the real buildspec.
    let synthetic = [
        (
            ".github/workflows/ci.yml",
            "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n",
        ),
        (
            "k8s/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
        ),
        (
            "docker-compose.yml",
            "services:\n  db:\n    image: postgres:16\n",
        ),
        (
            "tsconfig.json",
            "{\"compilerOptions\": {\"strict\": true}}\n",
        ),
        // Synthetic: a second template whose name discovery derives as `orders`, like the
        // SAM application in apps/orders/template.yaml.
        (
            "legacy/orders.yaml",
            "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n",
        ),
    ];
    let config = "# Discovery plans every template; these entries override two of them.\ndiscovery:\n  exclude: [\"examples/**\"]\nstacks:\n  - template: infra/DynamoDB_Table.yaml\n    parameters: {HashKeyElementName: id}\n    tags: {team: data}\n  - name: flow-logs\n    template: infra/VPCFlowLogsCloudWatch.cfn.yaml\n    parameters_file: params/config-prod.json\n    parameters: {VPCFlowLogsCloudWatchKMSKey: ''}\nwaivers:\n  - stack: fn-foreach-ddb\n    rule: data-loss\n    reason: scratch tables\n";
    let mut files = real_repository();
    files.extend(
        synthetic
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned())),
    );
    files.push((".cfn-chatops.yml".into(), config.into()));
    files.push((
        "examples/sns.yaml".into(),
        template("Excluded by discovery.exclude", 1),
    ));
    let files: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(path, content)| (path.as_str(), Some(content.as_str())))
        .collect();
    let first = world.commit(&files, "Adopt cfn-chatops");
    let planned = world.plan(&["--after", &first]).await;
    assert_eq!(
        planned.code,
        Some(1),
        "some stacks fail: {}",
        planned.stderr
    );
    let mut names: Vec<&str> = planned
        .report
        .stacks
        .iter()
        .map(|stack| stack.stack.as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "DynamoDB-Table",
            "RDS-PIOPS",
            "flow-logs",
            "fn-foreach-ddb",
            "orders",
            "orders",
            "users"
        ],
        "templates only: no buildspec, workflow, manifest, compose or tsconfig; nothing excluded"
    );
    assert!(
        planned
            .report
            .notes
            .iter()
            .all(|note| !note.contains("changed, but")),
        "no note for a non-template: {:?}",
        planned.report.notes
    );

    // An entry without a name overrides the discovered stack under its derived name.
    let table = planned.stack("DynamoDB-Table");
    assert_eq!(table.classification, Classification::Changes, "{table:?}");
    let create = &world.creates_for("DynamoDB-Table")[0];
    assert_eq!(
        create["Parameters.member.1.ParameterKey"],
        "HashKeyElementName"
    );
    assert_eq!(create["Parameters.member.1.ParameterValue"], "id");
    assert_eq!(create["Tags.member.1.Key"], "team");

    // A named entry with CodePipeline's real template configuration: the parameters the
    // template declares are sent, the others said and left out.
    let flow = planned.stack("flow-logs");
    let create = &world.creates_for("flow-logs")[0];
    let sent: Vec<&str> = (1..=3)
        .filter_map(|n| create[format!("Parameters.member.{n}.ParameterKey")].as_str())
        .collect();
    assert_eq!(sent, ["VPCFlowLogsCloudWatchKMSKey", "VPCID"], "{create}");
    assert_eq!(create["Capabilities.member.1"], "CAPABILITY_IAM");
    assert!(
        flow.notes.iter().any(|note| note.starts_with(
            "not sent, as the template does not declare them: AMIId, DBInstanceType, DBPassword"
        )),
        "{:?}",
        flow.notes
    );
    assert!(
        world.creates_for("VPCFlowLogsCloudWatch").is_empty(),
        "owned by its entry"
    );

    // A required NoEcho parameter nobody gave: failed before CloudFormation, said how to fix.
    assert_eq!(
        reason(&planned, "RDS-PIOPS"),
        "parameter DBUser needs a value: set it in .cfn-chatops.yml (stacks[].parameters or parameters_file)"
    );
    assert!(world.creates_for("RDS-PIOPS").is_empty());

    // SAM applications with local code: failed with what to do, nothing sent.
    let users = reason(&planned, "users");
    assert!(
        users.starts_with("apps/users/template.yaml: ")
            && users.contains("(producer/)")
            && users.contains(
                "package the template in CI (`sam package` or `aws cloudformation package`)"
            )
            && users.contains("or point them at S3"),
        "{users}"
    );
    assert!(world.creates_for("users").is_empty() && world.creates_for("orders").is_empty());
    // Two templates that discovery names alike: each failure names the other file.
    let orders: Vec<String> = planned
        .report
        .stacks
        .iter()
        .filter(|stack| stack.stack == "orders")
        .map(|stack| stack.reason.clone().unwrap_or_default())
        .collect();
    assert!(
        orders.iter().any(|reason| reason.starts_with(
            "legacy/orders.yaml: apps/orders/template.yaml also makes stack orders; name one in .cfn-chatops.yml"
        )),
        "{orders:?}"
    );

    // A template with a transform other than SAM's keeps CAPABILITY_AUTO_EXPAND.
    let foreach = &world.creates_for("fn-foreach-ddb")[0];
    assert_eq!(foreach["Capabilities.member.1"], "CAPABILITY_AUTO_EXPAND");

    // The table is created; then its entry gives no HashKeyElementName: the stack keeps its
    // own (UsePreviousValue), and the review says so.
    world.execute(&planned, "DynamoDB-Table");
    let kept_config = config.replace("    parameters: {HashKeyElementName: id}\n", "");
    let kept = world.commit(
        &[(".cfn-chatops.yml", Some(&kept_config))],
        "The table keeps its key",
    );
    let planned = world.plan(&["--before", &first, "--after", &kept]).await;
    let names: Vec<&str> = planned
        .report
        .stacks
        .iter()
        .map(|s| s.stack.as_str())
        .collect();
    assert_eq!(names, ["DynamoDB-Table"], "only the changed entry");
    let update = world.creates_for("DynamoDB-Table").pop().unwrap();
    assert_eq!(update["ChangeSetType"], "UPDATE");
    assert_eq!(
        update["Parameters.member.1.ParameterKey"],
        "HashKeyElementName"
    );
    assert_eq!(update["Parameters.member.1.UsePreviousValue"], "true");
    assert!(update.get("Parameters.member.1.ParameterValue").is_none());
    let shown: Vec<(String, String)> = planned
        .stack("DynamoDB-Table")
        .parameters
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    assert_eq!(shown, [("HashKeyElementName".into(), "id (kept)".into())]);

    // Discovery turned off: only entries plan, and a note names a changed template no entry
    // uses, never a changed non-template.
    // (Its waiver goes too: with discovery off, fn-foreach-ddb is no stack of the config's.)
    let off = kept_config
        .replace("discovery:\n", "discovery:\n  enabled: false\n")
        .replace(
            "waivers:\n  - stack: fn-foreach-ddb\n    rule: data-loss\n    reason: scratch tables\n",
            "",
        );
    let foreach_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real-repo/infra/fn-foreach-ddb.yaml"),
    )
    .unwrap();
    let third = world.commit(
        &[
            (".cfn-chatops.yml", Some(&off)),
            (
                "buildspec.yml",
                Some("version: 0.2\nphases:\n  build:\n    commands: [make]\n"),
            ),
            (
                "k8s/deployment.yaml",
                Some("apiVersion: apps/v1\nkind: Deployment\n"),
            ),
            (
                "infra/fn-foreach-ddb.yaml",
                Some(&format!("{foreach_text}\n# touched\n")),
            ),
        ],
        "Discovery off",
    );
    let planned = world.plan(&["--before", &kept, "--after", &third]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert!(
        planned.report.stacks.is_empty(),
        "{:?}",
        planned.report.stacks
    );
    // What discovery planned before is no longer planned: its stacks are left, and said (not
    // `orders`, which two files made: it was never planned).
    let mut left: Vec<&str> = planned
        .report
        .left_in_place
        .iter()
        .filter(|left| {
            left.reason
                .starts_with("discovery is off in .cfn-chatops.yml")
        })
        .map(|left| left.stack.as_str())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["RDS-PIOPS", "fn-foreach-ddb", "users"],
        "templates only: {:?}",
        planned.report.left_in_place
    );
    let changed: Vec<&String> = planned
        .report
        .notes
        .iter()
        .filter(|note| note.contains("changed, but"))
        .collect();
    assert_eq!(
        changed,
        [
            "infra/fn-foreach-ddb.yaml changed, but no stack in .cfn-chatops.yml uses it as its template (discovery is off)"
        ]
    );

    // A template configuration with Tags and a StackPolicy (synthetic: the real one has
    // Parameters only): the tags are sent, the policy is said not to be applied.
    let policy = world.commit(
        &[(
            "params/config-prod.json",
            Some(
                "{\n  \"Parameters\": {\"VPCID\": \"vpc-1\"},\n  \"Tags\": {\"cost-center\": \"net-1\"},\n  \"StackPolicy\": {\"Statement\": [{\"Effect\": \"Deny\", \"Action\": \"Update:Replace\", \"Principal\": \"*\", \"Resource\": \"*\"}]}\n}\n",
            ),
        )],
        "A stack policy and tags",
    );
    let planned = world.plan(&["--before", &third, "--after", &policy]).await;
    let flow = planned.stack("flow-logs");
    assert!(
        flow.notes.iter().any(|note| note
            == "params/config-prod.json: its StackPolicy is not applied (a change set cannot carry one): set it once with `aws cloudformation set-stack-policy`"),
        "{:?}",
        flow.notes
    );
    let create = world.creates_for("flow-logs").pop().unwrap();
    assert_eq!(create["Tags.member.1.Key"], "cost-center");
    assert_eq!(create["Tags.member.1.Value"], "net-1");

    // A template configuration of the wrong shape: its stack fails with the file, the line
    // and what was expected; nothing is sent.
    let creates = world.creates_for("flow-logs").len();
    let wrong = world.commit(
        &[(
            "params/config-prod.json",
            Some(
                "{\n  \"Parameters\": {\"VPCID\": \"vpc-1\"},\n  \"Tag\": {\"team\": \"net\"}\n}\n",
            ),
        )],
        "A typo in the template configuration",
    );
    let planned = world.plan(&["--before", &policy, "--after", &wrong]).await;
    assert_eq!(planned.code, Some(1), "{}", planned.stderr);
    assert_eq!(
        reason(&planned, "flow-logs"),
        "params/config-prod.json:3: CodePipeline's template configuration has Parameters, Tags and StackPolicy: unknown field `Tag`, expected one of `Parameters`, `Tags`, `StackPolicy`"
    );
    assert_eq!(world.creates_for("flow-logs").len(), creates);

    // A waiver may name a discovered template's stack (above), not a data file's.
    let waiver = world.commit(
        &[(
            ".cfn-chatops.yml",
            Some(&format!(
                "{kept_config}  - stack: buildspec\n    rule: data-loss\n    reason: not a stack\n"
            )),
        )],
        "A waiver for a buildspec",
    );
    let planned = world.plan(&["--before", &wrong, "--after", &waiver]).await;
    assert_eq!(planned.code, Some(1));
    assert!(planned.report.stacks.is_empty());
    let line = kept_config.lines().count() + 1;
    assert!(
        planned.report.errors[0].starts_with(&format!(
            ".cfn-chatops.yml:{line}: waivers: waiver for stack \"buildspec\", which is not in `stacks` and not a discovered template's stack"
        )),
        "{:?}",
        planned.report.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_throttling_is_waited_out_and_a_refusal_is_shown_in_cloudformations_words() {
    let world = World::start().await;
    let patient = unique("patient");
    let refused = unique("refused");
    // More stacks spending every attempt than the SDK's shared retry quota allows (500
    // tokens, 5 a retry: some 14 calls' worth).
    let exhausted: Vec<String> = (0..16).map(|_| unique("exhausted")).collect();
    let mut stacks: Vec<&str> = vec![&patient, &refused];
    stacks.extend(exhausted.iter().map(String::as_str));
    let commit = world.commit_stacks(&stacks, "Eighteen stacks in a busy account");
    let throttle = |stack: &str, times| Fault {
        operation: "CreateChangeSet".into(),
        times,
        status: 400,
        body: query_error("Throttling", "Rate exceeded"),
        when_body_contains: vec![format!("StackName={stack}&")],
    };
    // Seven refusals, each answered 2 s late: 14 s of throttling, longer than any single
    // timeout of 12 s would wait, whatever the SDK's random waits between; the eighth and
    // last attempt goes through.
    world.recorder.inject(throttle(&patient, 7));
    world.recorder.delay(
        "CreateChangeSet",
        &format!("StackName={patient}&"),
        Duration::from_secs(2),
    );
    // More than the 8 attempts: the service's own error once they are spent.
    for stack in &exhausted {
        world.recorder.inject(throttle(stack, 20));
    }
    // What CloudFormation answers when a parameter has no value (here for a stack whose
    // template the bot saw none missing in): its words, verbatim.
    world.recorder.inject(Fault {
        operation: "CreateChangeSet".into(),
        times: 1,
        status: 400,
        body: query_error("ValidationError", "Parameters: [KeyName] must have values"),
        when_body_contains: vec![format!("StackName={refused}&")],
    });
    let started = Instant::now();
    let planned = world
        .plan(&["--after", &commit, "--concurrency", "18"])
        .await;
    let waited = started.elapsed();
    assert_eq!(planned.code, Some(1), "{}", planned.stderr);

    assert_eq!(
        planned.stack(&patient).classification,
        Classification::Changes
    );
    assert_eq!(
        world.creates_for(&patient).len(),
        8,
        "seven throttled, then through"
    );

    for stack in &exhausted {
        let plan = planned.stack(stack);
        assert_eq!(plan.classification, Classification::Failed);
        assert_eq!(
            plan.reason.as_deref(),
            Some("Throttling: Rate exceeded"),
            "the service's error, not a timeout"
        );
        assert_eq!(
            world.creates_for(stack).len(),
            8,
            "{stack}: the documented attempts, however many stacks are throttled"
        );
    }

    assert_eq!(
        reason(&planned, &refused),
        "ValidationError: Parameters: [KeyName] must have values"
    );
    assert_eq!(
        world.creates_for(&refused).len(),
        1,
        "a refusal is not retried"
    );
    eprintln!("18 stacks, 16 throttled to the end: the plan took {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_parameters_show_what_cloudformation_resolved_and_no_echo_ones_nothing() {
    let world = World::start().await;
    let stack = unique("ssm");
    let (ami, token) = (format!("/app/{stack}/ami"), format!("/app/{stack}/token"));
    for (name, value) in [(&ami, "ami-0abc1234"), (&token, "s3cr3t-token")] {
        aws_cli(&[
            "ssm",
            "put-parameter",
            "--name",
            name,
            "--value",
            value,
            "--type",
            "String",
        ]);
    }
    let template = "Parameters:\n  Ami:\n    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>\n  Token:\n    Type: AWS::SSM::Parameter::Value<String>\n    NoEcho: true\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
    let config = format!(
        "stacks:\n  - name: {stack}\n    template: app.yaml\n    parameters: {{Ami: {ami}, Token: {token}}}\n"
    );
    let commit = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("app.yaml", Some(template)),
        ],
        "SSM parameters",
    );
    // moto does not resolve SSM parameter types in DescribeChangeSet: CloudFormation's
    // documented answer (Parameters[].ResolvedValue) is given by the proxy. Synthetic.
    let parameters = format!(
        "<Parameters><member><ParameterKey>Ami</ParameterKey><ParameterValue>{ami}</ParameterValue><ResolvedValue>ami-0abc1234</ResolvedValue></member><member><ParameterKey>Token</ParameterKey><ParameterValue>****</ParameterValue><ResolvedValue>s3cr3t-token</ResolvedValue></member></Parameters>"
    );
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 10,
        status: 200,
        body: query_answer(
            "DescribeChangeSet",
            &format!(
                "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>{parameters}<Changes><member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>Topic</LogicalResourceId><ResourceType>AWS::SNS::Topic</ResourceType></ResourceChange></member></Changes>"
            ),
        ),
        when_body_contains: vec![format!("StackName={stack}")],
    });
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(
        planned.parameters(&stack),
        [
            ("Ami", format!("{ami} → ami-0abc1234").as_str()),
            ("Token", "****")
        ]
    );
    let report = serde_json::to_string(&planned.report).unwrap();
    for text in [report, planned.stderr.clone()] {
        assert!(
            !text.contains("s3cr3t-token"),
            "a NoEcho value leaked: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_and_discovered_templates_never_share_a_stack_and_a_mistyped_parameter_is_refused()
{
    let world = World::start().await;
    let (shared, twin, typo) = (unique("shared"), unique("twin"), unique("typo"));
    // An entry names its stack like a template discovery finds elsewhere; two discovered
    // templates make one name; an entry mistypes a parameter of its template.
    let config = format!(
        "stacks:\n  - name: {shared}\n    template: entry/app.yaml\n  - name: {typo}\n    template: typo.yaml\n    parameters:\n      Evn: prod\n"
    );
    let commit = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("entry/app.yaml", Some(&template("Entry", 1))),
            (
                &format!("legacy/{shared}.yaml"),
                Some(&template("Legacy", 1)),
            ),
            (&format!("a/{twin}.yaml"), Some(&template("A", 1))),
            (&format!("b/{twin}/template.yaml"), Some(&template("B", 1))),
            ("typo.yaml", Some(&template("Typo", 1))),
        ],
        "Clashes and a typo",
    );
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(1), "{}", planned.stderr);
    let reasons = |stack: &str| -> Vec<String> {
        planned
            .report
            .stacks
            .iter()
            .filter(|plan| plan.stack == stack)
            .map(|plan| plan.reason.clone().unwrap_or_default())
            .collect()
    };
    let shared_reasons = reasons(&shared);
    assert_eq!(shared_reasons.len(), 2, "{shared_reasons:?}");
    assert!(
        shared_reasons.contains(&format!(
            "entry/app.yaml: legacy/{shared}.yaml also makes stack {shared}; name one in .cfn-chatops.yml (`stacks: [{{template: entry/app.yaml, name: <stack>}}]`) or exclude one (`discovery: {{exclude: [<glob>]}}`)"
        )),
        "{shared_reasons:?}"
    );
    assert!(
        shared_reasons.iter().any(|reason| reason.starts_with(&format!(
            "legacy/{shared}.yaml: the .cfn-chatops.yml entry for entry/app.yaml also makes stack {shared};"
        ))),
        "{shared_reasons:?}"
    );
    let twins = reasons(&twin);
    assert!(
        twins.contains(&format!(
            "a/{twin}.yaml: b/{twin}/template.yaml also makes stack {twin}; name one in .cfn-chatops.yml (`stacks: [{{template: a/{twin}.yaml, name: <stack>}}]`) or exclude one (`discovery: {{exclude: [<glob>]}}`)"
        )),
        "each other file named once: {twins:?}"
    );
    assert_eq!(
        reasons(&typo),
        [format!(
            ".cfn-chatops.yml:7: stack {typo}: Evn is not a parameter of typo.yaml (it declares Env)"
        )]
    );
    for stack in [&shared, &twin, &typo] {
        assert!(world.creates_for(stack).is_empty(), "{stack}: nothing sent");
    }

    // Later, only the entry's template changes: the unchanged legacy template still makes
    // that stack, so the entry fails again, naming it.
    let touched = world.commit(
        &[("entry/app.yaml", Some(&template("Entry 2", 2)))],
        "Only the entry's template",
    );
    let planned = world
        .plan(&["--before", &commit, "--after", &touched])
        .await;
    let plan = planned.stack(&shared);
    assert!(
        plan.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with(&format!(
                "entry/app.yaml: legacy/{shared}.yaml also makes stack {shared};"
            )),
        "{plan:?}"
    );
    assert!(world.creates_for(&shared).is_empty());

    // The config deleted: its entries' stacks are left in place, and said.
    let deleted = world.commit(&[(".cfn-chatops.yml", None)], "No config");
    let planned = world
        .plan(&["--before", &touched, "--after", &deleted])
        .await;
    let mut left: Vec<&str> = planned
        .report
        .left_in_place
        .iter()
        .filter(|left| left.reason.starts_with("removed from .cfn-chatops.yml"))
        .map(|left| left.stack.as_str())
        .collect();
    left.sort();
    let mut expected = [shared.as_str(), typo.as_str()];
    expected.sort();
    assert_eq!(left, expected, "{:?}", planned.report.left_in_place);
}
