//! The bot's pull request comments: rendered (pure) in the project's text format, Markdown or
//! Backlog notation, and posted so that the same plan or event never comments twice.

use std::collections::HashMap;

use tokio::sync::{Mutex, OnceCell};

use super::api::{BacklogClient, BacklogError, TextFormat};
use crate::outcome::{Outcome, OutcomeKind, duration_text};
use crate::plan::report::{
    Classification, CommentDelivery, CommentStatus, PlanReport, StackPlan, short,
};
use crate::text::{clip, one_line};

/// Longest comment the bot writes. Backlog documents no limit; reviewers read short comments.
pub const COMMENT_MAX: usize = 20_000;
/// Detail lines (destructive changes, drift) shown per stack before "…N more".
pub const DETAILS_PER_STACK: usize = 15;

/// Markdown or Backlog notation, with untrusted text made inert in either.
struct Writer {
    format: TextFormat,
    lines: Vec<String>,
}

impl Writer {
    fn new(format: TextFormat) -> Self {
        Self {
            format,
            lines: Vec::new(),
        }
    }

    fn heading(&mut self, text: &str) {
        let mark = match self.format {
            TextFormat::Markdown => "###",
            TextFormat::Backlog => "**",
        };
        self.lines.push(format!("{mark} {text}"));
    }

    fn line(&mut self, text: String) {
        self.lines.push(text);
    }

    fn item(&mut self, depth: usize, text: String) {
        let line = match self.format {
            TextFormat::Markdown => format!("{}- {text}", "  ".repeat(depth)),
            TextFormat::Backlog => format!("{} {text}", "-".repeat(depth + 1)),
        };
        self.lines.push(line);
    }

    fn bold(&self, text: &str) -> String {
        match self.format {
            TextFormat::Markdown => format!("**{}**", self.text(text)),
            TextFormat::Backlog => format!("''{}''", self.text(text)),
        }
    }

    /// A value (name, id, commit): inline code in Markdown; Backlog notation has none.
    fn value(&self, text: &str) -> String {
        let text = one_line(text);
        match self.format {
            TextFormat::Markdown => format!("`{}`", text.replace('`', "'")),
            TextFormat::Backlog => self.text(&text),
        }
    }

    fn link(&self, url: &str, label: &str) -> String {
        match self.format {
            TextFormat::Markdown => format!("[{}]({url})", self.text(label)),
            TextFormat::Backlog => format!("[[{}>{url}]]", self.text(label).replace('>', "›")),
        }
    }

    /// Untrusted text on one line, unable to format, link or quote.
    fn text(&self, text: &str) -> String {
        let text = one_line(text);
        match self.format {
            TextFormat::Markdown => {
                let mut escaped = String::with_capacity(text.len());
                for c in text.chars() {
                    if "\\`*_{}[]<>#|~!@".contains(c) {
                        escaped.push('\\');
                    }
                    escaped.push(c);
                }
                escaped
            }
            // Notation has no escape: break every markup sequence with a zero-width space.
            TextFormat::Backlog => {
                let mut text = text;
                for markup in [
                    "''",
                    "%%",
                    "[[",
                    "]]",
                    "{code",
                    "{quote",
                    "{/",
                    "&color",
                    "&br",
                    "#image",
                    "#thumbnail",
                    "#attach",
                    "#contents",
                    "#rev",
                    "##",
                ] {
                    let mut chars = markup.chars();
                    let first = chars.next().unwrap_or_default();
                    let broken = format!("{first}\u{200B}{}", chars.as_str());
                    // Until none is left: `'''` or `[[[` still hold a pair after one pass.
                    while text.contains(markup) {
                        text = text.replace(markup, &broken);
                    }
                }
                // Never at the start of a line (each line starts with the bot's own markup),
                // so list, heading and quote marks need no breaking.
                text
            }
        }
    }

