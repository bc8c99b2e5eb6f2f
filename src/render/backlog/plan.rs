//! The plan comment: every stack with its class, counts, destructive changes, drift, failure
//! and change set, and whether the Slack cards were delivered.

use super::markup::Writer;
use super::{COMMENT_MAX, DETAILS_PER_STACK, plan_marker};
use crate::core::properties::{
    changed_parameters, display_value, is_security_relevant, shown_properties,
};
use crate::core::text::clip;
use crate::model::backlog::TextFormat;
use crate::model::commit::short;
use crate::model::report::{
    Classification, DriftedProperty, PlanReport, PreviewSlack, ResourceChangeSummary, StackPlan,
};
use crate::model::verdict::{Level, Verdict};
use crate::render::links::Links;
use crate::render::{blocked_next_step, reason_beside_verdict, verdict_headline};

/// The plan comment: every stack with its class, counts, destructive changes, drift, failure
/// and change set, and whether the Slack cards were delivered.
pub fn plan_comment(report: &PlanReport, format: TextFormat, links: &Links) -> String {
    let mut w = Writer::new(format);
    let repository = match (&report.project, &report.repository) {
        (Some(project), Some(repository)) => format!("{project}/{repository}"),
        _ => "repository".into(),
    };
    let commit = match links.commit(
        report.project.as_deref(),
        report.repository.as_deref(),
        &report.after,
    ) {
        Some(url) => w.link(&url, &short(&report.after)),
        None => w.value(&short(&report.after)),
    };
    match &report.preview {
        Some(preview) => {
            // The first thing read (and all a notification shows): what a preview is not.
            w.heading(&format!(
                "Preview of {}: nothing can be executed from a preview",
                w.text(&short(&report.after))
            ));
            w.line(format!(
                "CloudFormation preview of {}: the real change set is created after the merge into {}, and reviewed again then. This comment is updated on every push.",
                w.text(&repository),
                w.value(&preview.into)
            ));
        }
        None => w.heading(&format!(
            "CloudFormation plan · {} · commit {}",
            w.text(&repository),
            w.text(&short(&report.after))
        )),
    }
    let mut origin = format!("Commit {commit} on {}", w.value(&report.branch));
    if let Some(message) = &report.commit_message {
        origin.push_str(&format!(": {}", w.text(&clip(message, 200))));
    }
    if let Some(author) = &report.author {
        origin.push_str(&format!(" ({})", w.text(&clip(author, 80))));
    }
    if let (Some(preview), Some(base)) = (&report.preview, &report.base) {
        origin.push_str(&format!(
            ". Compared with {} on {}",
            w.value(&short(base)),
            w.value(&preview.into)
        ));
    }
    w.line(origin);
    if let Some(previewed) = &report.previewed {
        let head = match links.commit(
            report.project.as_deref(),
            report.repository.as_deref(),
            &previewed.head,
        ) {
            Some(url) => w.link(&url, &short(&previewed.head)),
            None => w.value(&short(&previewed.head)),
        };
        let mut line = format!(
            "Previewed before the merge at {head} (the preview comment on this pull request)."
        );
        if previewed.merged == Some(false) {
            line.push_str(
                " The merged head is not the one previewed: this plan, not the preview, is what Execute deploys.",
            );
        }
        w.line(line);
    }
    // A preview's own notes say what it compared (the target moved on, a conflict).
    if report.preview.is_some() {
        for note in &report.notes {
            w.item(0, format!("{} {}", w.bold("Note:"), w.text(note)));
        }
    }
    w.line(String::new());
    if report.stacks.is_empty() {
        w.line(match report.preview {
            Some(_) => "No stack is touched by this pull request any more.".into(),
            None => "No stack was touched by this push.".into(),
        });
    }
    for stack in &report.stacks {
        stack_lines(&mut w, stack, report.preview.is_some());
    }
    for left in &report.left_in_place {
        w.item(
            0,
            format!(
                "{} left in place: {} ({})",
                w.value(&left.stack),
                w.text(&left.reason),
                w.value(&left.template)
            ),
        );
    }
    for error in &report.errors {
        w.item(0, format!("{} {}", w.bold("Error:"), w.text(error)));
    }
    w.line(String::new());
    let exists = |stack: &&StackPlan| stack.change_set.as_ref().is_some_and(|cs| cs.executable);
    let executable = report
        .stacks
        .iter()
        .filter(exists)
        .filter(|stack| stack.classification != Classification::Blocked)
        .count();
    let undeleted = report
        .stacks
        .iter()
        .filter(exists)
        .filter(|stack| stack.classification == Classification::Blocked)
        .count();
    let delivered = report.cards.iter().filter(|n| n.delivered).count();
    let slack = if let Some(preview) = report.preview.as_ref().filter(|p| p.slack_quiet) {
        match preview.slack {
            PreviewSlack::None => "Slack: no card (`preview.slack: none` in .cfn-chatops.yml).".to_string(),
            _ => "Slack: no card (`preview.slack: risky` sends only removals, replacements, drift and blocked verdicts).".to_string(),
        }
    } else if report.cards.is_empty() {
        "Slack: not configured, no cards sent.".to_string()
    } else if delivered == report.cards.len() {
        format!("Slack: {delivered} card(s) delivered.")
    } else {
        format!(
            "Slack: {} of {} card(s) NOT delivered; run `aws cloudformation describe-change-set` to review.",
            report.cards.len() - delivered,
            report.cards.len()
        )
    };
    w.line(slack);
    if report.preview.is_some() {
        let blocked = report
            .stacks
            .iter()
            .filter(|stack| {
                stack
                    .verdict
                    .as_ref()
                    .is_some_and(|verdict| verdict.level == Level::Blocked)
            })
            .count();
        if blocked > 0 {
            w.line(format!(
                "{} {blocked} stack(s) would be blocked by the safety verdict after the merge: fix them before merging.",
                w.bold("Do not merge as is:")
            ));
        }
        // Only true when every delete went through.
        let kept = report
            .stacks
            .iter()
            .filter(|stack| stack.change_set.as_ref().is_some_and(|c| !c.deleted))
            .count();
        if kept == 0 {
            w.line("Nothing was deployed, and no change set of this preview was kept.".into());
        } else {
            w.line(format!(
                "Nothing was deployed. {} {kept} preview change set(s) could not be deleted: delete them, never execute them.",
                w.bold("Warning:")
            ));
        }
        return w.finish(&plan_marker(report), COMMENT_MAX);
    }
    if executable > 0 {
        w.line(format!(
            "{executable} change set(s) wait for review: Execute or Discard them from the Slack card. Nothing is deployed until someone does."
        ));
    }
    if undeleted > 0 {
        w.line(format!(
            "{undeleted} blocked change set(s) could not be deleted: delete them, do not execute them."
        ));
    }
    w.finish(&plan_marker(report), COMMENT_MAX)
}

