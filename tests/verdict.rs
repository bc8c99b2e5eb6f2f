//! The safety verdict end to end: the real binary plans on moto, the Amazon Q stand-in shows
//! (or withholds) the buttons, the Backlog stand-in receives the comment. moto shows every
//! resource as `Add`, so what it can prove here is the permission rules on new resources; the
//! data-loss rules are proven on templates and CloudFormation's answers in unit tests.

mod support;

use support::backlog::{Backlog, PullRequest};
use support::unique;
use support::world::World;

use cfn_chatops::model::verdict::{BLOCKED_BY_VERDICT, Level, Source};

const PROJECT: &str = "INFRA";
const REPOSITORY: &str = "cfn-templates";

/// A role that may do anything with S3 anywhere.
fn wildcard_role(description: &str) -> String {
    format!(
        "Description: {description}\nResources:\n  WorkerRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {{Service: lambda.amazonaws.com}}\n            Action: sts:AssumeRole\n      Policies:\n        - PolicyName: work\n          PolicyDocument:\n            Statement:\n              - Effect: Allow\n                Action: s3:*\n                Resource: '*'\n"
    )
}

/// A security group open to the world on SSH.
fn open_group(description: &str) -> String {
    format!(
        "Description: {description}\nResources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: ssh\n      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          CidrIp: 0.0.0.0/0\n"
    )
}

fn config(worker: &str, open: &str, quiet: &str, extra: &str) -> String {
    format!(
        "stacks:\n  - name: {worker}\n    template: stacks/worker.yaml\n  - name: {open}\n    template: stacks/open.yaml\n  - name: {quiet}\n    template: stacks/quiet.yaml\n{extra}"
    )
}

fn card_of<'a>(cards: &'a [serde_json::Value], stack: &str) -> &'a serde_json::Value {
    cards
        .iter()
        .find(|card| {
            card["content"]["title"]
                .as_str()
                .is_some_and(|title| title.contains(&format!(" {stack} (")))
        })
        .unwrap_or_else(|| panic!("no card for {stack}"))
}

