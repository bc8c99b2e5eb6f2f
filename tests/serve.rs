//! `cfn-chatops serve` against clients that would hold it: slow or idle connections, a flood
//! of them, and a stop while a request is half sent. The real binary on loopback, moto as AWS.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use aws_sdk_dynamodb::types::AttributeValue;

use support::backlog::git_push;
use support::bot::Bot;
use support::moto::moto;
use support::proxy::{Fault, query_error};
use support::world::World;
use support::{SECRET, aws, unique};

/// The documented limits (README, "Hosting"): 10 s for headers (and an idle connection's next
/// request), 10 s for a body, 256 connections, a 30 s grace on stop.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 256;
const GRACE: Duration = Duration::from_secs(30);
/// Slack for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(6);

async fn serve_env() -> Vec<(String, String)> {
    let config = aws::config(&moto().endpoint).await;
    let table = unique("ledger");
    aws::create_ledger(&config, &table).await;
    let mut env = aws::env(&moto().endpoint);
    env.extend([
        ("CFN_CHATOPS_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
        ("CFN_CHATOPS_LEDGER_TABLE".to_owned(), table),
        ("CFN_CHATOPS_CODEBUILD_PROJECT".to_owned(), unique("plan")),
    ]);
    env
}

async fn serve() -> Bot {
    Bot::serve(&serve_env().await)
}

/// The server started with a soft open-file limit of `soft` (as a service manager may set it),
/// and the folder of the script that sets it, to keep while the server runs.
async fn serve_with_open_file_limit(soft: u64) -> (Bot, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("serve-with-limit");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nulimit -S -n {soft} || exit 97\nexec '{}' \"$@\"\n",
            support::bot::BINARY
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (Bot::serve_from(&script, &serve_env().await), dir)
}

/// The hard open-file limit this test process (and so the server) may raise its soft one to.
fn hard_open_file_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields[4].parse().unwrap_or(u64::MAX)
}

fn address(bot: &Bot) -> String {
    bot.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or answers and closes): what it sent, and
/// when it was done.
async fn until_closed(mut stream: TcpStream) -> (String, Instant) {
    let mut answer = Vec::new();
    // Bounded, so a server that holds the connection fails the test instead of hanging it.
    let _ = tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut answer)).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        Instant::now(),
    )
}

/// SIGTERM, as a service manager stops it: the server exits 0 within its grace period.
async fn stop_within_grace(bot: &mut Bot) {
    let stopping = Instant::now();
    bot.terminate();
    let status = bot
        .exited_within(GRACE + MARGIN)
        .await
        .expect("the server stopped within its grace period");
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() <= GRACE + MARGIN);
}