fn stack_lines(w: &mut Writer, stack: &StackPlan, preview: bool) {
    let mut line = format!(
        "{} ({}): {}",
        w.bold(&stack.stack),
        w.text(&stack.region),
        class_label(stack.classification)
    );
    if matches!(
        stack.classification,
        Classification::Changes | Classification::Drift
    ) {
        line.push_str(&format!(" {}", w.value(&stack.counts.summary())));
        let destructive = stack.destructive_count();
        if destructive > 0 {
            line.push_str(&format!(" · ⚠ {destructive} destructive"));
        }
    }
    match &stack.change_set {
        // Deleted at once: its name would only send a reader looking for it.
        Some(change_set) if preview && change_set.deleted => {
            line.push_str(&format!(" · {} preview", change_set.change_set_type))
        }
        Some(change_set) => line.push_str(&format!(
            " · {} change set {}",
            change_set.change_set_type,
            w.value(&change_set.name)
        )),
        None if preview && !stack.changes.is_empty() => {
            line.push_str(" · new stack, template validated")
        }
        None => {}
    }
    if let Some(reason) = reason_beside_verdict(stack) {
        line.push_str(&format!(" · {}", w.text(&clip(reason, 400))));
    }
    w.item(0, line);
    if let Some(verdict) = &stack.verdict {
        verdict_lines(w, stack, verdict);
    }
    // CloudFormation's own warnings first (they often mean the execution will fail), then
    // destructive changes, drift, the other changes (security-relevant ones first), what was
    // superseded, notes. Only what is shown is rendered; the rest is counted.
    let parameters = changed_parameters(&stack.changes);
    let mut changes: Vec<&ResourceChangeSummary> = stack.changes.iter().collect();
    changes.sort_by_key(|change| !is_security_relevant(&change.resource_type));
    let (destructive, others): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .partition(|change| change.destructive.is_some());
    let mut details: Vec<Detail> = stack
        .incomplete
        .iter()
        .map(|gap| Detail::Incomplete(gap))
        .collect();
    details.extend(stack.warnings.iter().map(|w| Detail::Warning(w)));
    details.extend(decisions(w, stack).into_iter().map(Detail::Decision));
    if !parameters.is_empty() {
        details.push(Detail::Parameters(&parameters));
    }
    details.extend(destructive.into_iter().map(Detail::Change));
    details.extend(stack.drift.iter().map(Detail::Drift));
    details.extend(others.into_iter().map(Detail::Change));
    details.extend(stack.superseded.iter().map(|name| Detail::Superseded(name)));
    details.extend(stack.notes.iter().map(|note| Detail::Note(note)));
    let hidden = details.split_off(details.len().min(DETAILS_PER_STACK));
    for detail in details {
        let (text, under) = detail.render(w);
        w.item(1, text);
        for line in under {
            w.item(2, line);
        }
    }
    if !hidden.is_empty() {
        let destructive = hidden
            .iter()
            .filter(
                |detail| matches!(detail, Detail::Change(change) if change.destructive.is_some()),
            )
            .count();
        let of_which = if destructive > 0 {
            format!(" ({destructive} destructive)")
        } else {
            String::new()
        };
        w.item(1, format!("…{} more{of_which}", hidden.len()));
    }
}