fn description(card: &serde_json::Value) -> &str {
    card["content"]["description"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_keeps_the_buttons_with_the_reasons_first_and_block_deletes_the_change_set() {
    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let backlog = Backlog::start().await;
    backlog.project(PROJECT, "markdown");
    world.extra_env.extend(backlog.env());
    let (worker, open, quiet) = (unique("worker"), unique("open"), unique("quiet"));
    let first = world.commit(
        &[
            (
                ".cfn-chatops.yml",
                Some(&config(&worker, &open, &quiet, "")),
            ),
            ("stacks/worker.yaml", Some(&wildcard_role("v1"))),
            ("stacks/open.yaml", Some(&open_group("v1"))),
            (
                "stacks/quiet.yaml",
                Some(&support::world::template("quiet", 1)),
            ),
        ],
        "Three stacks",
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        PullRequest {
            number: 57,
            base: "main".into(),
            branch: "feature/57".into(),
            status: 3,
            merge_commit: Some(first.clone()),
            summary: "Three stacks".into(),
            branch_commit: None,
        },
    );
    let args = |commit: &str| {
        vec![
            "--project".to_owned(),
            PROJECT.into(),
            "--repository".into(),
            REPOSITORY.into(),
            "--pr".into(),
            "57".into(),
            "--after".into(),
            commit.to_owned(),
        ]
    };
    let run = |commit: &str| {
        let args = args(commit);
        let world = &world;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            world.plan(&args).await
        }
    };

    // The repository's default: permission risks are for review.
    let planned = run(&first).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let verdict = planned.stack(&worker).verdict.clone().expect("a verdict");
    assert_eq!(verdict.level, Level::Review);
    assert_eq!(verdict.findings[0].rule, "iam-broadened");
    assert_eq!(verdict.findings[0].source, Source::Builtin);
    assert_eq!(
        verdict.findings[0].resource.as_deref(),
        Some("WorkerRole (AWS::IAM::Role)")
    );
    assert_eq!(verdict.findings[0].message, "gains s3:* on *");
    let opened = planned.stack(&open).verdict.clone().unwrap();
    assert_eq!(opened.findings[0].message, "opens tcp 22 to 0.0.0.0/0");
    let calm = planned.stack(&quiet).verdict.clone().unwrap();
    assert_eq!((calm.level, calm.findings.len()), (Level::Ok, 0));
    assert!(calm.rules_checked >= 7, "{calm:?}");

    let cards = world.received(&queue, 4).await;
    let card = card_of(&cards, &worker);
    assert_eq!(
        description(card).lines().next(),
        Some(":warning: *Review:* iam-broadened — WorkerRole (AWS::IAM::Role): gains s3:* on *"),
        "the reason comes first"
    );
    let texts: Vec<String> = support::amazon_q::buttons(card)
        .into_iter()
        .map(|button| button.text)
        .collect();
    assert_eq!(texts, ["Discard", "Execute"], "review keeps the buttons");
    assert!(
        description(card_of(&cards, &quiet)).starts_with(":white_check_mark: No risks found by")
    );
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 57);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].content.contains(
            "⚠️ **Review:** iam-broadened — WorkerRole (AWS::IAM::Role): gains s3:\\* on \\*"
        ),
        "{}",
        comments[0].content
    );

    // The team blocks permission risks and waives the worker's, with a reason.
    let waiver = format!(
        "risks: {{permissions: block}}\nwaivers:\n  - stack: {worker}\n    rule: iam-broadened\n    reason: break-glass role, reviewed by security\n  - stack: {open}\n    rule: S3_BUCKET_VERSIONING\n    reason: a stale waiver\n"
    );
    let second = world.commit(
        &[
            (
                ".cfn-chatops.yml",
                Some(&config(&worker, &open, &quiet, &waiver)),
            ),
            ("stacks/worker.yaml", Some(&wildcard_role("v2"))),
            ("stacks/open.yaml", Some(&open_group("v2"))),
        ],
        "Block permission risks",
    );
    let planned = run(&second).await;
    assert_eq!(
        planned.code,
        Some(0),
        "blocked is a verdict, not a failure: {}",
        planned.stderr
    );
    let blocked = planned.stack(&open);
    assert_eq!(blocked.classification.as_str(), "blocked", "{blocked:#?}");
    assert_eq!(blocked.verdict.as_ref().unwrap().level, Level::Blocked);
    assert_eq!(blocked.reason.as_deref(), Some(BLOCKED_BY_VERDICT));
    assert_eq!(
        blocked.verdict.as_ref().unwrap().findings[0].summary(),
        "ingress-open-to-world — Sg (AWS::EC2::SecurityGroup): opens tcp 22 to 0.0.0.0/0"
    );
    assert!(
        blocked.notes.iter().any(|note| note
            == "the waiver of S3_BUCKET_VERSIONING in .cfn-chatops.yml matched no finding: remove it if the risk is gone, or check the rule's name"),
        "{:?}",
        blocked.notes
    );
    assert!(
        !planned
            .stack(&worker)
            .notes
            .iter()
            .any(|note| note.contains("matched no finding")),
        "the worker's waiver was used"
    );
    let change_set = blocked.change_set.as_ref().unwrap();
    assert!(!change_set.executable);
    assert!(
        world.our_change_sets(&open).await.is_empty(),
        "the blocked change set (and the one it superseded) is gone from CloudFormation"
    );
    let record = world
        .ledger_record(support::aws::REGION, &open, &change_set.name)
        .await
        .expect("a ledger record");
    assert_eq!(record["status"], "blocked");
    assert!(
        record["verdict_reasons"]
            .as_str()
            .unwrap()
            .contains("opens tcp 22 to 0.0.0.0/0"),
        "{record}"
    );

    let waived = planned.stack(&worker).verdict.clone().unwrap();
    assert_eq!(waived.level, Level::Ok, "{waived:?}");
    assert_eq!(
        waived.findings[0].waived.as_deref(),
        Some("break-glass role, reviewed by security")
    );
    let worker_record = world
        .ledger_record(
            support::aws::REGION,
            &worker,
            &planned.stack(&worker).change_set.as_ref().unwrap().name,
        )
        .await
        .unwrap();
    assert_eq!(worker_record["status"], "pending");
    assert!(
        worker_record["waivers"]
            .as_str()
            .unwrap()
            .contains("break-glass role")
    );

    let cards = world.received(&queue, 3).await;
    let blocked_card = card_of(&cards, &open);
    assert!(
        support::amazon_q::buttons(blocked_card).is_empty(),
        "no Execute for a blocked change set"
    );
    assert!(description(blocked_card).starts_with(":no_entry: *Blocked:* ingress-open-to-world"));
    let worker_card = card_of(&cards, &worker);
    assert_eq!(support::amazon_q::buttons(worker_card).len(), 2);
    assert!(
        description(worker_card).contains(":memo: *Waived:* iam-broadened"),
        "{}",
        description(worker_card)
    );
    let parent = cards
        .iter()
        .find(|card| card["metadata"]["eventType"] == "cfn-chatops.plan")
        .unwrap();
    assert!(
        parent["metadata"]["summary"]
            .as_str()
            .unwrap()
            .contains("1 blocked")
    );
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 57);
    let latest = &comments.last().unwrap().content;
    assert!(
        latest.contains("⛔ **Blocked:** ingress-open-to-world"),
        "{latest}"
    );
    assert!(latest.contains("**waived:** iam-broadened"), "{latest}");
}

