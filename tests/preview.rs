//! Previews of open pull requests end to end: real git repositories, the real binary (`serve`
//! with the local runner, and `plan --preview-into`), moto behind a recording proxy, and the
//! Backlog stand-in.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cfn_chatops::model::report::Classification;
use serde_json::Value;

use support::aws::{self, cli as aws_cli};
use support::backlog::{PROJECT, PullRequest, REPOSITORY, eventually, git_push};
use support::bot::Bot;
use support::proxy::{Fault, query_answer, query_error};
use support::world::{Planned, World, template};
use support::{git, pull_request_event, unique};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const PLAN_TIME: Duration = Duration::from_secs(120);

fn open_pr(number: u64, base: &str, branch: &str, head: &str) -> PullRequest {
    PullRequest {
        number,
        base: base.into(),
        branch: branch.into(),
        status: 1,
        merge_commit: None,
        summary: format!("Pull request {number}"),
        branch_commit: Some(head.into()),
    }
}

/// Commits `files` on `branch` (created from main when new), then goes back to main; the
/// commit.
fn commit_on(world: &World, branch: &str, files: &[(&str, Option<&str>)], message: &str) -> String {
    let dir = world.repo.path();
    let exists = std::process::Command::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success();
    if exists {
        git(dir, &["checkout", "-q", branch]);
    } else {
        git(dir, &["checkout", "-q", "-b", branch, "main"]);
    }
    let commit = world.commit(files, message);
    git(dir, &["checkout", "-q", "main"]);
    commit
}

/// Creates the stack in moto from `body`, as if deployed before.
fn deploy(stack: &str, body: &str) {
    aws_cli(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        stack,
        "--template-body",
        body,
    ]);
}

/// Every change set of ours on any of `stacks`, executable or not.
async fn change_sets_left(world: &World, stacks: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    for stack in stacks {
        left.extend(world.our_change_sets(stack).await);
    }
    left
}

/// Ledger items about change sets (a preview must add none).
async fn change_set_records(world: &World) -> usize {
    aws::ledger_items(&world.aws, &world.table)
        .await
        .iter()
        .filter(|item| {
            matches!(item.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("changeset#"))
        })
        .count()
}

