//! Shared test harness: moto on loopback, a recording proxy in front of it, the real
//! `cfn-chatops` binary as a child process, and AWS set-up through the real SDK.
#![allow(dead_code)] // Each test binary uses its own part of the harness.

pub mod amazon_q;
pub mod aws;
pub mod backlog;
pub mod bot;
pub mod events;
pub mod lambda_api;
pub mod moto;
pub mod proxy;
pub mod world;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test in this process uses, for tables, projects and topics in the shared moto.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A webhook secret long enough for the bot to start.
pub const SECRET: &str = "s3cr3t-0123456789abcdefghijklmnopqrstuv";

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/backlog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A project webhook (JSON) about pull request `number`: type 18 (added) or 19 (the
/// documented merge: status → 3).
pub fn pull_request_event(kind: u8, number: u64) -> String {
    let file = match kind {
        18 => "project-type18-pr-added.json",
        19 => "project-type19-pr-merged.json",
        _ => panic!("no fixture for type {kind}"),
    };
    let mut body: serde_json::Value = serde_json::from_str(&fixture(file)).unwrap();
    body["content"]["number"] = serde_json::json!(number);
    body["id"] = serde_json::json!(3_141_650 + number);
    body.to_string()
}

/// The real git CLI in `dir`, with a fixed author; panics with git's message on failure.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Aiko Tanaka")
        .env("GIT_AUTHOR_EMAIL", "aiko@example.com")
        .env("GIT_COMMITTER_NAME", "Aiko Tanaka")
        .env("GIT_COMMITTER_EMAIL", "aiko@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