/// CloudFormation's pre-deployment validation and Hooks, which moto has neither of: their
/// documented answer shapes (synthetic fixtures) come through the recording proxy, one stack
/// per run so each answer reaches the stack it is meant for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudformations_validations_and_hooks_decide_the_verdict_verbatim() {
    use support::proxy::{Fault, query_answer};

    let mut world = World::start().await;
    let queue = world.with_topic().await;
    let (checked, hooked, early) = (unique("checked"), unique("hooked"), unique("early"));
    // Each commit adds one stack (the last named), so each run plans just that one.
    let add_stack = |stacks: &[&str]| -> String {
        let file = |stack: &str| stack.split('-').next().unwrap().to_owned();
        let entries: Vec<String> = stacks
            .iter()
            .map(|stack| {
                format!(
                    "  - name: {stack}\n    template: stacks/{}.yaml\n",
                    file(stack)
                )
            })
            .collect();
        let last = file(stacks.last().unwrap());
        world.commit(
            &[
                (
                    ".cfn-chatops.yml",
                    Some(&format!("stacks:\n{}", entries.concat())),
                ),
                (
                    &format!("stacks/{last}.yaml"),
                    Some(&support::world::template(&last, 1)),
                ),
            ],
            &format!("Add the {last} stack"),
        )
    };
    let answer = |operation: &str, file: &str| Fault {
        operation: operation.into(),
        times: 1,
        status: 200,
        body: std::fs::read_to_string(format!(
            "{}/tests/fixtures/cloudformation/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
        when_body_contains: vec![],
    };
    // DescribeChangeSet's answer for a change set CloudFormation failed with this reason.
    let failed_answer = |reason: &str| Fault {
        operation: "DescribeChangeSet".into(),
        times: 2,
        status: 200,
        body: query_answer(
            "DescribeChangeSet",
            &format!(
                "<Status>FAILED</Status><ExecutionStatus>UNAVAILABLE</ExecutionStatus><StatusReason>{reason}</StatusReason><Changes/>"
            ),
        ),
        when_body_contains: vec![],
    };

    // A validation in FAIL mode blocks; one in WARN mode is a reason to review.
    let commit = add_stack(&[&checked]);
    world.recorder.inject(answer(
        "DescribeEvents",
        "synthetic-describe-events-validation-failed.xml",
    ));
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let plan = planned.stack(&checked);
    assert_eq!(plan.classification.as_str(), "blocked", "{plan:?}");
    let verdict = plan.verdict.as_ref().unwrap();
    let found: Vec<(&str, Level, Source, &str)> = verdict
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.level, f.source, f.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "PROPERTY_VALIDATION",
                Level::Blocked,
                Source::Cloudformation,
                "#/SecurityGroupIngress/0/FromPort: expected type: Integer, found: String [at /Resources/Sg/Properties/SecurityGroupIngress/0/FromPort]"
            ),
            (
                "BUCKET_EMPTINESS_VALIDATION",
                Level::Review,
                Source::Cloudformation,
                "Bucket logs-example is not empty and will fail to delete"
            ),
        ]
    );
    assert_eq!(
        verdict.unchecked,
        ["CloudFormation Hook results: not offered by this endpoint"],
        "moto has no ListHookResults: not checked, not failed"
    );
    assert!(world.our_change_sets(&checked).await.is_empty());
    let events = world.recorder.requests("DescribeEvents");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].body["ChangeSetName"].as_str(),
        plan.change_set.as_ref().unwrap().arn.as_deref(),
        "read by the change set's ARN"
    );
    let cards = world.received(&queue, 2).await;
    let card = card_of(&cards, &checked);
    assert!(support::amazon_q::buttons(card).is_empty());
    assert!(
        description(card).starts_with(
            ":no_entry: *Blocked:* PROPERTY_VALIDATION (cloudformation) — Sg (AWS::EC2::SecurityGroup): #/SecurityGroupIngress/0/FromPort: expected type: Integer, found: String"
        ),
        "{}",
        description(card)
    );

    // A failed Hook in WARN mode: review, Execute stays.
    let commit = add_stack(&[&checked, &hooked]);
    world.recorder.inject(answer(
        "ListHookResults",
        "synthetic-list-hook-results-warn.xml",
    ));
    let planned = world.plan(&["--after", &commit]).await;
    let plan = planned.stack(&hooked);
    assert_eq!(plan.classification.as_str(), "changes", "{plan:?}");
    let verdict = plan.verdict.as_ref().unwrap();
    assert_eq!(verdict.level, Level::Review);
    assert_eq!(
        verdict.findings.len(),
        1,
        "the succeeded Hook is no finding"
    );
    assert_eq!(
        verdict.findings[0].rule,
        "Example::Security::EncryptionHook"
    );
    assert_eq!(
        verdict.findings[0].message,
        "Bucket Data must set BucketEncryption with aws:kms"
    );
    assert!(plan.change_set.as_ref().unwrap().executable);
    let hooks = world.recorder.requests("ListHookResults");
    let last = hooks.last().unwrap();
    assert_eq!(last.body["TargetType"], "CHANGE_SET");
    assert_eq!(
        last.body["TargetId"].as_str(),
        plan.change_set.as_ref().unwrap().arn.as_deref()
    );

    // A change set that CloudFormation's validation failed: blocked with the validation's
    // own words, not only "failed".
    let commit = add_stack(&[&checked, &hooked, &early]);
    world.recorder.inject(failed_answer(
        "The following hook(s)/validation failed: [AWS::EarlyValidation::PropertyValidation]. To troubleshoot Early Validation errors, use the DescribeEvents API for detailed failure information.",
    ));
    world.recorder.inject(answer(
        "DescribeEvents",
        "synthetic-describe-events-validation-failed.xml",
    ));
    let planned = world.plan(&["--after", &commit]).await;
    let plan = planned.stack(&early);
    assert_eq!(plan.classification.as_str(), "blocked", "{plan:?}");
    let verdict = plan.verdict.as_ref().unwrap();
    assert_eq!(
        verdict.findings[0].summary(),
        "PROPERTY_VALIDATION (cloudformation) — Sg (AWS::EC2::SecurityGroup): #/SecurityGroupIngress/0/FromPort: expected type: Integer, found: String [at /Resources/Sg/Properties/SecurityGroupIngress/0/FromPort]"
    );
    assert!(!verdict.findings[0].waivable(), "CloudFormation refused it");
    assert!(world.our_change_sets(&early).await.is_empty(), "deleted");

    // A change set a Hook in FAIL mode failed: blocked with the Hook's words; a failure that
    // neither check explains keeps CloudFormation's reason.
    let (hook_failed, other_failed) = (unique("hookfail"), unique("otherfail"));
    let commit = add_stack(&[&checked, &hooked, &early, &hook_failed]);
    world.recorder.inject(failed_answer(
        "The following hook(s) failed: [Example::Security::EncryptionHook]",
    ));
    world.recorder.inject(Fault {
        operation: "ListHookResults".into(),
        times: 1,
        status: 200,
        body: query_answer(
            "ListHookResults",
            "<HookResults><member><FailureMode>FAIL</FailureMode><TypeName>Example::Security::EncryptionHook</TypeName><Status>HOOK_COMPLETE_FAILED</Status><HookStatusReason>Bucket Data must set BucketEncryption</HookStatusReason></member></HookResults>",
        ),
        when_body_contains: vec![],
    });
    let planned = world.plan(&["--after", &commit]).await;
    let plan = planned.stack(&hook_failed);
    assert_eq!(plan.classification.as_str(), "blocked", "{plan:?}");
    assert_eq!(
        plan.verdict.as_ref().unwrap().findings[0].summary(),
        "Example::Security::EncryptionHook (hook): Bucket Data must set BucketEncryption"
    );

    let commit = add_stack(&[&checked, &hooked, &early, &hook_failed, &other_failed]);
    world.recorder.inject(failed_answer(
        "Template format error: Unresolved resource dependencies [Nope]",
    ));
    let planned = world.plan(&["--after", &commit]).await;
    let plan = planned.stack(&other_failed);
    assert_eq!(plan.classification.as_str(), "failed", "{plan:?}");
    assert_eq!(
        plan.reason.as_deref(),
        Some("Template format error: Unresolved resource dependencies [Nope]")
    );
    assert_eq!(
        plan.verdict, None,
        "no verdict on what CloudFormation failed otherwise"
    );
}

