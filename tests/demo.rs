//! The README's main command, `scripts/demo` (`make demo`), run as a user would: its key lines
//! are there, and it leaves no process behind, also when interrupted.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn demo() -> Child {
    let binary = support::bot::BINARY;
    let standin = std::path::Path::new(binary)
        .parent()
        .unwrap()
        .join("examples/backlog_standin");
    assert!(
        standin.exists(),
        "{} missing: `cargo test` builds the examples",
        standin.display()
    );
    Command::new(support::moto::python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.py"))
        .arg(binary)
        .arg(&standin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The pids the demo says it started (`pid N` in its "where each piece ran" lines).
fn pids(output: &str) -> Vec<u32> {
    output
        .match_indices("pid ")
        .filter_map(|(index, _)| {
            output[index + 4..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn assert_gone(pids: &[u32]) {
    assert_eq!(pids.len(), 3, "moto, the Backlog stand-in and the bot");
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in pids {
        // A zombie is gone for this purpose: it holds no port and runs nothing.
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        };
        while running() {
            assert!(Instant::now() < deadline, "pid {pid} still running");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn the_demo_runs_the_whole_mission_and_stops_everything_it_started() {
    let child = demo();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let took: f64 = stdout
        .split("Done in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|seconds| seconds.parse().ok())
        .expect("the demo says how long it took");
    // The bound for the whole run after the build (it takes ~15 s).
    assert!(took < 60.0, "the demo took {took} s");
    for line in [
        "AWS (moto)",
        "Backlog (stand-in)",
        "POST push to PR branch  -> 200 {\"status\":\"dispatched\",\"reason\":\"previewing pull request #1 into main at ",
        ": nothing can be executed from a preview\n  CloudFormation preview of DEMO/cfn-templates: the real change set is created after the merge into `main`",
        "- **alarms** (us-east-1): changes `+2 ~0 -0` · new stack, template validated",
        "Previewed before the merge at [",
        "POST Git webhook (merge)-> 200 {\"status\":\"dispatched\"",
        "POST same push again    -> 200 {\"status\":\"duplicate\"",
        "POST wrong secret       -> 404",
        "pushed commits belong to a merged pull request pr=1",
        "CloudFormation plan for DEMO/cfn-templates PR #1",
        "[ Execute ]  [ Discard ]",
        "Execute runs: cloudformation execute-change-set --change-set-name arn:aws:cloudformation:",
        "### CloudFormation plan · DEMO/cfn-templates",
        "- **alarms** (us-east-1): changes `+2 ~0 -0` · CREATE change set",
        "stack                   alarms CREATE_COMPLETE",
        "-> cfn-chatops outcome: done, execution_started",
        "-> cfn-chatops outcome: done, executed",
        "### ▶️ alarms (us-east-1): execution started by Slack user U0DEMO42",
        "### ✅ alarms (us-east-1): deployed (CREATE\\_COMPLETE)",
        "execution started by <@U0DEMO42>  (thread cfn-chatops/DEMO/cfn-templates/pr-1)",
        "stack#us-east-1/alarms",
        "Done in ",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    assert_gone(&pids(&stdout));
}

#[test]
fn an_interrupted_demo_stops_everything_it_started() {
    let mut child = demo();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    // Interrupt while the plan runs: everything is up and the local runner is busy.
    while !seen.contains("POST wrong secret") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the demo ended early:\n{seen}"
        );
        seen.push_str(&line);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130), "{seen}");
    assert_gone(&pids(&seen));
}