    /// Joins the lines, cutting whole lines with a visible "…N more" so the marker (the last
    /// line) always survives.
    fn finish(self, marker: &str, max: usize) -> String {
        let marker_line = match self.format {
            TextFormat::Markdown => format!("<sub>{marker}</sub>"),
            TextFormat::Backlog => marker.to_string(),
        };
        let budget = max.saturating_sub(marker_line.len() + 120);
        let mut kept = Vec::new();
        let mut used = 0;
        for (index, line) in self.lines.iter().enumerate() {
            if used + line.len() + 1 > budget {
                kept.push(format!(
                    "…{} more line(s): see the Slack thread or `aws cloudformation describe-change-set`",
                    self.lines.len() - index
                ));
                break;
            }
            used += line.len() + 1;
            kept.push(line.clone());
        }
        kept.push(String::new());
        kept.push(marker_line);
        kept.join("\n")
    }
}

/// Identifies the bot's comment for one plan (the pushed commit), so a re-run updates it.
pub fn plan_marker(report: &PlanReport) -> String {
    format!("cfn-chatops:plan:{}", report.after)
}

/// Identifies the bot's comment for one EventBridge event.
pub fn event_marker(event_id: &str) -> String {
    let id: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(100)
        .collect();
    format!("cfn-chatops:event:{id}")
}