async fn preview(world: &World, pr: &str, branch: &str, head: &str) -> Planned {
    world
        .plan(&[
            "--project",
            PROJECT,
            "--repository",
            REPOSITORY,
            "--branch",
            branch,
            "--pr",
            pr,
            "--preview-into",
            "main",
            "--after",
            head,
        ])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_pull_request_gets_one_preview_comment_edited_on_each_push_then_its_merge_plan() {
    let (world, queue, backlog) = World::with_backlog("markdown").await;
    let (app, fresh) = (unique("app"), unique("fresh"));
    let app_file = format!("{app}.yaml");
    let fresh_file = format!("{fresh}.yaml");
    world.commit(
        &[
            (&app_file, Some(&template(&app, 1))),
            (".cfn-chatops.yml", Some("preview:\n  slack: all\n")),
        ],
        "Add app",
    );
    deploy(&app, &template(&app, 1));
    let head1 = commit_on(
        &world,
        "feature/grow",
        &[
            (&app_file, Some(&template(&app, 2))),
            (&fresh_file, Some(&template(&fresh, 1))),
        ],
        "Grow app, add fresh",
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(61, "main", "feature/grow", &head1),
    );
    let bot = Bot::serve(&world.serve_env());

    // Opened: previewed at the head Backlog names.
    let answer = bot.deliver_ok(JSON, pull_request_event(18, 61)).await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    assert_eq!(
        answer["reason"],
        format!("previewing pull request #61 into main at {}", &head1[..7])
    );
    bot.wait_for_log("local plan finished", PLAN_TIME).await;
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 61);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let text = &comments[0].content;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "### Preview of {}: nothing can be executed from a preview",
            &head1[..7]
        ),
        "the first line says what a preview is not"
    );
    assert!(
        lines[1].starts_with(&format!(
            "CloudFormation preview of {PROJECT}/{REPOSITORY}: the real change set is created after the merge into `main`"
        )) && lines[2].starts_with(&format!(
            "Commit [{}]({}/git/{PROJECT}/{REPOSITORY}/commit/{head1}) on `feature/grow`",
            &head1[..7],
            backlog.url
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "- **{app}** (us-east-1): changes `+1 ~0 -0` · UPDATE preview"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "- **{fresh}** (us-east-1): changes `+1 ~0 -0` · new stack, template validated"
        )),
        "{text}"
    );
    assert!(text.contains("Nothing was deployed, and no change set of this preview was kept."));
    assert!(
        text.ends_with(&format!("<sub>cfn-chatops:preview:pr-61:{head1}</sub>")),
        "{text}"
    );
    // What CloudFormation was asked: a preview change set for the existing stack only, deleted
    // at once; a validation of the new stack's template; nothing recorded, nothing created.
    let creates: Vec<Value> = world.requests("CreateChangeSet");
    assert_eq!(creates.len(), 1, "{creates:#?}");
    assert_eq!(creates[0]["StackName"], app.as_str());
    assert_eq!(
        creates[0]["ChangeSetName"],
        format!("cfn-chatops-preview-pr61-{head1}")
    );
    assert_eq!(creates[0]["ChangeSetType"], "UPDATE");
    let validated = world.requests("ValidateTemplate");
    assert_eq!(validated.len(), 1);
    assert!(
        validated[0]["TemplateBody"]
            .as_str()
            .unwrap()
            .contains(&format!("Description: {fresh}"))
    );
    assert!(change_sets_left(&world, &[&app, &fresh]).await.is_empty());
    assert_eq!(
        world.stack_status(&fresh).await,
        None,
        "no stack was created"
    );
    assert_eq!(change_set_records(&world).await, 0);
    // Slack (`preview.slack: all`): a thread parent and a card per stack, never a button.
    let cards = world.received(&queue, 3).await;
    assert_eq!(cards.len(), 3, "{cards:#?}");
    for card in &cards {
        assert_eq!(card["metadata"]["enableCustomActions"], false, "{card}");
        assert_eq!(
            card["metadata"]["threadId"],
            format!("cfn-chatops/{PROJECT}/{REPOSITORY}/pr-61")
        );
    }
    assert!(
        cards[0]["content"]["title"]
            .as_str()
            .unwrap()
            .starts_with(":mag: CloudFormation preview for INFRA/cfn-templates PR #61")
    );

    // The same head again: nothing to do.
    let answer = bot.deliver_ok(JSON, pull_request_event(18, 61)).await;
    assert_eq!(answer["status"], "ignored", "{answer}");
    assert_eq!(
        answer["reason"],
        format!(
            "a preview of head {} of pull request #61 was dispatched already",
            &head1[..7]
        )
    );

    // A second push: the same comment, edited, names the new head (while Backlog's
    // `branchCommit` still names the old one: the push says which commit it brought).
    let head2 = commit_on(
        &world,
        "feature/grow",
        &[(&app_file, Some(&template(&app, 3)))],
        "Grow app more",
    );
    let answer = bot
        .deliver_ok(
            FORM,
            git_push("feature/grow", &head1, &head2, "Grow app more"),
        )
        .await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    bot.wait_for_logs("local plan finished", 2, PLAN_TIME).await;
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 61);
    assert_eq!(comments.len(), 1, "edited in place: {comments:#?}");
    let text = &comments[0].content;
    assert!(
        text.contains(&format!("cfn-chatops:preview:pr-61:{head2}")),
        "{text}"
    );
    assert!(
        !text.contains(&head1[..7]),
        "nothing of the old head is left: {text}"
    );
    assert!(text.contains("changes `+2 ~0 -0`"), "{text}");
    assert!(change_sets_left(&world, &[&app, &fresh]).await.is_empty());

    // The older head again, a push without a pull request, a pull request into another
    // branch: nothing planned.
    let answer = bot
        .deliver_ok(
            FORM,
            git_push("feature/grow", &head1, &head1, "Grow app, add fresh"),
        )
        .await;
    assert_eq!(answer["status"], "ignored", "{answer}");
    let answer = bot
        .deliver_ok(FORM, git_push("lonely", &head1, &head2, "Alone"))
        .await;
    assert_eq!(
        (answer["status"].as_str(), answer["reason"].as_str()),
        (
            Some("ignored"),
            Some(
                "branch lonely is not the target branch main and has no open pull request into it"
            )
        )
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(62, "develop", "feature/grow", &head2),
    );
    let answer = bot.deliver_ok(JSON, pull_request_event(18, 62)).await;
    assert_eq!(
        answer["reason"],
        "pull request #62 merges into develop, not the target branch main"
    );

    // A pull request that touches no stack: previewed, but no comment.
    let docs = commit_on(
        &world,
        "feature/docs",
        &[("README.md", Some("templates, documented\n"))],
        "Document",
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(63, "main", "feature/docs", &docs),
    );
    let answer = bot.deliver_ok(JSON, pull_request_event(18, 63)).await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    bot.wait_for_logs("local plan finished", 3, PLAN_TIME).await;
    assert!(backlog.bot_comments(PROJECT, REPOSITORY, 63).is_empty());

    // Two quick pushes whose webhooks arrive out of order: the late one, of the older head,
    // is previewed but publishes nothing.
    let head3 = commit_on(
        &world,
        "feature/grow",
        &[(&app_file, Some(&template(&app, 4)))],
        "Grow app to four",
    );
    let head4 = commit_on(
        &world,
        "feature/grow",
        &[(&app_file, Some(&template(&app, 5)))],
        "Grow app to five",
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(61, "main", "feature/grow", &head4),
    );
    for (before, after) in [(&head3, &head4), (&head2, &head3)] {
        let answer = bot
            .deliver_ok(FORM, git_push("feature/grow", before, after, "Grow"))
            .await;
        assert_eq!(answer["status"], "dispatched", "{answer}");
    }
    bot.wait_for_logs("local plan finished", 5, PLAN_TIME).await;
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 61);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .content
            .contains(&format!("cfn-chatops:preview:pr-61:{head4}"))
            && comments[0].content.contains("changes `+4 ~0 -0`"),
        "the newer head's preview stays: {}",
        comments[0].content
    );
    let withheld = format!(
        "preview not published: pull request #61 has a newer head {}: its preview is published, not this one of {}",
        &head4[..7],
        &head3[..7]
    );
    assert!(
        bot.log_lines().iter().any(|line| line.contains(&withheld)),
        "{:#?}",
        bot.log_lines()
    );
    assert!(change_sets_left(&world, &[&app, &fresh]).await.is_empty());

    // The merge: the merge plan as always, naming the preview; the preview comment stays.
    let dir = world.repo.path();
    git(
        dir,
        &[
            "merge",
            "-q",
            "--no-ff",
            "feature/grow",
            "-m",
            "Merge feature/grow",
        ],
    );
    let merge = git(dir, &["rev-parse", "HEAD"]);
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        PullRequest {
            status: 3,
            merge_commit: Some(merge.clone()),
            ..open_pr(61, "main", "feature/grow", &head4)
        },
    );
    let answer = bot.deliver_ok(JSON, pull_request_event(19, 61)).await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    bot.wait_for_logs("local plan finished", 6, PLAN_TIME).await;
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 61);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert!(
        comments[0]
            .content
            .contains(&format!("cfn-chatops:preview:pr-61:{head4}"))
    );
    let plan = &comments[1].content;
    assert!(
        plan.starts_with(&format!(
            "### CloudFormation plan · {PROJECT}/{REPOSITORY} · commit {}",
            &merge[..7]
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "Previewed before the merge at [{}]({}/git/{PROJECT}/{REPOSITORY}/commit/{head4}) (the preview comment on this pull request).\n",
            &head4[..7],
            backlog.url
        )),
        "the merged head is the one previewed: {plan}"
    );
    assert_eq!(
        world.our_change_sets(&app).await,
        [format!("cfn-chatops-{merge}")],
        "the merge plan's change set waits for review"
    );
    assert_eq!(
        change_set_records(&world).await,
        2,
        "the merge plan's records only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_clean_up_after_a_crash_say_busy_and_leave_nothing_when_backlog_is_down() {
    let (world, _queue, backlog) = World::with_backlog("backlog").await;
    let app = unique("app");
    let app_file = format!("{app}.yaml");
    world.commit(&[(&app_file, Some(&template(&app, 1)))], "Add app");
    deploy(&app, &template(&app, 1));
    let head = commit_on(
        &world,
        "feature/x",
        &[(&app_file, Some(&template(&app, 2)))],
        "Grow app",
    );
    backlog.pull_request(PROJECT, REPOSITORY, open_pr(71, "main", "feature/x", &head));
    // Left by crashed previews: one of this very head, one of an older head long ago, and
    // one of another pull request (young, so perhaps in use by a run right now).
    let create = |name: &str| -> String {
        let out = aws_cli(&[
            "cloudformation",
            "create-change-set",
            "--stack-name",
            &app,
            "--change-set-name",
            name,
            "--change-set-type",
            "UPDATE",
            "--template-body",
            &template(&app, 2),
        ]);
        serde_json::from_str::<Value>(&out).unwrap()["Id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let same = format!("cfn-chatops-preview-pr71-{head}");
    let old = format!("cfn-chatops-preview-pr71-{}", "a".repeat(40));
    let theirs = format!("cfn-chatops-preview-pr72-{}", "b".repeat(40));
    // moto dates every change set "now": the listing says when each was made.
    let members: String = [
        (&same, "2099-01-01T00:00:00Z"),
        (&old, "2026-01-01T00:00:00Z"),
        (&theirs, "2099-01-01T00:00:00Z"),
    ]
    .into_iter()
    .map(|(name, created)| {
        let id = create(name);
        format!(
            "<member><StackName>{app}</StackName><ChangeSetId>{id}</ChangeSetId><ChangeSetName>{name}</ChangeSetName><ExecutionStatus>AVAILABLE</ExecutionStatus><Status>CREATE_COMPLETE</Status><CreationTime>{created}</CreationTime></member>"
        )
    })
    .collect();
    world.recorder.inject(Fault {
        operation: "ListChangeSets".into(),
        times: 1,
        status: 200,
        body: query_answer(
            "ListChangeSets",
            &format!("<Summaries>{members}</Summaries>"),
        ),
        when_body_contains: vec![format!("StackName={app}")],
    });

    let planned = preview(&world, "71", "feature/x", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let stack = planned.stack(&app);
    assert_eq!(stack.classification, Classification::Changes);
    for leftover in [&same, &old] {
        assert!(
            stack.notes.contains(&format!(
                "deleted preview change set {leftover}, left behind by an earlier preview"
            )),
            "{:#?}",
            stack.notes
        );
    }
    assert_eq!(
        world.our_change_sets(&app).await,
        std::slice::from_ref(&theirs)
    );
    assert_eq!(change_set_records(&world).await, 0);
    let comment = backlog.bot_comments(PROJECT, REPOSITORY, 71);
    assert_eq!(comment.len(), 1);
    assert!(
        comment[0].content.contains(&format!(
            "** Preview of {}: nothing can be executed from a preview\nCloudFormation preview of {PROJECT}/{REPOSITORY}: the real change set is created after the merge into main, and reviewed again then. This comment is updated on every push.\nCommit [[{}>{}/git/{PROJECT}/{REPOSITORY}/commit/{head}]] on feature/x",
            &head[..7],
            &head[..7],
            backlog.url
        )),
        "Backlog notation: {}",
        comment[0].content
    );

    // A busy stack: said, with what to do before merging; nothing created.
    let creates_before = world.creates_for(&app).len();
    world.recorder.inject(Fault {
        operation: "DescribeStacks".into(),
        times: 1,
        status: 200,
        body: query_answer(
            "DescribeStacks",
            &format!(
                "<Stacks><member><StackName>{app}</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{app}/0f2b4c10</StackId><CreationTime>2026-03-04T05:00:00Z</CreationTime><StackStatus>UPDATE_IN_PROGRESS</StackStatus></member></Stacks>"
            ),
        ),
        when_body_contains: vec![format!("StackName={app}")],
    });
    let planned = preview(&world, "71", "feature/x", &head).await;
    let stack = planned.stack(&app);
    assert_eq!(stack.classification, Classification::Busy);
    let reason = stack.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("stack is UPDATE_IN_PROGRESS")
            && reason.contains(
                "Before merging: wait until the stack settles; the next push to the pull request previews it again."
            ),
        "{reason}"
    );
    assert_eq!(world.creates_for(&app).len(), creates_before);

    // A preview change set that cannot be deleted: the run fails, the comment says so and names
    // it, and the next preview of the head deletes it.
    let name = format!("cfn-chatops-preview-pr71-{head}");
    world.recorder.inject(Fault {
        operation: "DeleteChangeSet".into(),
        times: 1,
        status: 400,
        body: query_error("ValidationError", "Simulated: the delete was refused"),
        when_body_contains: vec![format!("StackName={app}")],
    });
    let planned = preview(&world, "71", "feature/x", &head).await;
    assert_eq!(planned.code, Some(1), "{}", planned.stderr);
    assert!(
        planned.stderr.contains(&format!(
            "preview change set {name} could not be deleted: delete it, never execute it"
        )),
        "{}",
        planned.stderr
    );
    assert!(world.our_change_sets(&app).await.contains(&name));
    let text = &backlog.bot_comments(PROJECT, REPOSITORY, 71)[0].content;
    assert!(
        text.contains(
            "1 preview change set(s) could not be deleted: delete them, never execute them."
        ) && text.contains(&name)
            && !text.contains("no change set of this preview was kept"),
        "{text}"
    );
    let planned = preview(&world, "71", "feature/x", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert!(!world.our_change_sets(&app).await.contains(&name));

    // Backlog down: the preview fails visibly, names why, and leaves nothing in AWS.
    let creates_before = world.creates_for(&app).len();
    backlog.set_down(true);
    let planned = preview(&world, "71", "feature/x", &head).await;
    backlog.set_down(false);
    assert_eq!(planned.code, Some(1), "{}", planned.stderr);
    assert!(
        planned
            .stderr
            .contains("could not check the pull request's head, so nothing was published"),
        "{}",
        planned.stderr
    );
    assert_eq!(
        world.our_change_sets(&app).await,
        std::slice::from_ref(&theirs)
    );
    assert_eq!(world.creates_for(&app).len(), creates_before + 1);

    // A run of an older head after a newer one was pushed: nothing published.
    let newer = commit_on(
        &world,
        "feature/x",
        &[(&app_file, Some(&template(&app, 3)))],
        "Grow more",
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(71, "main", "feature/x", &newer),
    );
    let before = backlog.bot_comments(PROJECT, REPOSITORY, 71);
    let planned = preview(&world, "71", "feature/x", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let withheld = planned.report.preview.as_ref().unwrap().withheld.as_deref();
    assert_eq!(
        withheld,
        Some(
            format!(
                "pull request #71 has a newer head {}: its preview is published, not this one of {}",
                &newer[..7],
                &head[..7]
            )
            .as_str()
        )
    );
    assert_eq!(planned.report.comment, None);
    let after = backlog.bot_comments(PROJECT, REPOSITORY, 71);
    assert_eq!(
        before.iter().map(|c| &c.content).collect::<Vec<_>>(),
        after.iter().map(|c| &c.content).collect::<Vec<_>>()
    );
    assert_eq!(world.our_change_sets(&app).await, [theirs]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_branch_names_never_reach_a_shell_or_a_url() {
    let (world, _queue, backlog) = World::with_backlog("markdown").await;
    let app = unique("app");
    let head = commit_on(
        &world,
        "feature/plain",
        &[(&format!("{app}.yaml"), Some(&template(&app, 1)))],
        "Add app",
    );
    // Backlog's REST answer names the branch: untrusted text, however it looks.
    let hostile = "feature/a b;touch pwned;$(touch pwned2)..ü/`id`";
    backlog.pull_request(PROJECT, REPOSITORY, open_pr(81, "main", hostile, &head));
    let bot = Bot::serve(&world.serve_env());
    let answer = bot.deliver_ok(JSON, pull_request_event(18, 81)).await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    let started = bot.wait_for_log("local plan started", PLAN_TIME).await;
    bot.wait_for_log("local plan finished", PLAN_TIME).await;
    // (A push's branch is its ref, which the webhook parser only takes when git could have
    // it: the hostile names come from Backlog's REST answers.)

    // Backlog naming no head (`branchCommit: null`): the event previews nothing, the push to
    // the branch does.
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        PullRequest {
            branch_commit: None,
            ..open_pr(82, "main", "feature/plain", &head)
        },
    );
    let answer = bot.deliver_ok(JSON, pull_request_event(18, 82)).await;
    assert_eq!(
        answer["reason"],
        "Backlog names no head commit for pull request #82: the next push to its branch previews it"
    );
    let answer = bot
        .deliver_ok(FORM, git_push("feature/plain", &head, &head, "Add app"))
        .await;
    assert_eq!(
        answer["reason"],
        format!("previewing pull request #82 into main at {}", &head[..7]),
        "{answer}"
    );
    bot.wait_for_logs("local plan finished", 2, PLAN_TIME).await;
    assert_eq!(backlog.bot_comments(PROJECT, REPOSITORY, 82).len(), 1);
    // One argument, passed as is, to a program (no shell between).
    assert!(
        started["args"].as_str().unwrap().contains(&format!(
            "\"--branch\" \"{}\"",
            hostile.replace('"', "\\\"")
        )),
        "{started}"
    );
    for dir in [world.repo.path(), std::path::Path::new(".")] {
        for name in ["pwned", "pwned2"] {
            assert!(!dir.join(name).exists(), "{name} in {}", dir.display());
        }
    }
    let comment = eventually("the preview comment", || {
        backlog.bot_comments(PROJECT, REPOSITORY, 81).pop()
    })
    .await;
    // Shown as inert code (a backtick cannot close the span).
    assert!(
        comment
            .content
            .contains("on `feature/a b;touch pwned;$(touch pwned2)..ü/'id'`: Add app"),
        "{}",
        comment.content
    );
    // Nothing the bot asked Backlog for carried the branch.
    for request in backlog.received() {
        assert!(
            !request.path.contains("pwned") && !request.path.contains("feature"),
            "{request:?}"
        );
        assert!(
            request.query.iter().all(|(_, v)| !v.contains("pwned")),
            "{request:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_preview_says_do_not_merge_and_its_change_set_is_deleted_once() {
    let (world, _queue, backlog) = World::with_backlog("markdown").await;
    let app = unique("app");
    let app_file = format!("{app}.yaml");
    world.commit(
        &[
            (&app_file, Some(&template(&app, 1))),
            (".cfn-chatops.yml", Some("risks:\n  permissions: block\n")),
        ],
        "Add app",
    );
    deploy(&app, &template(&app, 1));
    let admin = template(&app, 1).replace(
        "Outputs:",
        "  Admin:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: '2012-10-17'\n        Statement:\n          - Effect: Allow\n            Principal: {Service: lambda.amazonaws.com}\n            Action: sts:AssumeRole\n      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]\nOutputs:",
    );
    let head = commit_on(
        &world,
        "feature/admin",
        &[(&app_file, Some(&admin))],
        "Give the app admin",
    );
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(91, "main", "feature/admin", &head),
    );
    let planned = preview(&world, "91", "feature/admin", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let stack = planned.stack(&app);
    assert_eq!(stack.classification, Classification::Blocked);
    assert!(
        stack
            .change_set
            .as_ref()
            .is_some_and(|c| c.deleted && !c.executable),
        "{stack:#?}"
    );
    assert!(
        stack
            .notes
            .iter()
            .all(|note| !note.contains("could not delete")),
        "deleted once, by the verdict, and not again: {:#?}",
        stack.notes
    );
    let deletes: Vec<Value> = world
        .requests("DeleteChangeSet")
        .into_iter()
        .filter(|body| body["StackName"] == app.as_str())
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert!(world.our_change_sets(&app).await.is_empty());
    assert_eq!(change_set_records(&world).await, 0);
    let comment = &backlog.bot_comments(PROJECT, REPOSITORY, 91)[0].content;
    assert!(
        comment.contains(
            "**Do not merge as is:** 1 stack(s) would be blocked by the safety verdict after the merge: fix them before merging."
        ),
        "{comment}"
    );
    assert!(
        comment.contains("Nothing was deployed, and no change set of this preview was kept."),
        "{comment}"
    );

    // The pull request stops touching the stack: its comment says so, still one comment.
    let undone = commit_on(
        &world,
        "feature/admin",
        &[(&app_file, Some(&template(&app, 1)))],
        "Take the admin back",
    );
    let planned = preview(&world, "91", "feature/admin", &undone).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let comments = backlog.bot_comments(PROJECT, REPOSITORY, 91);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .content
            .contains("No stack is touched by this pull request any more.")
            && comments[0]
                .content
                .contains(&format!("cfn-chatops:preview:pr-91:{undone}")),
        "{}",
        comments[0].content
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_is_of_the_merge_it_would_make_when_the_target_moved_on() {
    let (world, _queue, backlog) = World::with_backlog("markdown").await;
    let app = unique("app");
    let app_file = format!("{app}.yaml");
    let resource = |name: &str| format!("  {name}:\n    Type: AWS::SNS::Topic\n");
    let body = |resources: &[&str]| {
        let mut text =
            format!("AWSTemplateFormatVersion: '2010-09-09'\nDescription: {app}\nResources:\n");
        for name in resources {
            text.push_str(&resource(name));
            // Room between resources, so that changes to neighbours merge cleanly.
            text.push_str("    Metadata: {Note: keep}\n");
        }
        text
    };
    world.commit(&[(&app_file, Some(&body(&["First", "Last"])))], "Add app");
    // The branch leaves main, adding a queue at the end…
    let head = commit_on(
        &world,
        "feature/queue",
        &[(&app_file, Some(&body(&["First", "Last", "Queue"])))],
        "Add a queue",
    );
    // …and main moves on, adding a topic at the start, deployed.
    let moved = world.commit(
        &[(&app_file, Some(&body(&["Early", "First", "Last"])))],
        "Add an early topic",
    );
    deploy(&app, &body(&["Early", "First", "Last"]));
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(95, "main", "feature/queue", &head),
    );
    let planned = preview(&world, "95", "feature/queue", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(planned.report.base.as_deref(), Some(moved.as_str()));
    // What CloudFormation was given is the merge: main's topic kept, the branch's queue added.
    let sent = world.creates_for(&app);
    let template = sent[0]["TemplateBody"].as_str().unwrap();
    for name in ["Early:", "First:", "Last:", "Queue:"] {
        assert!(template.contains(name), "{name} missing from {template}");
    }
    let comment = &backlog.bot_comments(PROJECT, REPOSITORY, 95)[0].content;
    assert!(
        comment.contains(&format!(
            "**Note:** main moved on since the branch left it at {}: previewed as merged into main at {}, as the merge would make it",
            &git(world.repo.path(), &["merge-base", "main", &head])[..7],
            &moved[..7]
        )),
        "{comment}"
    );
    assert!(comment.contains("Add `Queue`"), "{comment}");

    // A conflicting change on main: previewed from where the branch left, and said.
    let conflicting = world.commit(
        &[(&app_file, Some(&body(&["Early", "First", "Last", "Tail"])))],
        "Add a topic at the end too",
    );
    let planned = preview(&world, "95", "feature/queue", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert!(
        planned
            .report
            .notes
            .iter()
            .any(|note| note.starts_with(&format!(
                "the pull request conflicts with main at {}: previewed from where it left main",
                &conflicting[..7]
            ))),
        "{:#?}",
        planned.report.notes
    );
    let sent = world.creates_for(&app);
    let template = sent.last().unwrap()["TemplateBody"].as_str().unwrap();
    assert!(
        template.contains("Queue:") && !template.contains("Tail:") && !template.contains("<<<<"),
        "the head's template, never a conflicted one: {template}"
    );
    assert!(world.our_change_sets(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_shows_only_public_ssm_parameters_resolved() {
    let (world, _queue, backlog) = World::with_backlog("markdown").await;
    let app = unique("app");
    let private = format!("/app/{app}/db-password-ish");
    let public = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
    let body = |topics: usize| {
        let mut text = String::from(
            "Parameters:\n  Private:\n    Type: AWS::SSM::Parameter::Value<String>\n  Ami:\n    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>\nResources:\n",
        );
        for index in 0..topics {
            text.push_str(&format!("  Topic{index}:\n    Type: AWS::SNS::Topic\n"));
        }
        text
    };
    // moto has AWS's public AMI parameters; the private one is the team's.
    aws_cli(&[
        "ssm",
        "put-parameter",
        "--name",
        &private,
        "--value",
        "hunter2-secret",
        "--type",
        "String",
    ]);
    let app_file = "app.yaml";
    let config = format!(
        "stacks:\n  - name: {app}\n    template: app.yaml\n    parameters: {{Private: {private}, Ami: {public}}}\n"
    );
    world.commit(
        &[
            (".cfn-chatops.yml", Some(&config)),
            (app_file, Some(&body(1))),
        ],
        "Add app",
    );
    aws_cli(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        &app,
        "--template-body",
        &body(1),
        "--parameters",
        &format!("ParameterKey=Private,ParameterValue={private}"),
        &format!("ParameterKey=Ami,ParameterValue={public}"),
    ]);
    // An unmerged template may name any parameter the bot's role can read.
    let head = commit_on(&world, "feature/ssm", &[(app_file, Some(&body(2)))], "Grow");
    backlog.pull_request(
        PROJECT,
        REPOSITORY,
        open_pr(97, "main", "feature/ssm", &head),
    );
    // moto does not resolve SSM parameter types in DescribeChangeSet: CloudFormation's
    // documented answer (Parameters[].ResolvedValue) is given by the proxy. Synthetic.
    world.recorder.inject(Fault {
        operation: "DescribeChangeSet".into(),
        times: 10,
        status: 200,
        body: query_answer(
            "DescribeChangeSet",
            &format!(
                "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus><Parameters><member><ParameterKey>Private</ParameterKey><ParameterValue>{private}</ParameterValue><ResolvedValue>hunter2-secret</ResolvedValue></member><member><ParameterKey>Ami</ParameterKey><ParameterValue>{public}</ParameterValue><ResolvedValue>ami-0abc1234</ResolvedValue></member></Parameters><Changes><member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>Topic1</LogicalResourceId><ResourceType>AWS::SNS::Topic</ResourceType></ResourceChange></member></Changes>"
            ),
        ),
        when_body_contains: vec![format!("StackName={app}")],
    });
    let planned = preview(&world, "97", "feature/ssm", &head).await;
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    assert_eq!(
        planned.parameters(&app),
        [
            ("Ami", format!("{public} → ami-0abc1234").as_str()),
            ("Private", private.as_str()),
        ]
    );
    let comment = &backlog.bot_comments(PROJECT, REPOSITORY, 97)[0].content;
    let report = serde_json::to_string(&planned.report).unwrap();
    for text in [comment, &report, &planned.stderr] {
        assert!(!text.contains("hunter2-secret"), "{text}");
    }
}
