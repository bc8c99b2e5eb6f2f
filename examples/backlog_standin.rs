//! The Backlog stand-in the tests use (`tests/support/backlog.rs`), as a process for
//! `scripts/demo`. Prints its URL and API key, one per line; then reads commands on stdin:
//! `project <KEY> <markdown|backlog>`, `open <KEY> <repository> <number> <base> <branch> <head>`
//! and `merged <KEY> <repository> <number> <base> <branch> <merge commit>`.
//! Stops when stdin closes, so it never outlives the demo.

#[allow(dead_code)]
#[path = "../tests/support/backlog.rs"]
mod backlog;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let standin = backlog::Backlog::start().await;
    println!("{}", standin.url);
    println!("{}", backlog::API_KEY);
    let commands = standin.clone();
    tokio::task::spawn_blocking(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            apply(&commands, &line);
        }
    })
    .await
    .expect("stdin reader");
}

fn apply(standin: &backlog::Backlog, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["project", key, format] => standin.project(key, format),
        [
            state @ ("open" | "merged"),
            key,
            repository,
            number,
            base,
            branch,
            commit,
        ] => {
            let merged = *state == "merged";
            standin.pull_request(
                key,
                repository,
                backlog::PullRequest {
                    number: number.parse().expect("a PR number"),
                    base: (*base).into(),
                    branch: (*branch).into(),
                    status: if merged { 3 } else { 1 },
                    merge_commit: merged.then(|| (*commit).into()),
                    summary: format!("Pull request {number}"),
                    branch_commit: (!merged).then(|| (*commit).into()),
                },
            )
        }
        _ => eprintln!("backlog stand-in: unknown command {line:?}"),
    }
}