/// The plan comment: every stack with its class, counts, destructive changes, drift, failure
/// and change set, and whether the Slack cards were delivered.
pub fn plan_comment(report: &PlanReport, format: TextFormat, space_url: Option<&str>) -> String {
    let mut w = Writer::new(format);
    let repository = match (&report.project, &report.repository) {
        (Some(project), Some(repository)) => format!("{project}/{repository}"),
        _ => "repository".into(),
    };
    w.heading(&format!(
        "CloudFormation plan · {} · commit {}",
        w.text(&repository),
        w.text(&short(&report.after))
    ));
    let commit = match (space_url, &report.project, &report.repository) {
        (Some(space), Some(project), Some(repository)) if is_plain_url(space) => w.link(
            &format!(
                "{}/git/{}/{}/commit/{}",
                space.trim_end_matches('/'),
                url_segment(project),
                url_segment(repository),
                url_segment(&report.after)
            ),
            &short(&report.after),
        ),
        _ => w.value(&short(&report.after)),
    };
    let mut origin = format!("Commit {commit} on {}", w.value(&report.branch));
    if let Some(message) = &report.commit_message {
        origin.push_str(&format!(": {}", w.text(&clip(message, 200))));
    }
    if let Some(author) = &report.author {
        origin.push_str(&format!(" ({})", w.text(&clip(author, 80))));
    }
    w.line(origin);
    w.line(String::new());
    if report.stacks.is_empty() {
        w.line("No stack was touched by this push.".into());
    }
    for stack in &report.stacks {
        stack_lines(&mut w, stack);
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
    let executable = report
        .stacks
        .iter()
        .filter(|stack| stack.change_set.as_ref().is_some_and(|cs| cs.executable))
        .count();
    let delivered = report.notifications.iter().filter(|n| n.delivered).count();
    let slack = if report.notifications.is_empty() {
        "Slack: not configured, no cards sent.".to_string()
    } else if delivered == report.notifications.len() {
        format!("Slack: {delivered} card(s) delivered.")
    } else {
        format!(
            "Slack: {} of {} card(s) NOT delivered; run `aws cloudformation describe-change-set` to review.",
            report.notifications.len() - delivered,
            report.notifications.len()
        )
    };
    w.line(slack);
    if executable > 0 {
        w.line(format!(
            "{executable} change set(s) wait for review: Execute or Discard them from the Slack card. Nothing is deployed until someone does."
        ));
    }
    w.finish(&plan_marker(report), COMMENT_MAX)
}

fn stack_lines(w: &mut Writer, stack: &StackPlan) {
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
    }
    if let Some(change_set) = &stack.change_set {
        line.push_str(&format!(
            " · {} change set {}",
            change_set.change_set_type,
            w.value(&change_set.name)
        ));
    }
    if let Some(reason) = &stack.reason {
        line.push_str(&format!(" · {}", w.text(&clip(reason, 400))));
    }
    w.item(0, line);
    let mut details: Vec<String> = stack
        .changes
        .iter()
        .filter_map(|change| {
            let why = change.destructive.as_deref()?;
            Some(format!(
                "⚠ {} {} {}: {}",
                w.text(&change.action),
                w.value(&change.logical_id),
                w.text(&change.resource_type),
                w.text(&clip(why, 300))
            ))
        })
        .collect();
    details.extend(stack.drift.iter().map(|drift| {
        format!(
            "drift {} {} {}: live {} will become {}",
            w.text(&drift.status),
            w.value(&drift.logical_id),
            w.value(drift.property.as_deref().unwrap_or("(resource)")),
            w.value(&clip(drift.actual.as_deref().unwrap_or("?"), 120)),
            w.value(&clip(drift.previous.as_deref().unwrap_or("?"), 120))
        )
    }));
    details.extend(
        stack
            .superseded
            .iter()
            .map(|name| format!("superseded and deleted {}", w.value(name))),
    );
    details.extend(
        stack
            .notes
            .iter()
            .map(|note| format!("note: {}", w.text(&clip(note, 300)))),
    );
    let total = details.len();
    for detail in details.into_iter().take(DETAILS_PER_STACK) {
        w.item(1, detail);
    }
    if total > DETAILS_PER_STACK {
        w.item(1, format!("…{} more", total - DETAILS_PER_STACK));
    }
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

/// An outcome: what happened, to which change set, who did it and how long it took.
pub fn outcome_comment(outcome: &Outcome, format: TextFormat) -> String {
    let mut w = Writer::new(format);
    let stack = format!("{} ({})", w.text(&outcome.stack), w.text(&outcome.region));
    let by = outcome
        .actor
        .as_ref()
        .map(|actor| format!(" by {}", w.text(&actor.to_string())))
        .unwrap_or_default();
    let took = outcome
        .duration_seconds
        .map(|seconds| format!(" in {}", duration_text(seconds)))
        .unwrap_or_default();
    let status = outcome
        .stack_status
        .as_deref()
        .map(|status| format!(" ({})", w.text(status)))
        .unwrap_or_default();
    let headline = match &outcome.kind {
        OutcomeKind::Executed => format!("✅ {stack}: deployed{status}{took}"),
        OutcomeKind::RolledBack => {
            format!("↩️ {stack}: execution failed and rolled back{status}{took}")
        }
        OutcomeKind::ExecutionFailed => format!("❌ {stack}: execution FAILED{status}{took}"),
        OutcomeKind::ExecutionStarted => format!("▶️ {stack}: execution started{by}"),
        OutcomeKind::Discarded => format!("🗑️ {stack}: change set discarded{by}"),
        OutcomeKind::Refused { action, .. } => {
            format!(
                "⚠️ {stack}: {} refused by CloudFormation{by}",
                w.text(action)
            )
        }
    };
    w.heading(&headline);
    let mut detail = format!(
        "Change set {} from commit {}",
        w.value(&outcome.change_set),
        w.value(&short(&outcome.commit))
    );
    if !matches!(
        outcome.kind,
        OutcomeKind::ExecutionStarted | OutcomeKind::Discarded | OutcomeKind::Refused { .. }
    ) && !by.is_empty()
    {
        detail.push_str(&format!(", executed{by}"));
    }
    w.line(detail);
    if let OutcomeKind::Refused { code, message, .. } = &outcome.kind {
        w.line(format!(
            "{}: {}",
            w.value(code),
            w.text(&clip(message, 500))
        ));
    }
    if let Some(reason) = &outcome.reason {
        w.line(format!("Reason: {}", w.text(&clip(reason, 1_000))));
    }
    if matches!(
        outcome.kind,
        OutcomeKind::RolledBack | OutcomeKind::ExecutionFailed
    ) {
        w.line(format!(
            "See `aws cloudformation describe-stack-events --stack-name {}` for the failing resource.",
            one_line(&outcome.stack).replace('`', "'")
        ));
    }
    w.finish(&event_marker(&outcome.event_id), COMMENT_MAX)
}

fn is_plain_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()[]<>\"'`".contains(&b))
}

/// Names from the report go into a URL path: anything unusual is percent-encoded.
fn url_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Comments through one client, with what every comment needs cached for the process: the
/// bot's own user id (only its comments are edited) and each project's text format.
pub struct Commenter {
    pub client: BacklogClient,
    myself: OnceCell<u64>,
    formats: Mutex<HashMap<String, TextFormat>>,
}

/// Comments searched for the bot's marker: the newest ones, where a re-run's comment is.
const SEARCHED_PAGES: usize = 3;

impl Commenter {
    pub fn new(client: BacklogClient) -> Self {
        Self {
            client,
            myself: OnceCell::new(),
            formats: Mutex::new(HashMap::new()),
        }
    }

