//! `cfn-chatops serve` against clients that would hold it: slow or idle connections, a flood
//! of them, and a stop while a request is half sent. The real binary on loopback, moto as AWS.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::bot::Bot;
use support::moto::moto;
use support::{SECRET, aws, unique};

/// The documented limits (README, "Hosting"): 10 s for headers (and an idle connection's next
/// request), 10 s for a body, 256 connections, a 30 s grace on stop.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 256;
const GRACE: Duration = Duration::from_secs(30);
/// Slack for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(6);

async fn serve() -> Bot {
    let config = aws::config(&moto().endpoint).await;
    let table = unique("ledger");
    aws::create_ledger(&config, &table).await;
    let mut env = aws::env(&moto().endpoint);
    env.extend([
        ("CFN_CHATOPS_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
        ("CFN_CHATOPS_LEDGER_TABLE".to_owned(), table),
        ("CFN_CHATOPS_CODEBUILD_PROJECT".to_owned(), unique("plan")),
    ]);
    Bot::serve(&env)
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
    let bot = serve().await;
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
    let stopping = Instant::now();
    bot.terminate();
    let status = bot
        .exited_within(GRACE + MARGIN)
        .await
        .expect("the server stopped within its grace period");
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() <= GRACE + MARGIN);
    bot.wait_for_log("stopped", Duration::from_secs(2)).await;
    drop(half);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_plan_starts_even_after_an_upgrade_moved_the_binary() {
    let world = support::world::World::start().await;
    let commit = world.commit_stacks(&[&unique("app")], "Add app");
    // The server runs from a copy of the binary, which an upgrade then moves away.
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("cfn-chatops");
    std::fs::copy(support::bot::BINARY, &program).unwrap();
    let bot = Bot::serve_from(&program, &world.serve_env());
    std::fs::rename(&program, dir.path().join("cfn-chatops.old")).unwrap();
    let push = support::backlog::git_push("main", "", &commit, "Add app");
    let answer = bot
        .deliver_ok("application/x-www-form-urlencoded", push)
        .await;
    assert_eq!(answer["status"], "dispatched", "{answer}");
    let finished = bot
        .wait_for_logs("local plan finished", 1, Duration::from_secs(120))
        .await;
    assert_eq!(finished.len(), 1);
    assert!(bot.log_entries("local plan could not start").is_empty());
}
