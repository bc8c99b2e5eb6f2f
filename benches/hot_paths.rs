//! Hot pure paths, timed: `cargo bench --bench hot_paths`. Plain loops (no framework): each
//! case runs until it has used ~1 s and prints the time per run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cfn_chatops::core::classify::{ChangeSetDescription, classify};
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