async fn healthz(bot: &Bot) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/healthz", bot.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_while_others_are_served() {
    let bot = serve().await;
    let addr = address(&bot);
    let started = Instant::now();
    // Idle: connects and sends nothing.
    let idle = TcpStream::connect(&addr).await.unwrap();
    // Idle after a request answered on a kept-alive connection.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 15];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK");
    let answered = Instant::now();
    // Slow headers: a byte a second, never finishing.
    let mut slow_headers = TcpStream::connect(&addr).await.unwrap();
    slow_headers
        .write_all(b"POST /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let dribble = tokio::spawn(async move {
        for _ in 0..30 {
            if slow_headers.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        slow_headers
    });
    // Slow body: headers at once, then a byte a second of a 1,000-byte body.
    let mut slow_body = TcpStream::connect(&addr).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /webhook/{SECRET} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (body_reader, mut body_writer) = slow_body.into_split();
    let body_dribble = tokio::spawn(async move {
        for _ in 0..30 {
            if body_writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    // Meanwhile, everyone else is served.
    for _ in 0..5 {
        assert_eq!(healthz(&bot).await, 200);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (idle_answer, idle_closed) = until_closed(idle).await;
    assert!(idle_answer.is_empty(), "{idle_answer}");
    let idle_after = idle_closed - started;
    assert!(
        idle_after >= HEADER_TIMEOUT - Duration::from_secs(1)
            && idle_after <= HEADER_TIMEOUT + MARGIN,
        "the idle connection was closed after {idle_after:?}"
    );
    let (_, kept_closed) = until_closed(kept).await;
    let kept_after = kept_closed - answered;
    assert!(
        kept_after <= HEADER_TIMEOUT + MARGIN,
        "an idle kept-alive connection was closed after {kept_after:?}"
    );
    let mut body_reader = body_reader;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(40),
        body_reader.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a body that does not arrive is answered 408: {answer}"
    );
    assert!(answer.contains("body not received within 10 s"), "{answer}");
    assert!(started.elapsed() <= Duration::from_secs(10) + HEADER_TIMEOUT + MARGIN);
    body_dribble.abort();
    let slow_headers = dribble.await.unwrap();
    let (_, headers_closed) = until_closed(slow_headers).await;
    assert!(
        headers_closed - started <= HEADER_TIMEOUT + MARGIN,
        "slow headers were cut off after {:?}",
        headers_closed - started
    );
    assert_eq!(healthz(&bot).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_is_refused_fast_and_said_and_healthz_answers_again() {
    // A soft open-file limit under the connection limit, as some service managers set: the
    // server raises it at start, so its connection limit, not the descriptors, is what bites.
    let soft = 200;
    assert!(
        hard_open_file_limit() >= 2 * MAX_CONNECTIONS as u64,
        "a hard limit to raise to"
    );
    let (bot, _script) = serve_with_open_file_limit(soft).await;
    let raised = bot
        .wait_for_log("open-file limit raised", Duration::from_secs(5))
        .await;
    assert_eq!(raised["from"], soft);
    let addr = address(&bot);
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Every slot is held: the next client is told at once, and the log says why.
    let asked = Instant::now();
    let mut refused = TcpStream::connect(&addr).await.unwrap();
    refused
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = until_closed(refused).await;
    assert!(
        closed - asked < Duration::from_secs(3),
        "refused in {:?}",
        closed - asked
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    let logged = bot
        .wait_for_log(
            "connections refused: the server is at its connection limit",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(logged["max_connections"], MAX_CONNECTIONS);
    // Released, the server answers again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while healthz(&bot).await != 200 {
        assert!(Instant::now() < deadline, "healthz never answered again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_a_request_half_sent_ends_within_the_grace() {
    let mut bot = serve().await;
    let addr = address(&bot);
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(
        format!("POST /webhook/{SECRET} HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n{{")
            .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_within_grace(&mut bot).await;
    bot.wait_for_log("stopped", Duration::from_secs(2)).await;
    drop(half);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_plan_starts_even_after_an_upgrade_moved_the_binary() {
    let world = World::start().await;
    let commit = world.commit_stacks(&[&unique("app")], "Add app");
    // The server runs from a copy of the binary, which an upgrade then moves away.
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("cfn-chatops");
    std::fs::copy(support::bot::BINARY, &program).unwrap();
    let bot = Bot::serve_from(&program, &world.serve_env());
    std::fs::rename(&program, dir.path().join("cfn-chatops.old")).unwrap();
    let push = git_push("main", "", &commit, "Add app");
    let answer = bot.deliver_ok(FORM, push).await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    let finished = bot
        .wait_for_logs("local plan finished", 1, Duration::from_secs(120))
        .await;
    assert_eq!(finished.len(), 1);
    assert!(
        bot.log_entries("local plan could not run; it stays queued")
            .is_empty()
    );
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The state of each push's delivery record (by pushed commit), and the plans waiting in the
/// local runner's queue (by delivery key).
async fn ledger_deliveries(
    world: &World,
) -> (
    std::collections::HashMap<String, (String, Option<String>)>,
    Vec<String>,
) {
    let text = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name).and_then(|v| v.as_s().ok()).cloned()
    };
    let mut states = std::collections::HashMap::new();
    let mut queued = Vec::new();
    for item in aws::ledger_items(&world.aws, &world.table).await {
        match text(&item, "kind").as_deref() {
            Some("delivery") => {
                states.insert(
                    text(&item, "after").unwrap(),
                    (text(&item, "state").unwrap(), text(&item, "plan_exit")),
                );
            }
            Some("queued-plan") => queued.push(text(&item, "delivery").unwrap()),
            _ => {}
        }
    }
    (states, queued)
}

fn state_of<'a>(
    states: &'a std::collections::HashMap<String, (String, Option<String>)>,
    commit: &str,
) -> &'a str {
    states
        .get(commit)
        .map(|(state, _)| state.as_str())
        .unwrap_or_else(|| panic!("no delivery record of {commit}: {states:#?}"))
}

/// A server (local runner) whose next queued plan, of `stack`, waits `by` for the answer to its
/// first CloudFormation call: the server and the plan's start, once the plan is waiting there
/// (the `nth` call about `stack` in the test).
async fn serve_with_a_slow_plan(
    world: &World,
    stack: &str,
    by: Duration,
    nth: usize,
) -> (Bot, serde_json::Value) {
    world
        .recorder
        .delay_answer("DescribeStacks", &format!("StackName={stack}"), by, 1);
    let bot = Bot::serve(&world.serve_env());
    let started = bot
        .wait_for_log("local plan started", Duration::from_secs(30))
        .await;
    described(world, stack, nth).await;
    (bot, started)
}

/// Waits until the plans have asked CloudFormation about `stack` `count` times in all.
async fn described(world: &World, stack: &str, count: usize) {
    support::backlog::eventually(&format!("DescribeStacks of {stack} #{count}"), || {
        let asked = world
            .recorder
            .requests("DescribeStacks")
            .iter()
            .filter(|request| request.body["StackName"] == stack)
            .count();
        (asked >= count).then_some(())
    })
    .await;
}

/// Whether the process is gone (or a zombie nobody reaped yet).
fn process_ended(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_local_plans_survive_a_stop_and_a_crash_and_run_at_the_next_start() {
    let world = World::start().await;
    let stacks: Vec<String> = (0..3).map(|_| unique("queued")).collect();
    let commits: Vec<String> = stacks
        .iter()
        .map(|stack| world.commit_stacks(&[stack], &format!("Add {stack}")))
        .collect();
    // The first plan is slow (well within the grace), so the others wait in the queue when the
    // server is stopped.
    world.recorder.delay_answer(
        "DescribeStacks",
        &format!("StackName={}", stacks[0]),
        Duration::from_secs(8),
        1,
    );
    let mut bot = Bot::serve(&world.serve_env());
    for (commit, stack) in commits.iter().zip(&stacks) {
        let answer = bot
            .deliver_ok(FORM, git_push("main", "", commit, &format!("Add {stack}")))
            .await;
        assert_eq!(answer["status"], "dispatched", "{answer}");
    }
    // Stopped while the first plan waits for its slow answer.
    described(&world, &stacks[0], 1).await;

    // A stop lets the running plan finish within the grace; the queued ones stay queued.
    stop_within_grace(&mut bot).await;
    assert_eq!(bot.log_entries("local plan started").len(), 1);
    let (states, queued) = ledger_deliveries(&world).await;
    assert_eq!(state_of(&states, &commits[0]), "planned", "{states:#?}");
    assert_eq!(states[&commits[0]].1.as_deref(), Some("exit status: 0"));
    assert_eq!(state_of(&states, &commits[1]), "dispatched");
    assert_eq!(state_of(&states, &commits[2]), "dispatched");
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert!(queued[0].ends_with(&commits[1]) && queued[1].ends_with(&commits[2]));

    // A crash (SIGKILL) mid-plan: the plan dies with the server and stays queued.
    let (crashed, started) =
        serve_with_a_slow_plan(&world, &stacks[1], Duration::from_secs(10), 1).await;
    assert!(
        started["delivery"].as_str().unwrap().ends_with(&commits[1]),
        "{started}"
    );
    let pid = started["pid"].as_u64().unwrap();
    drop(crashed);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_ended(pid) {
        assert!(
            Instant::now() < deadline,
            "the plan outlived the killed server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (states, queued) = ledger_deliveries(&world).await;
    assert_eq!(state_of(&states, &commits[1]), "dispatched");
    assert_eq!(queued.len(), 2, "{queued:?}");

    // A plan that outlasts the stop's drain is killed, and stays queued.
    let (mut drained, started) =
        serve_with_a_slow_plan(&world, &stacks[1], GRACE + MARGIN, 2).await;
    let pid = started["pid"].as_u64().unwrap();
    stop_within_grace(&mut drained).await;
    drained
        .wait_for_log(
            "local plan stopped: it runs again at the next start",
            Duration::from_secs(1),
        )
        .await;
    assert!(process_ended(pid), "the drained plan was killed");
    let (states, queued) = ledger_deliveries(&world).await;
    assert_eq!(state_of(&states, &commits[1]), "dispatched");
    assert_eq!(queued.len(), 2, "{queued:?}");

    // A service manager's stop signals the plan too, a moment before the server: not the
    // plan's failure, so it stays queued.
    let (mut signalled, started) =
        serve_with_a_slow_plan(&world, &stacks[1], Duration::from_secs(10), 3).await;
    let pid = started["pid"].as_u64().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop_within_grace(&mut signalled).await;
    assert!(signalled.log_entries("local plan failed").is_empty());
    signalled
        .wait_for_log(
            "local plan signalled as the server stops: it runs again at the next start",
            Duration::from_secs(1),
        )
        .await;
    let (states, queued) = ledger_deliveries(&world).await;
    assert_eq!(state_of(&states, &commits[1]), "dispatched");
    assert_eq!(queued.len(), 2, "{queued:?}");

    // The next start runs what is queued, oldest first, and empties the queue.
    let restarted = Bot::serve(&world.serve_env());
    let finished = restarted
        .wait_for_logs("local plan finished", 2, Duration::from_secs(120))
        .await;
    let order: Vec<&str> = finished
        .iter()
        .map(|entry| entry["delivery"].as_str().unwrap())
        .collect();
    assert!(
        order[0].ends_with(&commits[1]) && order[1].ends_with(&commits[2]),
        "{order:?}"
    );
    let (states, queued) = ledger_deliveries(&world).await;
    for commit in &commits {
        assert_eq!(state_of(&states, commit), "planned", "{states:#?}");
    }
    assert!(queued.is_empty(), "{queued:?}");
    // Every stack has its change set, and a redelivery of a planned push is a duplicate.
    for stack in &stacks {
        assert!(
            !world.creates_for(stack).is_empty(),
            "no change set for {stack}"
        );
    }
    let again = restarted
        .deliver_ok(FORM, git_push("main", "", &commits[0], "Add"))
        .await;
    assert_eq!(again["status"], "duplicate", "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_local_plan_is_recorded_failed_and_a_redelivery_plans_it_again() {
    let world = World::start().await;
    let stack = unique("denied");
    let commit = world.commit_stacks(&[&stack], "Add a stack");
    world.recorder.inject(Fault {
        operation: "DescribeStacks".into(),
        times: 1,
        status: 403,
        body: query_error(
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudformation:DescribeStacks",
        ),
        when_body_contains: vec![format!("StackName={stack}")],
    });
    let bot = Bot::serve(&world.serve_env());
    let push = git_push("main", "", &commit, "Add a stack");
    let answer = bot.deliver_ok(FORM, push.clone()).await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    let failed = bot
        .wait_for_log("local plan failed", Duration::from_secs(60))
        .await;
    assert!(failed["delivery"].as_str().unwrap().ends_with(&commit));
    // The end is recorded just after the log line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (states, queued) = loop {
        let (states, queued) = ledger_deliveries(&world).await;
        if state_of(&states, &commit) != "dispatched" || Instant::now() > deadline {
            break (states, queued);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(state_of(&states, &commit), "failed");
    assert_eq!(states[&commit].1.as_deref(), Some("exit status: 1"));
    assert!(queued.is_empty(), "{queued:?}");

    // Backlog's redelivery (or the same push by the other webhook) plans it again.
    let again = bot.deliver_ok(FORM, push).await;
    assert_eq!(again["status"], "dispatched", "{again}");
    bot.wait_for_log("local plan finished", Duration::from_secs(60))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while state_of(&ledger_deliveries(&world).await.0, &commit) != "planned" {
        assert!(Instant::now() < deadline, "the re-run was not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!world.creates_for(&stack).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_queued_after_all_when_the_ledger_answered_too_late_runs_once() {
    let world = World::start().await;
    let stack = unique("late");
    let commit = world.commit_stacks(&[&stack], "Add a stack");
    // DynamoDB queues the plan, but the answers to both of the SDK's attempts come after the
    // delivery's deadline.
    world.recorder.delay_answer(
        "TransactWriteItems",
        "local-plans",
        Duration::from_secs(9),
        2,
    );
    let bot = Bot::serve(&world.serve_env());
    let push = git_push("main", "", &commit, "Add a stack");
    let (status, answer) = bot.deliver(FORM, push.clone()).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["reason"], "the ledger did not answer in time; retry");
    // The plan was queued after all: it runs (the worker is woken all the same), and the
    // sender's retry is a duplicate, not a second plan.
    bot.wait_for_log("local plan finished", Duration::from_secs(60))
        .await;
    let again = bot.deliver_ok(FORM, push).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (states, queued) = ledger_deliveries(&world).await;
        if state_of(&states, &commit) == "planned" && queued.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{states:#?} {queued:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bot.log_entries("local plan started").len(), 1);
    assert!(
        bot.log_entries("claim not released; a retry takes it over after the lease")
            .is_empty()
    );
}
