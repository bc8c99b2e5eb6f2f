//! The Backlog mirror and the outcome handler end to end: real git repositories, the real
//! binary, moto behind a recording proxy, the Backlog stand-in, and the Amazon Q stand-in
//! pressing buttons with the real AWS CLI.

mod support;

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use cfn_chatops::model::delivery::CommentStatus;
use serde_json::{Value, json};

use support::backlog::{
    API_KEY, Backlog, Outage, PROJECT, PullRequest, REPOSITORY, eventually, git_push,
};
use support::bot::{self, Bot};
use support::events::{cloudtrail_event, stack_status_event};
use support::world::{World, template};
use support::{aws, git, pull_request_event, unique};

fn merged(number: u64, base: &str, merge_commit: &str) -> PullRequest {
    PullRequest {
        number,
        base: base.into(),
        branch: format!("feature/{number}"),
        status: 3,
        merge_commit: Some(merge_commit.into()),
        summary: format!("Pull request {number}"),
        branch_commit: None,
    }
}

/// Merges a feature branch adding `stack`'s template into main with a merge commit.
fn merge_stack(world: &World, stack: &str, message: &str) -> String {
    let dir = world.repo.path();
    let branch = format!("feature/{stack}");
    git(dir, &["checkout", "-q", "-b", &branch, "main"]);
    world.commit(
        &[(&format!("{stack}.yaml"), Some(&template(stack, 1)))],
        &format!("Add {stack}"),
    );
    git(dir, &["checkout", "-q", "main"]);
    git(dir, &["merge", "-q", "--no-ff", &branch, "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn project_args() -> Vec<&'static str> {
    vec!["--project", PROJECT, "--repository", REPOSITORY]
}

/// Plans a merge commit the way a type-12 push of it is planned (changes since its first
/// parent), with the project and repository, and `extra` arguments.
async fn plan_merge(world: &World, merge: &str, extra: &[&str]) -> support::world::Planned {
    let args = [
        project_args(),
        vec!["--after", merge, "--first-revision", merge],
        extra.to_vec(),
    ]
    .concat();
    world.plan(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_arriving_by_both_webhooks_is_planned_once_and_commented_on_its_pull_request() {
    let (world, queue, backlog) = World::with_backlog("markdown").await;
    let base = git(world.repo.path(), &["rev-parse", "HEAD"]);
    let (first_stack, second_stack) = (unique("alarms"), unique("queues"));
    let first = merge_stack(&world, &first_stack, "Merge branch 'feature' into main");
    let second = merge_stack(&world, &second_stack, "Merge branch 'other' into main");
    backlog.pull_request(PROJECT, REPOSITORY, merged(56, "develop", &second));
    backlog.pull_request(PROJECT, REPOSITORY, merged(57, "main", &first));
    backlog.pull_request(PROJECT, REPOSITORY, merged(58, "main", &second));

    let env = world.serve_env();
    let bot = Bot::serve(&env);
    const FORM: &str = "application/x-www-form-urlencoded";
    // PR 57: the merge webhook first (it carries the PR), then the push of its merge commit.
    let answer = bot
        .deliver_ok("application/json", pull_request_event(19, 57))
        .await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    let answer = bot
        .deliver_ok(
            FORM,
            git_push("main", &base, &first, "Merge branch 'feature' into main"),
        )
        .await;
    assert_eq!(answer["status"], "duplicate", "{answer}");
    // PR 58: the push first (no PR in it: the plan finds it), then the merge webhook.
    let answer = bot
        .deliver_ok(
            FORM,
            git_push("main", &first, &second, "Merge branch 'other' into main"),
        )
        .await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    let answer = bot
        .deliver_ok("application/json", pull_request_event(19, 58))
        .await;
    assert_eq!(answer["status"], "duplicate", "{answer}");
    // A merge into another branch, a PR Backlog does not know, and Backlog down: nothing planned.
    let answer = bot
        .deliver_ok("application/json", pull_request_event(19, 56))
        .await;
    assert_eq!(answer["status"], "ignored", "{answer}");
    assert_eq!(
        answer["reason"],
        "branch develop is not the target branch main"
    );
    let (status, answer) = bot
        .deliver("application/json", pull_request_event(19, 99))
        .await;
    assert_eq!(
        (status, &answer["reason"]),
        (502, &json!("could not read pull request #99 from Backlog"))
    );
    backlog.set_down(true);
    let (status, answer) = bot
        .deliver("application/json", pull_request_event(19, 57))
        .await;
    assert_eq!(status, 503, "{answer}");
    backlog.set_down(false);

    let comment_57 = eventually("the comment on PR 57", || {
        backlog.bot_comments(PROJECT, REPOSITORY, 57).pop()
    })
    .await;
    let comment_58 = eventually("the comment on PR 58", || {
        backlog.bot_comments(PROJECT, REPOSITORY, 58).pop()
    })
    .await;
    assert_eq!(
        bot.log_entries("local plan started").len(),
        2,
        "one plan per merge"
    );
    assert!(backlog.bot_comments(PROJECT, REPOSITORY, 56).is_empty());

    let text = &comment_57.content;
    assert!(
        text.starts_with(&format!(
            "### CloudFormation plan · {PROJECT}/{REPOSITORY} · commit {}",
            &first[..7]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("- **{first_stack}** (us-east-1): changes `+1 ~0 -0` · CREATE change set `cfn-chatops-{first}`")),
        "{text}"
    );
    assert!(!text.contains(&second_stack), "{text}");
    assert!(text.contains("Slack: 2 card(s) delivered."), "{text}");
    assert!(text.contains("1 change set(s) wait for review"), "{text}");
    assert!(
        text.ends_with(&format!("<sub>cfn-chatops:plan:{first}</sub>")),
        "{text}"
    );
    assert!(comment_58.content.contains(&second_stack));

    // The intake read PR 57 over REST; the plan of the push found PR 58 by listing merged ones.
    let received = backlog.received();
    assert!(received.iter().all(|r| r.authorized), "{received:#?}");
    assert!(received.iter().any(|r| r.method == "GET"
        && r.path
            == format!(
                "/api/v2/projects/{PROJECT}/git/repositories/{REPOSITORY}/pullRequests/57"
            )));
    assert!(received.iter().any(|r| r.method == "GET"
        && r.path.ends_with("/pullRequests")
        && r.query.contains(&("statusId[]".into(), "3".into()))));

    // Both threads on Slack, one per pull request.
    let cards = world.received(&queue, 4).await;
    let threads: std::collections::BTreeSet<_> = cards
        .iter()
        .map(|card| card["metadata"]["threadId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        threads.into_iter().collect::<Vec<_>>(),
        [
            format!("cfn-chatops/{PROJECT}/{REPOSITORY}/pr-57"),
            format!("cfn-chatops/{PROJECT}/{REPOSITORY}/pr-58"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_updates_the_bots_comment_in_backlog_notation_found_by_the_merge_message() {
    let (world, _queue, backlog) = World::with_backlog("backlog").await;
    let stack = unique("alarms");
    let merge = merge_stack(&world, &stack, "Merge pull request #58 from feature/alarms");
    backlog.pull_request(PROJECT, REPOSITORY, merged(58, "main", &merge));
    // Someone quoting the bot's marker: their comment is never edited.
    backlog.add_comment(
        PROJECT,
        REPOSITORY,
        58,
        1,
        &format!("see cfn-chatops:plan:{merge}"),
    );
    let planned = plan_merge(&world, &merge, &[]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.pr, Some(58));
    let comment = planned.report.comment.as_ref().unwrap();
    assert_eq!(comment.status, CommentStatus::Added, "{comment:?}");
    let again = plan_merge(&world, &merge, &[]).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let comment = again.report.comment.as_ref().unwrap();
    assert_eq!(comment.status, CommentStatus::Updated, "{comment:?}");

    let ours = backlog.bot_comments(PROJECT, REPOSITORY, 58);
    assert_eq!(ours.len(), 1, "{ours:#?}");
    assert_eq!(backlog.comments(PROJECT, REPOSITORY, 58).len(), 2);
    let text = &ours[0].content;
    assert!(
        text.starts_with(&format!(
            "** CloudFormation plan · {PROJECT}/{REPOSITORY} · commit {}",
            &merge[..7]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "- ''{stack}'' (us-east-1): changes +1 ~0 -0 · CREATE change set cfn-chatops-{merge}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "[[{}>{}/git/{PROJECT}/{REPOSITORY}/commit/{merge}]]",
            &merge[..7],
            backlog.url
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("\ncfn-chatops:plan:{merge}")),
        "{text}"
    );

    let received = backlog.received();
    assert!(
        !received.iter().any(|r| r.path.ends_with("/pullRequests")),
        "the merge message named the PR: no listing"
    );
    assert_eq!(
        received
            .iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| r.path.clone())
            .collect::<Vec<_>>(),
        [format!(
            "/api/v2/projects/{PROJECT}/git/repositories/{REPOSITORY}/pullRequests/58/comments/{}",
            ours[0].id
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_pushes_rate_limits_and_a_backlog_outage_never_lose_the_plan_or_slack() {
    let (mut world, queue, backlog) = World::with_backlog("markdown").await;
    let base = git(world.repo.path(), &["rev-parse", "HEAD"]);

    // A direct push (no merged PR carries it): Slack only, no comment, exit 0.
    let direct = unique("direct");
    let pushed = world.commit_stacks(&[&direct], "Hotfix straight to main");
    let other = world.commit(&[("README.md", Some("x\n"))], "Unrelated");
    backlog.pull_request(PROJECT, REPOSITORY, merged(60, "main", &other));
    let planned = world
        .plan(&[project_args(), vec!["--before", &base, "--after", &pushed]].concat())
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.pr, None);
    assert_eq!(
        planned.report.comment.as_ref().unwrap().status,
        CommentStatus::Skipped
    );
    assert!(planned.report.cards.iter().all(|n| n.delivered));
    world.received(&queue, 2).await;

    // Rate limited on the comment: retried after the reset time, one comment. Found among 150
    // older merged PRs listed oldest first: read from the end.
    let limited = unique("limited");
    let merge = merge_stack(&world, &limited, "Merge branch 'limited'");
    for number in 1000..1150 {
        backlog.pull_request(
            PROJECT,
            REPOSITORY,
            merged(number, "main", &format!("{number:040x}")),
        );
    }
    backlog.pull_request(PROJECT, REPOSITORY, merged(2000, "main", &merge));
    backlog.list_oldest_first(true);
    backlog.fail_next(Outage {
        method: Some(reqwest::Method::POST),
        times: 1,
        status: 429,
        reset_in: 2,
    });
    let planned = plan_merge(&world, &merge, &[]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(
        planned.report.comment.as_ref().unwrap().status,
        CommentStatus::Added
    );
    assert_eq!(planned.report.pr, Some(2000));
    assert_eq!(backlog.bot_comments(PROJECT, REPOSITORY, 2000).len(), 1);
    assert!(
        backlog
            .received()
            .iter()
            .any(|r| r.path.ends_with("/pullRequests/count"))
    );
    let posts: Vec<_> = backlog
        .received()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(
        posts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 201]
    );
    let reset = posts[0].at_epoch.floor() + 2.0;
    assert!(
        posts[1].at_epoch >= reset,
        "retried at {} before the reset {reset}",
        posts[1].at_epoch
    );
    world.received(&queue, 2).await;

    // Backlog down: the plan still completes and notifies Slack; the missing comment is named
    // in the report, on stderr, and in the exit status.
    let down = unique("down");
    let merge = merge_stack(&world, &down, "Merge branch 'down'");
    backlog.set_down(true);
    let planned = plan_merge(&world, &merge, &["--pr", "62"]).await;
    assert_eq!(planned.code, Some(1), "{}", planned.stderr);
    assert!(planned.report.stacks.iter().all(|s| s.change_set.is_some()));
    assert!(planned.report.cards.iter().all(|n| n.delivered));
    assert_eq!(world.received(&queue, 2).await.len(), 2);
    let comment = planned.report.comment.as_ref().unwrap();
    assert_eq!(comment.status, CommentStatus::Failed);
    assert!(
        planned
            .stderr
            .contains("Backlog comment on PR #62 not delivered: Backlog get project: HTTP 503"),
        "{}",
        planned.stderr
    );

    // A Backlog that refuses the key: the error says what to fix, and the key appears nowhere.
    backlog.set_down(false);
    world.extra_env.push((
        "CFN_CHATOPS_BACKLOG_API_KEY".into(),
        "wrong-key-0123456789".into(),
    ));
    world.extra_env.push(("RUST_LOG".into(), "trace".into()));
    let planned = plan_merge(&world, &merge, &["--pr", "62"]).await;
    assert_eq!(planned.code, Some(1));
    assert!(
        planned
            .stderr
            .contains("HTTP 401: Authentication failure. (code 11)")
            && planned.stderr.contains("credential was refused"),
        "{}",
        planned.stderr
    );
    assert!(!planned.stderr.contains("wrong-key-0123456789"));
    assert!(
        !serde_json::to_string(&planned.report)
            .unwrap()
            .contains("wrong-key")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_can_come_from_secrets_manager_and_never_shows_in_trace_logs() {
    let (mut world, _queue, backlog) = World::with_backlog("markdown").await;
    let stack = unique("secret");
    let merge = merge_stack(&world, &stack, "Merge branch 'secret'");
    backlog.pull_request(PROJECT, REPOSITORY, merged(70, "main", &merge));
    let secrets = aws_sdk_secretsmanager::Client::new(&world.aws);
    let arn = secrets
        .create_secret()
        .name(unique("backlog"))
        .secret_string(json!({"apiKey": API_KEY, "gitPassword": "unused"}).to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    world
        .extra_env
        .retain(|(name, _)| name != "CFN_CHATOPS_BACKLOG_API_KEY");
    world
        .extra_env
        .push(("CFN_CHATOPS_BACKLOG_SECRET_ARN".into(), arn));
    world.extra_env.push(("RUST_LOG".into(), "trace".into()));
    let planned = plan_merge(&world, &merge, &[]).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(
        planned.report.comment.as_ref().unwrap().status,
        CommentStatus::Added
    );
    assert!(backlog.received().iter().all(|r| r.authorized));
    assert!(
        planned.stderr.contains("backlog request"),
        "trace logs were on: {}",
        planned.stderr
    );
    assert!(
        !planned.stderr.contains(API_KEY),
        "the API key leaked into the logs"
    );
}

/// `cfn-chatops outcome --event FILE`: exit code, the JSON it printed, stderr.
async fn outcome(world: &World, event: &Value) -> (Option<i32>, Value, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), event.to_string()).unwrap();
    let mut env = aws::env(&world.recorder.endpoint);
    env.push(("CFN_CHATOPS_LEDGER_TABLE".into(), world.table.clone()));
    env.extend(world.extra_env.iter().cloned());
    let output = tokio::process::Command::from(bot::command(
        &["outcome", "--event", file.path().to_str().unwrap()],
        &env,
    ))
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        output.status.code(),
        printed,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The bot's comments about events (not the plan's).
fn outcome_comments(backlog: &Backlog) -> Vec<support::backlog::Comment> {
    backlog
        .bot_comments(PROJECT, REPOSITORY, 57)
        .into_iter()
        .filter(|comment| comment.content.contains("cfn-chatops:event:"))
        .collect()
}

async fn event_item(
    world: &World,
    id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    aws::ledger_items(&world.aws, &world.table)
        .await
        .into_iter()
        .find(|item| item.get("pk") == Some(&AttributeValue::S(format!("event#{id}"))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_and_discard_from_slack_come_back_as_outcomes_on_the_pull_request_and_thread() {
    let (world, queue, backlog) = World::with_backlog("markdown").await;
    let (executed, discarded) = (unique("exec"), unique("disc"));
    let base = git(world.repo.path(), &["rev-parse", "HEAD"]);
    let head = world.commit_stacks(&[&executed, &discarded], "Two stacks");
    backlog.pull_request(PROJECT, REPOSITORY, merged(57, "main", &head));
    let planned = world
        .plan(
            &[
                project_args(),
                vec!["--before", &base, "--after", &head, "--pr", "57"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let cards = world.received(&queue, 3).await;
    let button = |stack: &str, text: &str| {
        let card = cards
            .iter()
            .find(|c| c["metadata"]["additionalContext"]["StackName"] == stack)
            .unwrap();
        support::amazon_q::buttons(card)
            .into_iter()
            .find(|b| b.text == text)
            .unwrap()
    };

    // Execute through the Amazon Q stand-in (the real AWS CLI), then the events it causes.
    let execute = button(&executed, "Execute");
    let clicked = SystemTime::now();
    support::amazon_q::click(&execute);
    let started = cloudtrail_event(&unique("ct"), &execute.command, "U0123ABC", clicked);
    // SNS down: the handler fails (EventBridge retries); the comment it made is not repeated.
    world.recorder.inject(support::proxy::Fault {
        operation: "Publish".into(),
        times: 5,
        status: 500,
        body: "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>SNS is down</Message></Error><RequestId>x</RequestId></ErrorResponse>".into(),
        when_body_contains: vec![],
    });
    let (code, _, stderr) = outcome(&world, &started).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Slack follow-up: SNS Publish"), "{stderr}");
    assert_eq!(outcome_comments(&backlog).len(), 1);
    let (code, printed, stderr) = outcome(&world, &started).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(printed["status"], "done", "{printed}");
    assert_eq!(printed["outcome"]["kind"], "execution_started");
    assert_eq!(outcome_comments(&backlog).len(), 1);

    let finished_at = clicked + Duration::from_secs(42);
    let status_id = unique("status");
    let finished = stack_status_event(
        &world.cloudformation().await,
        &status_id,
        &executed,
        finished_at,
    )
    .await;
    assert_eq!(
        finished["detail"]["status-details"]["status"],
        "CREATE_COMPLETE"
    );
    let (code, printed, stderr) = outcome(&world, &finished).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(printed["outcome"]["kind"], "executed", "{printed}");
    assert_eq!(printed["outcome"]["duration_seconds"], 42);

    let comments = outcome_comments(&backlog);
    let texts: Vec<&str> = comments.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[0].starts_with(&format!(
            "### ▶️ {executed} (us-east-1): execution started by Slack user U0123ABC"
        )),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with(&format!(
            "### ✅ {executed} (us-east-1): deployed (CREATE\\_COMPLETE) in 42 s"
        )),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains(&format!(
        "from commit `{}`, executed by Slack user U0123ABC",
        &head[..7]
    )));

    let record = world
        .ledger_record(aws::REGION, &executed, &format!("cfn-chatops-{head}"))
        .await
        .unwrap();
    assert_eq!(record["status"], "executed");
    assert_eq!(record["stack_status"], "CREATE_COMPLETE");
    assert_eq!(record["duration_seconds"], "42");
    assert!(record["started_by"].as_str().unwrap().contains("U0123ABC"));

    // Follow-ups in the plan's thread, without buttons, the Slack user mentioned.
    let follow_ups = world.received(&queue, 2).await;
    assert_eq!(follow_ups.len(), 2);
    for card in &follow_ups {
        assert_eq!(
            card["metadata"]["threadId"],
            format!("cfn-chatops/{PROJECT}/{REPOSITORY}/pr-57")
        );
        assert_eq!(card["metadata"]["enableCustomActions"], false);
        assert!(support::amazon_q::buttons(card).is_empty());
    }
    assert!(follow_ups.iter().any(|c| {
        c["content"]["title"]
            .as_str()
            .unwrap()
            .contains("execution started by <@U0123ABC>")
    }));

    // At least once: the same event again changes nothing.
    let publishes = world.recorder.requests("Publish").len();
    let (code, printed, _) = outcome(&world, &finished).await;
    assert_eq!(code, Some(0));
    assert_eq!(printed["status"], "duplicate");
    assert_eq!(outcome_comments(&backlog).len(), 2);
    assert_eq!(world.recorder.requests("Publish").len(), publishes);

    // Discard while Backlog is down: the handler fails so EventBridge retries, Slack got its
    // follow-up; the retry comments once and does not publish again.
    let discard = button(&discarded, "Discard");
    support::amazon_q::click(&discard);
    let discard_id = unique("ct");
    let discarded_event =
        cloudtrail_event(&discard_id, &discard.command, "U0456DEF", SystemTime::now());
    backlog.set_down(true);
    let (code, _, stderr) = outcome(&world, &discarded_event).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Backlog comment"), "{stderr}");
    let item = event_item(&world, &discard_id).await.unwrap();
    assert_eq!(
        item["state"],
        AttributeValue::S("processing".into()),
        "{item:?}\n{stderr}"
    );
    assert_eq!(outcome_comments(&backlog).len(), 2);
    let publishes = world.recorder.requests("Publish").len();
    backlog.set_down(false);
    let (code, printed, stderr) = outcome(&world, &discarded_event).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(printed["outcome"]["kind"], "discarded", "{printed}");
    assert_eq!(
        world.recorder.requests("Publish").len(),
        publishes,
        "Slack was done already"
    );
    let comments = outcome_comments(&backlog);
    assert_eq!(comments.len(), 3);
    assert!(comments[2].content.contains(&format!(
        "{discarded} (us-east-1): change set discarded by Slack user U0456DEF"
    )));
    let item = event_item(&world, &discard_id).await.unwrap();
    assert_eq!(item["state"], AttributeValue::S("done".into()));
    let record = world
        .ledger_record(aws::REGION, &discarded, &format!("cfn-chatops-{head}"))
        .await
        .unwrap();
    assert_eq!(record["status"], "discarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrelated_and_broken_events_change_nothing_and_the_events_function_runs_on_lambda() {
    let (world, _queue, backlog) = World::with_backlog("markdown").await;
    let before = aws::ledger_items(&world.aws, &world.table).await.len();

    let unrelated = json!({"version": "0", "id": "u-1", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "1", "time": "2026-03-04T06:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}});
    let (code, printed, _) = outcome(&world, &unrelated).await;
    assert_eq!(code, Some(0));
    assert_eq!(
        printed,
        json!({"status": "ignored", "reason": "source aws.ec2"})
    );

    // A stack this bot never planned: recorded as seen (so a redelivery is cheap), no comment.
    let foreign = json!({"version": "0", "id": unique("foreign"), "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation", "account": "1", "time": "2026-03-04T06:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"stack-id": "arn:aws:cloudformation:us-east-1:1:stack/not-ours/1",
        "status-details": {"status": "UPDATE_COMPLETE", "status-reason": ""}}});
    let (code, printed, _) = outcome(&world, &foreign).await;
    assert_eq!(code, Some(0));
    assert_eq!(printed["status"], "ignored");
    assert!(
        printed["reason"]
            .as_str()
            .unwrap()
            .contains("no change set of ours")
    );

    let mut broken = foreign.clone();
    broken["id"] = json!("broken-1");
    broken["detail"].as_object_mut().unwrap().remove("stack-id");
    let (code, _, stderr) = outcome(&world, &broken).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("detail"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(event_item(&world, "broken-1").await.is_none());
    // An id longer than the ledger can key on: unreadable (exit 2), one line, the id clipped.
    let mut long = foreign.clone();
    let id = format!("long-{}", "x".repeat(3_000));
    long["id"] = json!(id);
    let (code, _, stderr) = outcome(&world, &long).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("id: 3005 bytes, over the 1000 the ledger can key on"),
        "{stderr}"
    );
    assert!(stderr.len() < 300, "the id is clipped: {stderr}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "{not json").unwrap();
    let output = bot::command(
        &["outcome", "--event", file.path().to_str().unwrap()],
        &aws::env(&world.recorder.endpoint),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not JSON"));
    // Only the foreign event's record was written.
    assert_eq!(
        aws::ledger_items(&world.aws, &world.table).await.len(),
        before + 1
    );
    assert!(backlog.received().is_empty());

    // The events function on Lambda: handled events answer, broken ones fail (to be retried
    // and land in the dead-letter queue).
    let mut api = support::lambda_api::LambdaApi::start().await;
    let mut env = aws::env(&world.recorder.endpoint);
    env.extend(api.env());
    env.extend(world.extra_env.iter().cloned());
    env.extend([
        ("CFN_CHATOPS_LEDGER_TABLE".into(), world.table.clone()),
        ("CFN_CHATOPS_LAMBDA".into(), "events".into()),
    ]);
    let _lambda = Bot::lambda(&env);
    let (kind, answer) = api.invoke(unrelated).await;
    assert_eq!(kind, "response", "{answer}");
    assert_eq!(answer["status"], "ignored");
    let (kind, answer) = api.invoke(foreign).await;
    assert_eq!(kind, "response", "{answer}");
    assert_eq!(answer["status"], "duplicate");
    let (kind, answer) = api.invoke(broken).await;
    assert_eq!(kind, "error", "{answer}");
    assert!(answer.to_string().contains("detail"), "{answer}");
}