    pub async fn text_format(&self, project: &str) -> Result<TextFormat, BacklogError> {
        if let Some(format) = self.formats.lock().await.get(project) {
            return Ok(*format);
        }
        let format = self.client.project(project).await?.text_format();
        self.formats
            .lock()
            .await
            .insert(project.to_string(), format);
        Ok(format)
    }

    async fn myself(&self) -> Result<u64, BacklogError> {
        self.myself
            .get_or_try_init(|| async { self.client.myself().await.map(|user| user.id) })
            .await
            .copied()
    }

    /// Comments the plan on its pull request: added, or updated when this commit's plan was
    /// commented before. Never fails: what went wrong is in the delivery.
    pub async fn comment_plan(&self, report: &PlanReport) -> CommentDelivery {
        let (Some(pr), Some(project), Some(repository)) =
            (report.pr, &report.project, &report.repository)
        else {
            return CommentDelivery {
                pr: None,
                status: CommentStatus::Skipped,
                comment_id: None,
                detail: Some("no pull request: a direct push, Slack only".into()),
            };
        };
        let format = match self.text_format(project).await {
            Ok(format) => format,
            Err(err) => return CommentDelivery::failed(Some(pr), err.to_string()),
        };
        let content = plan_comment(report, format, Some(self.client.space_url()));
        self.upsert(project, repository, pr, &plan_marker(report), &content)
            .await
            .unwrap_or_else(|err| CommentDelivery::failed(Some(pr), err.to_string()))
    }

    /// The bot's own comment carrying `marker`, if any.
    async fn find(
        &self,
        project: &str,
        repository: &str,
        pr: u64,
        marker: &str,
    ) -> Result<Option<u64>, BacklogError> {
        let myself = self.myself().await?;
        let mut max_id = None;
        for _ in 0..SEARCHED_PAGES {
            let page = self
                .client
                .comments(project, repository, pr, max_id, 100)
                .await?;
            if let Some(found) = page.iter().find(|comment| {
                comment.created_user.id == myself
                    && comment
                        .content
                        .as_deref()
                        .is_some_and(|content| content.contains(marker))
            }) {
                return Ok(Some(found.id));
            }
            match page.iter().map(|comment| comment.id).min() {
                Some(oldest) if page.len() == 100 && oldest > 1 => max_id = Some(oldest - 1),
                _ => break,
            }
        }
        Ok(None)
    }