/// The verdict first under its stack: the headline with every finding that counts (and its
/// source), how to proceed when blocked, what was not checked, the waivers and remarks.
fn verdict_lines(w: &mut Writer, stack: &StackPlan, verdict: &Verdict) {
    let headline = w.text(&clip(&verdict_headline(verdict), 1_000));
    let headline = match verdict.level {
        Level::Ok => format!("✅ {headline}"),
        Level::Review => format!("⚠️ {} {headline}", w.bold("Review:")),
        Level::Blocked => format!("⛔ {} {headline}", w.bold("Blocked:")),
    };
    w.item(1, headline);
    if verdict.level == Level::Blocked {
        w.item(2, w.text(blocked_next_step(stack)));
    }
    if !verdict.unchecked.is_empty() {
        w.item(
            2,
            format!(
                "not checked: {}",
                w.text(&clip(&verdict.unchecked.join("; "), 600))
            ),
        );
    }
    // The reasons are in the headline; below it, what was said but does not count.
    for finding in verdict.findings.iter().filter(|finding| !finding.counts()) {
        let text = w.text(&clip(&finding.summary(), 600));
        let line = match &finding.waived {
            Some(reason) => format!(
                "{} {text} ({})",
                w.bold("waived:"),
                w.text(&clip(reason, 300))
            ),
            None => format!("note: {text}"),
        };
        w.item(2, line);
    }
}