/// The team's Guard rules (a synthetic rule file, written here), evaluated in-process on each
/// stack's template with its parameters: blocking by default, for review where a stack says
/// so, passing where the stack's parameter value complies; a rule file that does not parse
/// fails the stacks that use it, naming the file and line, before anything is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_rules_block_or_ask_for_review_and_a_broken_rule_file_fails_the_stack() {
    let world = World::start().await;
    let (strict, lenient, compliant) = (unique("strict"), unique("lenient"), unique("compliant"));
    let config = format!(
        "stacks:\n  - name: {strict}\n    template: stacks/bucket.yaml\n  - name: {lenient}\n    template: stacks/bucket.yaml\n    policies: {{enforcement: review}}\n  - name: {compliant}\n    template: stacks/bucket.yaml\n    parameters: {{Versioning: Enabled}}\npolicies:\n  rules: [policies/*.guard]\n"
    );
    let bucket = |description: &str| {
        format!(
            "Description: {description}\nParameters:\n  Versioning: {{Type: String, Default: Suspended}}\nResources:\n  Data:\n    Type: AWS::S3::Bucket\n    Properties:\n      VersioningConfiguration: {{Status: !Ref Versioning}}\n"
        )
    };
    let rules = "let buckets = Resources.*[ Type == 'AWS::S3::Bucket' ]\n\nrule bucket_versioning when %buckets !empty {\n    %buckets.Properties.VersioningConfiguration.Status == 'Enabled'\n    <<Buckets keep\n      old versions>>\n}\n";
    let commit = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            ("stacks/bucket.yaml", Some(&bucket("v1"))),
            ("policies/s3.guard", Some(rules)),
        ],
        "Buckets under Guard",
    );
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);

    let blocked = planned.stack(&strict);
    assert_eq!(blocked.classification.as_str(), "blocked", "{blocked:?}");
    let verdict = blocked.verdict.as_ref().unwrap();
    assert_eq!(verdict.level, Level::Blocked);
    let guard = &verdict.findings[0];
    assert_eq!(
        (
            guard.rule.as_str(),
            guard.resource.as_deref(),
            guard.message.as_str(),
            guard.source
        ),
        (
            "bucket_versioning",
            Some("Data (AWS::S3::Bucket)"),
            "Buckets keep old versions",
            Source::Guard
        )
    );
    assert!(
        verdict.rules_checked >= 8,
        "the built-in rules and the file's one rule"
    );
    assert!(world.our_change_sets(&strict).await.is_empty());

    let review = planned.stack(&lenient);
    assert_eq!(review.classification.as_str(), "changes");
    assert_eq!(review.verdict.as_ref().unwrap().level, Level::Review);
    assert_eq!(
        review.verdict.as_ref().unwrap().findings[0].rule,
        "bucket_versioning"
    );

    let ok = planned.stack(&compliant).verdict.clone().unwrap();
    assert_eq!(
        (ok.level, ok.findings.len()),
        (Level::Ok, 0),
        "Enabled, from the stack's parameters: {ok:?}"
    );

    // A rule file that does not parse: every stack that uses it fails, naming file and line.
    let creates_before = world.requests("CreateChangeSet").len();
    let broken = "rule tags_present {\n    Resources.*.Properties.Tags exists\n    Resources.*.Properties.Tags[*] {\n";
    let commit = world.commit(
        &[
            ("stacks/bucket.yaml", Some(&bucket("v2"))),
            ("policies/tags.guard", Some(broken)),
        ],
        "A broken rule file",
    );
    let planned = world.plan(&["--after", &commit]).await;
    assert_eq!(planned.code, Some(1), "a failed stack: {}", planned.stderr);
    for stack in [&strict, &lenient, &compliant] {
        let plan = planned.stack(stack);
        assert_eq!(plan.classification.as_str(), "failed", "{plan:?}");
        let reason = plan.reason.as_deref().unwrap();
        assert!(
            reason.starts_with("policies/tags.guard:")
                && reason.contains("the Guard rules do not parse"),
            "{reason}"
        );
    }
    assert_eq!(
        world.requests("CreateChangeSet").len(),
        creates_before,
        "nothing was created"
    );
}