    /// Updates the bot's comment with this marker, or adds one. A POST that failed with a
    /// server error may still have landed, so the next try looks for the marker again first.
    pub async fn upsert(
        &self,
        project: &str,
        repository: &str,
        pr: u64,
        marker: &str,
        content: &str,
    ) -> Result<CommentDelivery, BacklogError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let result = match self.find(project, repository, pr, marker).await? {
                Some(id) => self
                    .client
                    .update_comment(project, repository, pr, id, content)
                    .await
                    .map(|comment| (CommentStatus::Updated, comment.id)),
                None => self
                    .client
                    .add_comment(project, repository, pr, content)
                    .await
                    .map(|comment| (CommentStatus::Added, comment.id)),
            };
            match result {
                Ok((status, id)) => {
                    tracing::info!(pr, comment_id = id, ?status, "backlog comment");
                    return Ok(CommentDelivery {
                        pr: Some(pr),
                        status,
                        comment_id: Some(id),
                        detail: None,
                    });
                }
                Err(err) if err.is_retryable() && tries < 3 => {
                    tracing::warn!(pr, error = %err, "backlog comment retried");
                }
                Err(err) => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Actor;
    use crate::plan::report::{
        ActionCounts, ChangeSetRef, DriftedProperty, NotificationDelivery, StackPlan,
        sample_change, sample_report,
    };

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

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
        });
        let mut worker = stack("worker", Classification::Failed);
        worker.reason = Some("Template format error: ''bold'' [[x>http://evil]]".into());
        PlanReport {
            commit_message: Some("**Merge** <b>#57</b> [x](http://evil) @all".into()),
            author: Some("Aiko".into()),
            notifications: vec![NotificationDelivery {
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
        let text = plan_comment(
            &report(),
            TextFormat::Markdown,
            Some("https://x.backlog.com"),
        );
        assert!(
            text.starts_with("### CloudFormation plan · INFRA/cfn-templates · commit d3adb33"),
            "{text}"
        );
        assert!(text.contains("[d3adb33](https://x.backlog.com/git/INFRA/cfn-templates/commit/d3adb33fc0ffee00112233445566778899aabbcc)"));
        assert!(text.contains("- **alarms** (us-east-1): changes that overwrite drift `+1 ~0 -1` · UPDATE change set `cfn-chatops-d3adb33`"), "{text}");
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
        assert!(text.ends_with(&format!("<sub>cfn-chatops:plan:{SHA}</sub>")));
        // The commit message cannot bold, link or mention.
        assert!(
            text.contains("\\*\\*Merge\\*\\* \\<b\\>\\#57\\</b\\> \\[x\\](http:"),
            "{text}"
        );
        assert!(text.contains("\\@all"));
    }

    #[test]
    fn backlog_notation_plan_comment_uses_notation_and_breaks_markup() {
        let text = plan_comment(
            &report(),
            TextFormat::Backlog,
            Some("https://x.backlog.com"),
        );
        assert!(
            text.starts_with("** CloudFormation plan · INFRA/cfn-templates · commit d3adb33"),
            "{text}"
        );
        assert!(text.contains("[[d3adb33>https://x.backlog.com/git/INFRA/cfn-templates/commit/"));
        assert!(text.contains("- ''alarms'' (us-east-1): changes that overwrite drift +1 ~0 -1 · UPDATE change set cfn-chatops-d3adb33"), "{text}");
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
        let text = plan_comment(&tripled, TextFormat::Backlog, None);
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
    fn long_plans_are_cut_with_a_visible_count_never_rejected() {
        let mut report = report();
        let big = &mut report.stacks[0];
        big.changes = (0..500)
            .map(|i| sample_change("Remove", &format!("Topic{i}"), Some("removes the resource")))
            .collect();
        let text = plan_comment(&report, TextFormat::Markdown, None);
        assert!(
            text.contains(&format!("…{} more", 500 + 1 - DETAILS_PER_STACK)),
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
            let text = plan_comment(&report, format, None);
            assert!(text.len() <= COMMENT_MAX, "{}", text.len());
            assert!(text.contains(" more line(s)"), "{format:?}");
            assert!(
                text.trim_end().ends_with(&plan_marker(&report).to_string())
                    || text.contains(&plan_marker(&report))
            );
        }
    }

    #[test]
    fn outcome_comments_say_what_happened_and_who_did_it() {
        let outcome = Outcome {
            event_id: "e7a5c3b2-1111".into(),
            kind: OutcomeKind::Executed,
            stack: "alarms".into(),
            region: "us-east-1".into(),
            change_set: "cfn-chatops-d3adb33".into(),
            commit: SHA.into(),
            project: Some("INFRA".into()),
            repository: Some("cfn-templates".into()),
            pr: Some(57),
            stack_status: Some("UPDATE_COMPLETE".into()),
            reason: None,
            actor: Some(Actor::SlackUser("U0123ABC".into())),
            duration_seconds: Some(125),
        };
        let text = outcome_comment(&outcome, TextFormat::Markdown);
        assert!(
            text.starts_with(
                "### ✅ alarms (us-east-1): deployed (UPDATE\\_COMPLETE) in 2 min 5 s"
            ),
            "{text}"
        );
        assert!(text.contains("Change set `cfn-chatops-d3adb33` from commit `d3adb33`, executed by Slack user U0123ABC"));
        assert!(text.ends_with("<sub>cfn-chatops:event:e7a5c3b2-1111</sub>"));
        let refused = Outcome {
            kind: OutcomeKind::Refused {
                action: "ExecuteChangeSet".into(),
                code: "ChangeSetNotFound".into(),
                message: "ChangeSet [x] does not exist".into(),
            },
            stack_status: None,
            duration_seconds: None,
            ..outcome
        };
        let text = outcome_comment(&refused, TextFormat::Backlog);
        assert!(text.starts_with("** ⚠️ alarms (us-east-1): ExecuteChangeSet refused by CloudFormation by Slack user U0123ABC"), "{text}");
        assert!(text.contains("ChangeSetNotFound: ChangeSet [x] does not exist"));
    }
}