/// One line about a stack in the comment, rendered only when it is shown.
enum Detail<'a> {
    Incomplete(&'a str),
    Warning(&'a str),
    Parameters(&'a [String]),
    Change(&'a ResourceChangeSummary),
    Drift(&'a DriftedProperty),
    Superseded(&'a str),
    Note(&'a str),
    /// What the bot decided: new stack, rename, capabilities, parameters (already rendered).
    Decision(String),
}

impl Detail<'_> {
    /// The line, and the lines under it (a change's properties).
    fn render(&self, w: &Writer) -> (String, Vec<String>) {
        let text = match self {
            Detail::Incomplete(gap) => format!(
                "⚠ {} {}",
                w.bold("Incomplete review:"),
                w.text(&clip(gap, 500))
            ),
            Detail::Warning(warning) => format!(
                "⚠ {} {}",
                w.bold("CloudFormation warns:"),
                w.text(&clip(warning, 1_000))
            ),
            Detail::Parameters(names) => {
                let names: Vec<String> = names.iter().map(|name| w.value(name)).collect();
                format!("parameters changed: {}", names.join(", "))
            }
            Detail::Change(change) => {
                let row = format!(
                    "{} {} {}",
                    w.text(&change.action),
                    w.value(&change.logical_id),
                    w.text(&change.resource_type)
                );
                let text = match change.destructive.as_deref() {
                    Some(why) => format!("⚠ {row}: {}", w.text(&clip(why, 300))),
                    None => row,
                };
                return (text, property_lines(w, change));
            }
            Detail::Drift(drift) => format!(
                "drift {} {} {}: live {} will become {}",
                w.text(&drift.status),
                w.value(&drift.logical_id),
                w.value(drift.property.as_deref().unwrap_or("(resource)")),
                w.value(&clip(drift.actual.as_deref().unwrap_or("?"), 120)),
                w.value(&clip(drift.previous.as_deref().unwrap_or("?"), 120))
            ),
            Detail::Superseded(name) => format!("superseded and deleted {}", w.value(name)),
            Detail::Note(note) => format!("note: {}", w.text(&clip(note, 300))),
            Detail::Decision(text) => text.clone(),
        };
        (text, vec![])
    }
}

/// What the bot decided for the reviewer: that a stack will be created (and that a rename
/// leaves the old stack in place), the acknowledged capabilities, the parameter values.
fn decisions(w: &Writer, stack: &StackPlan) -> Vec<String> {
    let mut lines = Vec::new();
    if stack
        .change_set
        .as_ref()
        .is_some_and(|change_set| change_set.change_set_type == "CREATE")
    {
        lines.push(format!(
            "new stack {} will be created",
            w.value(&stack.stack)
        ));
        if let Some(from) = &stack.renamed_from {
            lines.push(format!(
                "⚠ renamed from {}: this creates a new stack with new resources; the stack of the old name keeps its own (delete it deliberately)",
                w.value(from)
            ));
        }
    }
    if !stack.capabilities.is_empty() {
        let acknowledged: Vec<String> = stack.capabilities.iter().map(|c| w.value(c)).collect();
        lines.push(format!("acknowledges {}", acknowledged.join(", ")));
    }
    if !stack.parameters.is_empty() {
        let values: Vec<String> = stack
            .parameters
            .iter()
            .map(|p| format!("{}={}", w.value(&p.key), w.value(&display_value(&p.value))))
            .collect();
        lines.push(format!("parameters {}", values.join(", ")));
    }
    lines
}

/// A change's properties worth showing: `Name: before → after`, why, and policy statements.
fn property_lines(w: &Writer, change: &ResourceChangeSummary) -> Vec<String> {
    let (shown, hidden) = shown_properties(change);
    let side = |value: &Option<String>| value.as_deref().map_or("—".to_owned(), |v| w.value(v));
    let mut lines = Vec::new();
    for property in shown {
        let mut line = format!(
            "{}: {} → {}",
            w.value(&property.name),
            side(&property.before),
            side(&property.after)
        );
        if property.forces_replacement {
            line.push_str(" (forces replacement)");
        }
        if let Some(because) = &property.because {
            line.push_str(&format!(", because {}", w.text(because)));
        }
        lines.push(line);
        lines.extend(
            property
                .statements
                .iter()
                .map(|statement| w.value(statement)),
        );
    }
    if hidden > 0 {
        lines.push(format!("…{hidden} more changed propert(ies)"));
    }
    lines
}

fn class_label(class: Classification) -> &'static str {
    match class {
        Classification::NoChanges => "no changes",
        Classification::Changes => "changes",
        Classification::Drift => "changes that overwrite drift",
        Classification::Failed => "FAILED",
        Classification::Blocked => "blocked",
        Classification::Busy => "busy, not planned",
        Classification::Superseded => "superseded by a newer commit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::delivery::CardDelivery;
    use crate::model::report::{
        ActionCounts, ChangeSetRef, DriftedProperty, sample_change, sample_report,
    };

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    fn links() -> Links {
        Links {
            backlog_url: Some("https://x.backlog.com".into()),
        }
    }

    fn stack(name: &str, class: Classification) -> StackPlan {
        StackPlan::new(name, "us-east-1", format!("stacks/{name}.yaml"), class)
    }

    fn report() -> PlanReport {
        let mut alarms = stack("alarms", Classification::Drift);
        alarms.counts = ActionCounts {
            add: 1,
            remove: 1,
            ..ActionCounts::default()
        };
        alarms.changes = vec![
            sample_change("Add", "NewTopic", None),
            sample_change("Remove", "OldTopic", Some("removes the resource")),
        ];
        alarms.drift = vec![DriftedProperty {
            logical_id: "Queue".into(),
            resource_type: "AWS::SQS::Queue".into(),
            status: "MODIFIED".into(),
            property: Some("VisibilityTimeout".into()),
            actual: Some("60".into()),
            previous: Some("30".into()),
        }];
        alarms.change_set = Some(ChangeSetRef {
            name: "cfn-chatops-d3adb33".into(),
            arn: Some("arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/y".into()),
            stack_id: None,
            change_set_type: "UPDATE".into(),
            drift_aware: true,
            executable: true,
            template_url: None,
            deleted: false,
        });
        let mut worker = stack("worker", Classification::Failed);
        worker.reason = Some("Template format error: ''bold'' [[x>http://evil]]".into());
        PlanReport {
            commit_message: Some("**Merge** <b>#57</b> [x](http://evil) @all".into()),
            author: Some("Aiko".into()),
            cards: vec![CardDelivery {
                id: "a".into(),
                title: "t".into(),
                delivered: true,
                message_id: None,
                error: None,
            }],
            ..sample_report(vec![alarms, worker])
        }
    }

    #[test]
    fn markdown_plan_comment_lists_every_stack_and_keeps_untrusted_text_inert() {
        let text = plan_comment(&report(), TextFormat::Markdown, &links());
        assert!(
            text.starts_with("### CloudFormation plan · INFRA/cfn-templates · commit d3adb33"),
            "{text}"
        );
        assert!(text.contains("[d3adb33](https://x.backlog.com/git/INFRA/cfn-templates/commit/d3adb33fc0ffee00112233445566778899aabbcc)"));
        assert!(text.contains("- **alarms** (us-east-1): changes that overwrite drift `+1 ~0 -1` · ⚠ 1 destructive · UPDATE change set `cfn-chatops-d3adb33`"), "{text}");
        assert!(
            text.contains("  - ⚠ Remove `OldTopic` AWS::SNS::Topic: removes the resource"),
            "{text}"
        );
        assert!(
            text.contains(
                "  - drift MODIFIED `Queue` `VisibilityTimeout`: live `60` will become `30`"
            ),
            "{text}"
        );
        assert!(text.contains("- **worker** (us-east-1): FAILED · Template format error"));
        assert!(text.contains("Slack: 1 card(s) delivered."));
        assert!(text.contains("1 change set(s) wait for review"));
        assert!(!text.contains("could not be deleted"));
        assert!(text.ends_with(&format!("<sub>cfn-chatops:plan:{SHA}</sub>")));
        // Blocked, but its delete failed: never counted as waiting for review.
        let mut kept = report();
        kept.stacks[0].classification = Classification::Blocked;
        let kept = plan_comment(&kept, TextFormat::Markdown, &links());
        assert!(!kept.contains("wait for review"), "{kept}");
        assert!(
            kept.contains(
                "1 blocked change set(s) could not be deleted: delete them, do not execute them."
            ),
            "{kept}"
        );
        // The commit message cannot bold, link or mention.
        assert!(
            text.contains("\\*\\*Merge\\*\\* \\<b\\>\\#57\\</b\\> \\[x\\](http:"),
            "{text}"
        );
        assert!(text.contains("\\@all"));
    }

    #[test]
    fn each_stack_section_starts_with_its_verdict() {
        use crate::model::verdict::{Finding, Source, Verdict};
        let finding = |rule: &str, level, waived: Option<&str>| Finding {
            rule: rule.into(),
            resource: Some("WorkerRole (AWS::IAM::Role)".into()),
            message: "gains s3:* on *".into(),
            source: Source::Guard,
            level,
            waived: waived.map(str::to_owned),
        };
        let mut report = report();
        report.stacks[0].verdict = Some(Verdict::new(
            vec![
                finding("IAM_NO_WILDCARDS", Level::Review, None),
                finding("S3_ENCRYPTED", Level::Blocked, Some("public assets")),
                finding("data-loss", Level::Ok, None),
            ],
            12,
            vec!["hooks: not available at this endpoint".into()],
        ));
        let text = plan_comment(&report, TextFormat::Markdown, &links());
        let section: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("- **alarms**"))
            .collect();
        assert_eq!(
            section[1],
            "  - ⚠️ **Review:** IAM\\_NO\\_WILDCARDS (guard) — WorkerRole (AWS::IAM::Role): gains s3:\\* on \\*",
            "{text}"
        );
        assert_eq!(
            section[2], "    - not checked: hooks: not available at this endpoint",
            "said once, under the headline"
        );
        assert_eq!(
            section[3],
            "    - **waived:** S3\\_ENCRYPTED (guard) — WorkerRole (AWS::IAM::Role): gains s3:\\* on \\* (public assets)"
        );
        assert!(
            section[4].starts_with("    - note: data-loss (guard)"),
            "{}",
            section[4]
        );
        assert_eq!(text.matches("not checked").count(), 1, "{text}");

        // Ok, with what was not checked and what was waived: never more certain than that.
        let waived_only = Verdict::new(
            vec![finding(
                "S3_ENCRYPTED",
                Level::Blocked,
                Some("public assets"),
            )],
            7,
            vec!["hooks: not available at this endpoint".into()],
        );
        report.stacks[0].verdict = Some(waived_only);
        let text = plan_comment(&report, TextFormat::Markdown, &links());
        assert!(
            text.contains("  - ✅ No risks left by 7 rules: 1 waived\n    - not checked: hooks"),
            "{text}"
        );

        report.stacks[0].verdict = Some(Verdict::new(vec![], 7, vec![]));
        let text = plan_comment(&report, TextFormat::Markdown, &links());
        assert!(text.contains("  - ✅ No risks found by 7 rules"), "{text}");
    }

    #[test]
    fn backlog_notation_plan_comment_uses_notation_and_breaks_markup() {
        let text = plan_comment(&report(), TextFormat::Backlog, &links());
        assert!(
            text.starts_with("** CloudFormation plan · INFRA/cfn-templates · commit d3adb33"),
            "{text}"
        );
        assert!(text.contains("[[d3adb33>https://x.backlog.com/git/INFRA/cfn-templates/commit/"));
        assert!(text.contains("- ''alarms'' (us-east-1): changes that overwrite drift +1 ~0 -1 · ⚠ 1 destructive · UPDATE change set cfn-chatops-d3adb33"), "{text}");
        assert!(text.contains("-- ⚠ Remove OldTopic AWS::SNS::Topic: removes the resource"));
        // The failure reason's markup is broken, not rendered.
        assert!(
            !text.contains("''bold''") && !text.contains("[[x>"),
            "{text}"
        );
        assert!(text.contains("'\u{200B}'bold'\u{200B}'"));
        // Runs of three are broken too.
        let mut tripled = report();
        tripled.stacks[1].reason = Some("'''x''' [[[A>http://evil/]]] %%%s%%%".into());
        let text = plan_comment(&tripled, TextFormat::Backlog, &Links::default());
        let reason = text
            .split("FAILED · ")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap();
        for markup in ["''", "[[", "]]", "%%"] {
            assert!(!reason.contains(markup), "{markup}: {reason}");
        }
        assert!(text.ends_with(&format!("\ncfn-chatops:plan:{SHA}")));
    }

    #[test]
    fn cloudformation_warnings_come_first_in_the_stack_details() {
        let mut warned = report();
        warned.stacks[0].warnings = vec![
            "[WARN] ChangeSet creation failed for resource [MyFoo] because: No export named ''x''"
                .into(),
        ];
        let text = plan_comment(&warned, TextFormat::Markdown, &links());
        let details: Vec<_> = text
            .lines()
            .skip_while(|line| !line.starts_with("- **alarms**"))
            .skip(1)
            .collect();
        assert_eq!(
            details[0],
            "  - ⚠ **CloudFormation warns:** \\[WARN\\] ChangeSet creation failed for resource \\[MyFoo\\] because: No export named ''x''",
            "{text}"
        );
        assert!(details[1].contains("Remove `OldTopic`"), "{text}");
        let notation = plan_comment(&warned, TextFormat::Backlog, &links());
        assert!(
            notation.contains("-- ⚠ ''CloudFormation warns:'' [WARN]"),
            "{notation}"
        );
        assert!(
            !notation.contains("''x''"),
            "markup in the warning is broken: {notation}"
        );
    }

    #[test]
    fn the_comment_carries_every_change_with_its_values() {
        let mut plan = report();
        plan.stacks[0].changes[0].properties = vec![crate::model::report::PropertyChange {
            attribute: "Properties".into(),
            name: Some("TopicName".into()),
            requires_recreation: Some("Always".into()),
            change_source: Some("ParameterReference".into()),
            causing_entity: Some("Env".into()),
            before: Some("orders-dev".into()),
            after: Some("orders-prod".into()),
        }];
        let text = plan_comment(&plan, TextFormat::Markdown, &links());
        let lines: Vec<_> = text.lines().collect();
        let added = lines
            .iter()
            .position(|l| *l == "  - Add `NewTopic` AWS::SNS::Topic")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            lines[added + 1],
            "    - `TopicName`: `orders-dev` → `orders-prod` (forces replacement), because parameter Env changed"
        );
        assert!(text.contains("  - parameters changed: `Env`"), "{text}");
        let removed = lines
            .iter()
            .position(|l| l.contains("Remove `OldTopic`"))
            .unwrap();
        assert!(removed < added, "destructive first: {text}");
    }

    #[test]
    fn the_comment_says_what_the_bot_decided() {
        let mut plan = report();
        let alarms = &mut plan.stacks[0];
        alarms.capabilities = vec!["CAPABILITY_NAMED_IAM".into()];
        alarms.parameters = vec![crate::model::report::ParameterValue {
            key: "DbPassword".into(),
            value: "****".into(),
        }];
        if let Some(change_set) = alarms.change_set.as_mut() {
            change_set.change_set_type = "CREATE".into();
        }
        alarms.renamed_from = Some("stacks/old.yaml".into());
        let text = plan_comment(&plan, TextFormat::Markdown, &links());
        for line in [
            "  - new stack `alarms` will be created",
            "  - ⚠ renamed from `stacks/old.yaml`: this creates a new stack with new resources; the stack of the old name keeps its own (delete it deliberately)",
            "  - acknowledges `CAPABILITY_NAMED_IAM`",
            "  - parameters `DbPassword`=`****`",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[test]
    fn long_plans_are_cut_with_a_visible_count_never_rejected() {
        let mut report = report();
        let big = &mut report.stacks[0];
        big.changes = (0..500)
            .map(|i| sample_change("Remove", &format!("Topic{i}"), Some("removes the resource")))
            .collect();
        let text = plan_comment(&report, TextFormat::Markdown, &Links::default());
        assert!(
            text.contains(&format!(
                "…{} more ({} destructive)",
                500 + 1 - DETAILS_PER_STACK,
                500 - DETAILS_PER_STACK
            )),
            "{text}"
        );
        report.stacks = (0..2_000)
            .map(|i| {
                let mut s = stack(
                    &format!("stack-{i:04}-with-a-long-name"),
                    Classification::Failed,
                );
                s.reason = Some("x".repeat(300));
                s
            })
            .collect();
        for format in [TextFormat::Markdown, TextFormat::Backlog] {
            let text = plan_comment(&report, format, &Links::default());
            assert!(text.len() <= COMMENT_MAX, "{}", text.len());
            assert!(text.contains(" more line(s)"), "{format:?}");
            assert!(
                text.trim_end().ends_with(&plan_marker(&report).to_string())
                    || text.contains(&plan_marker(&report))
            );
        }
    }

    fn preview_of(mut report: PlanReport) -> PlanReport {
        report.preview = Some(crate::model::report::Preview {
            into: "main".into(),
            slack: PreviewSlack::Risky,
            withheld: None,
            slack_quiet: true,
        });
        report.base = Some("4b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c".into());
        report.cards.clear();
        for change_set in report
            .stacks
            .iter_mut()
            .filter_map(|s| s.change_set.as_mut())
        {
            change_set.deleted = true;
            change_set.executable = false;
        }
        report
    }

    #[test]
    fn a_preview_comment_says_first_that_nothing_can_be_executed_in_both_formats() {
        use crate::model::verdict::{Finding, Source, Verdict};
        let mut report = preview_of(report());
        report.stacks[0].verdict = Some(Verdict::new(
            vec![Finding {
                rule: "data-loss".into(),
                resource: Some("OldTopic (AWS::SNS::Topic)".into()),
                message: "removed".into(),
                source: Source::Builtin,
                level: Level::Blocked,
                waived: None,
            }],
            7,
            vec![],
        ));
        let markdown = plan_comment(&report, TextFormat::Markdown, &links());
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(
            lines[0],
            "### Preview of d3adb33: nothing can be executed from a preview"
        );
        assert!(
            lines[1].starts_with("CloudFormation preview of INFRA/cfn-templates: the real change set is created after the merge into `main`"),
            "{markdown}"
        );
        assert!(
            lines[2].ends_with("Compared with `4b1f0c2` on `main`"),
            "{markdown}"
        );
        // The deleted change set is not named: nobody should go looking for it.
        assert!(markdown.contains("· UPDATE preview"), "{markdown}");
        assert!(!markdown.contains("cfn-chatops-d3adb33"), "{markdown}");
        assert!(!markdown.contains("wait for review"), "{markdown}");
        assert!(markdown.contains("**Do not merge as is:** 1 stack(s) would be blocked by the safety verdict after the merge"), "{markdown}");
        assert!(
            markdown.contains("Slack: no card (`preview.slack: risky` sends only removals"),
            "{markdown}"
        );
        assert!(
            markdown.contains("Nothing was deployed, and no change set of this preview was kept.")
        );
        assert!(markdown.ends_with(&format!("<sub>cfn-chatops:preview:pr-57:{SHA}</sub>")));
        assert_eq!(
            super::super::previewed_head(&markdown, 57).as_deref(),
            Some(SHA)
        );
        assert_eq!(
            super::super::previewed_head(&markdown, 5),
            None,
            "pull request 5 is not 57"
        );

        let notation = plan_comment(&report, TextFormat::Backlog, &links());
        assert!(
            notation.starts_with(&format!("** Preview of d3adb33: nothing can be executed from a preview\nCloudFormation preview of INFRA/cfn-templates: the real change set is created after the merge into main, and reviewed again then. This comment is updated on every push.\nCommit [[d3adb33>https://x.backlog.com/git/INFRA/cfn-templates/commit/{SHA}]] on main")),
            "{notation}"
        );
        assert!(notation.ends_with(&format!("cfn-chatops:preview:pr-57:{SHA}")));

        // A change set whose delete failed is named, and nothing claims it is gone.
        report.stacks[0].change_set.as_mut().unwrap().deleted = false;
        let kept = plan_comment(&report, TextFormat::Markdown, &links());
        assert!(
            kept.contains("UPDATE change set `cfn-chatops-d3adb33`"),
            "{kept}"
        );
        assert!(kept.contains("**Warning:** 1 preview change set(s) could not be deleted: delete them, never execute them."), "{kept}");
        assert!(
            !kept.contains("no change set of this preview was kept"),
            "{kept}"
        );
    }

    #[test]
    fn a_merge_plan_names_the_last_preview_and_says_when_its_head_was_not_merged() {
        let mut report = report();
        report.previewed = Some(crate::model::report::Previewed {
            head: "7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b".into(),
            merged: Some(true),
        });
        let text = plan_comment(&report, TextFormat::Markdown, &links());
        assert!(text.contains("Previewed before the merge at [7e6d5c4](https://x.backlog.com/git/INFRA/cfn-templates/commit/7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b) (the preview comment on this pull request).\n"), "{text}");
        report.previewed.as_mut().unwrap().merged = None;
        let unknown = plan_comment(&report, TextFormat::Markdown, &links());
        assert!(
            !unknown.contains("not the one previewed"),
            "git could not tell: {unknown}"
        );
        report.previewed.as_mut().unwrap().merged = Some(false);
        let text = plan_comment(&report, TextFormat::Markdown, &links());
        assert!(text.contains("The merged head is not the one previewed: this plan, not the preview, is what Execute deploys."), "{text}");
    }
}