/// What a change set changes from is the template CloudFormation has deployed, not the one
/// at the push's base: a risk blocked on one push is still a risk on the next push that keeps
/// it, even though the base commit already had it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_risk_stays_blocked_on_the_next_push_that_keeps_it() {
    let world = World::start().await;
    let stack = unique("role");
    let config = format!(
        "risks: {{permissions: block}}\nstacks:\n  - name: {stack}\n    template: role.yaml\n"
    );
    let role = |description: &str, action: &str, resource: &str| {
        format!(
            "Description: {description}\nResources:\n  WorkerRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {{Service: lambda.amazonaws.com}}\n            Action: sts:AssumeRole\n      Policies:\n        - PolicyName: work\n          PolicyDocument:\n            Statement:\n              - Effect: Allow\n                Action: {action}\n                Resource: '{resource}'\n"
        )
    };
    let deployed = world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            (
                "role.yaml",
                Some(&role("v1", "s3:GetObject", "arn:aws:s3:::reports/*")),
            ),
        ],
        "A narrow role",
    );
    let planned = world.plan(&["--after", &deployed]).await;
    assert_eq!(
        planned.stack(&stack).verdict.as_ref().unwrap().level,
        Level::Ok,
        "{:?}",
        planned.stack(&stack)
    );
    world.execute(&planned, &stack);

    let broadened = world.commit(&[("role.yaml", Some(&role("v2", "s3:*", "*")))], "s3:*");
    let planned = world.plan(&["--after", &broadened]).await;
    assert_eq!(planned.stack(&stack).classification.as_str(), "blocked");

    // The next push keeps s3:* and changes only the description: the base commit had s3:*
    // already, the deployed stack never did.
    let kept = world.commit(&[("role.yaml", Some(&role("v3", "s3:*", "*")))], "Reword");
    let planned = world.plan(&["--after", &kept]).await;
    let plan = planned.stack(&stack);
    assert_eq!(plan.classification.as_str(), "blocked", "{plan:?}");
    assert_eq!(
        plan.verdict.as_ref().unwrap().findings[0].message,
        "gains s3:* on *"
    );
    let reads = world.requests("GetTemplate");
    assert!(
        reads
            .iter()
            .any(|body| body["StackName"] == stack.as_str() && body["TemplateStage"] == "Original"),
        "{reads:?}"
    );
}
